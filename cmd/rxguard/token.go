package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/tlsreload"
)

// cmdToken is `rxguard token new -role ROLE -name NAME`: a new random
// bearer token, printed once, and the token-file line that grants it.
func cmdToken(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return usageError{"token needs a subcommand: new"}
	}
	fs := flag.NewFlagSet("token new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "role(s) of the token: his, audit, admin (comma-separated for several)")
	name := fs.String("name", "", "who holds the token (logs and metrics name it), e.g. HIS-1")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	if *role == "" || *name == "" || fs.NArg() != 0 {
		return usageError{"token new needs -role (his, audit, admin; comma-separated for several) and -name (who holds it, e.g. HIS-1)"}
	}
	roles, err := auth.ParseRoles(*role)
	if err != nil {
		return usageError{"-role: " + err.Error()}
	}
	token, line, err := auth.NewToken(roles, *name)
	if err != nil {
		return usageError{err.Error()}
	}
	fmt.Fprintf(stdout, "token  %s\nline   %s\n", token, line)
	fmt.Fprintln(stderr, "Give the token to its holder now: it is not stored anywhere. Add the line to the token file (security.token_file); running sidecars pick it up within security.reload_interval.")
	return nil
}

// Environment variables the command-line clients (check, log, bureau
// publish) read their credentials from.
const (
	envToken    = "RXGUARD_TOKEN"     // bearer token
	envCAFile   = "RXGUARD_CA_FILE"   // CA bundle verifying the server: TLS
	envCertFile = "RXGUARD_CERT_FILE" // client certificate (mutual TLS)
	envKeyFile  = "RXGUARD_KEY_FILE"
)

// clientDialOptions are a CLI's transport and credentials to addr, from
// the environment. A token is never sent in plaintext off loopback.
func clientDialOptions(addr string) ([]grpc.DialOption, error) {
	ca, cert, key := os.Getenv(envCAFile), os.Getenv(envCertFile), os.Getenv(envKeyFile)
	token := strings.TrimSpace(os.Getenv(envToken))
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	secure := ca != "" || cert != ""
	if secure {
		c, err := tlsreload.NewClient(tlsreload.ClientFiles{CAFile: ca, CertFile: cert, KeyFile: key}, tlsreload.Options{})
		if err != nil {
			return nil, fmt.Errorf("%s, %s, %s: %w", envCAFile, envCertFile, envKeyFile, err)
		}
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(c.Config()))
	}
	if token != "" {
		if !secure && !isLoopbackAddr(addr) {
			return nil, fmt.Errorf("%s is set but %s is not on loopback and %s is not: the token would cross the network in plaintext; set %s", envToken, addr, envCAFile, envCAFile)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	return opts, nil
}

// bearer sends "authorization: Bearer <token>" with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that loopback plaintext works;
// clientDialOptions refuses plaintext off loopback.
func (bearer) RequireTransportSecurity() bool { return false }

// clientHTTP is clientDialOptions for the HTTP listener (rxguard status):
// HTTPS when RXGUARD_CA_FILE or a client certificate is set, and the
// bearer token to send, never in plaintext off loopback.
func clientHTTP(addr string) (_ *http.Client, scheme, token string, _ error) {
	ca, cert, key := os.Getenv(envCAFile), os.Getenv(envCertFile), os.Getenv(envKeyFile)
	token = strings.TrimSpace(os.Getenv(envToken))
	if ca == "" && cert == "" {
		if token != "" && !isLoopbackAddr(addr) {
			return nil, "", "", fmt.Errorf("%s is set but %s is not on loopback and %s is not: the token would cross the network in plaintext; set %s", envToken, addr, envCAFile, envCAFile)
		}
		return http.DefaultClient, "http", token, nil
	}
	c, err := tlsreload.NewClient(tlsreload.ClientFiles{CAFile: ca, CertFile: cert, KeyFile: key}, tlsreload.Options{})
	if err != nil {
		return nil, "", "", fmt.Errorf("%s, %s, %s: %w", envCAFile, envCertFile, envKeyFile, err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: c.Config()}}, "https", token, nil
}

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/testpki"
)

// newTokenLine makes a token with `rxguard token new` and returns it with
// its token-file line.
func newTokenLine(t *testing.T, role, name string) (token, line string) {
	t.Helper()
	out := mustRun(t, "token", "new", "-role", role, "-name", name)
	for l := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(l, "token  "); ok {
			token = v
		}
		if v, ok := strings.CutPrefix(l, "line   "); ok {
			line = v
		}
	}
	if !strings.HasPrefix(token, auth.TokenPrefix) || !strings.HasSuffix(line, " "+role+" "+name) || strings.Contains(line, token) {
		t.Fatalf("token new printed %q", out)
	}
	return token, line
}

func TestNonLoopbackBindNeedsTLSAndAuthOrInsecure(t *testing.T) {
	ca := testpki.NewCA(t, "hospital CA")
	srv := ca.Server(t)
	_, line := newTokenLine(t, "his", "HIS-1")
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsOn := tlsConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile}
	for _, tc := range []struct {
		name       string
		grpc, http string
		sec        securityConfig
		err        string // "" starts
		warn       bool
	}{
		{"loopback plaintext is the default", "127.0.0.1:0", "127.0.0.1:0", securityConfig{}, "", false},
		{"gRPC on every interface, plaintext", "0.0.0.0:0", "off", securityConfig{},
			"grpc listener 0.0.0.0:0 is not on loopback and has no TLS (security.grpc.tls.cert_file and key_file) and no authentication", false},
		{"HTTP on every interface, plaintext", "127.0.0.1:0", "0.0.0.0:0", securityConfig{}, "security.http.insecure: true", false},
		{"TLS without authentication", "0.0.0.0:0", "off", securityConfig{GRPC: listenerSecurityConfig{TLS: tlsOn}}, "has no authentication", false},
		{"insecure: true starts with a warning", "0.0.0.0:0", "off", securityConfig{GRPC: listenerSecurityConfig{Insecure: true}}, "", true},
		{"TLS and tokens start quietly", "0.0.0.0:0", "off", securityConfig{TokenFile: tokens, GRPC: listenerSecurityConfig{TLS: tlsOn}}, "", false},
		{"auth off on the network needs insecure", "0.0.0.0:0", "off", securityConfig{TokenFile: tokens, GRPC: listenerSecurityConfig{TLS: tlsOn, Auth: "off"}}, "has no authentication", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr, cfg.Security = t.TempDir(), tc.grpc, tc.http, tc.sec
			cfg.DecisionLog.Disabled = true
			var logs bytes.Buffer
			sc, err := newSidecar(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.err != "" {
				if err == nil {
					sc.close()
					t.Fatalf("started; want an error containing %q", tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sc.close()
			if got := strings.Contains(logs.String(), "reachable from the network without"); got != tc.warn {
				t.Fatalf("warning logged: %v, want %v\n%s", got, tc.warn, logs.String())
			}
		})
	}
}

func TestSecurityConfigErrorsNameTheKey(t *testing.T) {
	ca := testpki.NewCA(t, "hospital CA")
	srv := ca.Server(t)
	for _, tc := range []struct {
		name string
		sec  securityConfig
		want string
	}{
		{"metrics role", securityConfig{MetricsRole: "root"}, "security.metrics_role: \"root\" is neither"},
		{"status role", securityConfig{StatusRole: "HIS"}, "security.status_role"},
		{"reload interval", securityConfig{ReloadInterval: "soon"}, "security.reload_interval: \"soon\""},
		{"certificate subject", securityConfig{Certificates: []certificateRoleConfig{{Subject: "HIS-1", Roles: []string{"his"}}}}, "security.certificates[0].subject"},
		{"certificate roles empty", securityConfig{Certificates: []certificateRoleConfig{{Subject: "cn:HIS-1"}}}, "security.certificates[0].roles: empty"},
		{"certificate role unknown", securityConfig{Certificates: []certificateRoleConfig{{Subject: "cn:HIS-1", Roles: []string{"root"}}}}, "security.certificates[0].roles: role \"root\""},
		{"token file missing", securityConfig{TokenFile: "/nonexistent/tokens"}, "security.token_file: token file"},
		{"auth required without credentials", securityConfig{GRPC: listenerSecurityConfig{Auth: "required"}}, "security.grpc.auth is required but no credentials"},
		{"auth value", securityConfig{HTTP: listenerSecurityConfig{Auth: "yes"}}, "security.http.auth \"yes\""},
		{"cert without key", securityConfig{GRPC: listenerSecurityConfig{TLS: tlsConfig{CertFile: srv.CertFile}}}, "security.grpc.tls: cert_file and key_file"},
		{"allow-list without CA", securityConfig{GRPC: listenerSecurityConfig{TLS: tlsConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, AllowedClients: []string{"cn:HIS-1"}}}}, "security.grpc.tls.allowed_clients needs security.grpc.tls.client_ca_file"},
		{"allow-list entry", securityConfig{GRPC: listenerSecurityConfig{TLS: tlsConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: ca.File, AllowedClients: []string{"cn:a", "x"}}}}, "security.grpc.tls.allowed_clients[1]"},
		{"unreadable key", securityConfig{HTTP: listenerSecurityConfig{TLS: tlsConfig{CertFile: srv.CertFile, KeyFile: srv.CertFile}}}, "security.http.tls: certificate pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sec.build("127.0.0.1:0", "127.0.0.1:0", slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// The section is strict like the rest of the file.
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(`{"security":{"grpc":{"tls":{"cert":"x"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "security.grpc.tls.cert: unknown key") {
		t.Fatalf("loadConfig: %v", err)
	}
}

// TestTokenFileRotationOnARunningSidecar: a token added to the file works
// and a token removed from it stops working, without a restart.
func TestTokenFileRotationOnARunningSidecar(t *testing.T) {
	oldTok, oldLine := newTokenLine(t, "his", "HIS-1")
	newTok, newLine := newTokenLine(t, "his", "HIS-1")
	auditTok, auditLine := newTokenLine(t, "audit", "yibaoban")
	tokens := filepath.Join(t.TempDir(), "tokens")
	write := func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(tokens+".new", []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tokens+".new", tokens); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // > reload_interval
	}
	write(oldLine, auditLine)
	cfg := defaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "off"
	cfg.Security = securityConfig{TokenFile: tokens, ReloadInterval: "10ms"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := newSidecar(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sc.run(ctx) }()
	defer func() { cancel(); <-done; sc.close() }()
	conn, err := grpc.NewClient(sc.grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	guard := rxguardv1.NewGuardServiceClient(conn)
	call := func(token string) codes.Code {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			_, err := guard.GetPhysicianStatus(ctx, &rxguardv1.GetPhysicianStatusRequest{PhysicianCode: "D001"})
			if c := status.Code(err); c != codes.Unavailable || time.Now().After(deadline) {
				return c // Unavailable: the release is still loading
			}
		}
	}
	authz := func(c codes.Code) bool { return c != codes.Unauthenticated && c != codes.PermissionDenied }
	if c := call(oldTok); !authz(c) {
		t.Fatalf("old token before rotation: %v", c)
	}
	if c := call(newTok); c != codes.Unauthenticated {
		t.Fatalf("new token before rotation: %v, want Unauthenticated", c)
	}
	if c := call(auditTok); c != codes.PermissionDenied {
		t.Fatalf("audit token on GuardService: %v, want PermissionDenied", c)
	}
	write(newLine, auditLine)
	if c := call(oldTok); c != codes.Unauthenticated {
		t.Fatalf("old token after rotation: %v, want Unauthenticated", c)
	}
	if c := call(newTok); !authz(c) {
		t.Fatalf("new token after rotation: %v", c)
	}
}

// The bureau link's client certificate is checked at start like a
// listener's: a certificate without its key, or a pair that does not
// load, stops the start with the keys to fix.
func TestBureauClientCertificateConfig(t *testing.T) {
	ca := testpki.NewCA(t, "bureau CA")
	c := ca.Client(t, "sidecar-1")
	for _, tc := range []struct {
		name string
		b    bureauConfig
		want string
	}{
		{"cert without key", bureauConfig{CertFile: c.CertFile}, "bureau.ca_file, cert_file, key_file: tls: cert_file and key_file go together"},
		{"key of another pair", bureauConfig{CAFile: ca.File, CertFile: c.CertFile, KeyFile: ca.Client(t, "x").KeyFile}, "the key must be the certificate's"},
		{"CA that is not PEM", bureauConfig{CAFile: c.KeyFile}, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "off"
			cfg.DecisionLog.Disabled = true
			cfg.Bureau = tc.b
			cfg.Bureau.Address = "127.0.0.1:1"
			sc, err := newSidecar(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				sc.close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newSidecar: %v, want %q", err, tc.want)
			}
		})
	}
	// A good pair starts (the bureau need not be up: sync runs later).
	cfg := defaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "off"
	cfg.DecisionLog.Disabled = true
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bureau = bureauConfig{Address: "127.0.0.1:1", CAFile: ca.File, CertFile: c.CertFile, KeyFile: c.KeyFile,
		TrustedKeys: []string{base64.StdEncoding.EncodeToString(pub)}}
	sc, err := newSidecar(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sc.close()
}

// rxguard status sends RXGUARD_TOKEN when /status needs a role.
func TestStatusCommandSendsTheToken(t *testing.T) {
	adminTok, adminLine := newTokenLine(t, "admin", "it-ops")
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(adminLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.DecisionLog.Disabled = true
	cfg.Security = securityConfig{TokenFile: tokens, StatusRole: "admin"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := newSidecar(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sc.run(ctx) }()
	defer func() { cancel(); <-done; sc.close() }()
	addr := sc.httpLis.Addr().String()
	t.Setenv(envToken, "")
	if _, _, err := runSplit(t, "status", "-http", addr, "-json"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("status without a token: %v, want the 401 explained", err)
	}
	t.Setenv(envToken, adminTok)
	out := mustRun(t, "status", "-http", addr, "-json")
	if !strings.Contains(out, `"status_role":"admin"`) {
		t.Fatalf("status with the admin token: %s", out)
	}
}

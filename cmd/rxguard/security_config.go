package main

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/tlsreload"
	"github.com/rxguard/rxguard/server"
)

// securityConfig is the "security" section: TLS, mutual TLS and
// credentials by role for the two listeners (docs/security.md). Absent, a
// sidecar on loopback serves as before — plaintext, no credentials — and
// a sidecar bound to another address refuses to start.
type securityConfig struct {
	// TokenFile holds the bearer tokens' hashes, one per line
	// ("sha256:<hex> <roles> <name>"; `rxguard token new` makes one). It
	// is re-read when it changes.
	TokenFile string `json:"token_file,omitempty" yaml:"token_file,omitempty"`
	// Certificates grants roles to client certificates (mutual TLS).
	Certificates []certificateRoleConfig `json:"certificates,omitempty" yaml:"certificates,omitempty"`
	// ReloadInterval: how often the token file and the certificate files
	// are looked at for changes (Go duration); default 2s.
	ReloadInterval string `json:"reload_interval,omitempty" yaml:"reload_interval,omitempty"`
	// GRPC and HTTP are each listener's TLS and authentication.
	GRPC listenerSecurityConfig `json:"grpc,omitzero" yaml:"grpc,omitempty"`
	HTTP listenerSecurityConfig `json:"http,omitzero" yaml:"http,omitempty"`
	// MetricsRole and StatusRole protect /metrics and /status: "public"
	// (default) or a role (his, audit, admin).
	MetricsRole string `json:"metrics_role,omitempty" yaml:"metrics_role,omitempty"`
	StatusRole  string `json:"status_role,omitempty" yaml:"status_role,omitempty"`
}

// certificateRoleConfig maps a client certificate subject to roles.
type certificateRoleConfig struct {
	// Subject: cn:NAME, dns:NAME or uri:URI (exact match; see auth.Subject).
	Subject string   `json:"subject" yaml:"subject"`
	Roles   []string `json:"roles" yaml:"roles"`
}

// listenerSecurityConfig is one listener's TLS and authentication.
type listenerSecurityConfig struct {
	TLS tlsConfig `json:"tls,omitzero" yaml:"tls,omitempty"`
	// Auth: "required", "off", or empty: required when credentials are
	// configured (token_file or certificates), off otherwise.
	Auth string `json:"auth,omitempty" yaml:"auth,omitempty"`
	// Insecure accepts a non-loopback address without TLS or without
	// authentication; every start logs a warning.
	Insecure bool `json:"insecure,omitempty" yaml:"insecure,omitempty"`
}

// tlsConfig is a listener's certificate and, for mutual TLS, the client CA
// bundle and allow-list.
type tlsConfig struct {
	CertFile     string `json:"cert_file,omitempty" yaml:"cert_file,omitempty"`
	KeyFile      string `json:"key_file,omitempty" yaml:"key_file,omitempty"`
	ClientCAFile string `json:"client_ca_file,omitempty" yaml:"client_ca_file,omitempty"`
	// AllowedClients: when set, only client certificates carrying one of
	// these subjects complete the handshake (cn:/dns:/uri:).
	AllowedClients []string `json:"allowed_clients,omitempty" yaml:"allowed_clients,omitempty"`
}

// Validate checks the section as the start would (strictconf.Validator):
// files readable, roles and subjects well-formed, durations valid. Whether
// a listener may be plaintext depends on its address: the start checks
// that (build with the configured addresses).
func (c securityConfig) Validate() error {
	_, err := c.build("127.0.0.1:0", "127.0.0.1:0", slog.New(slog.DiscardHandler))
	return err
}

// build turns the section into the server's Security for listeners bound
// to grpcAddr and httpAddr ("off": no HTTP listener). Every error names
// its key and what to do.
func (c securityConfig) build(grpcAddr, httpAddr string, log *slog.Logger) (server.Security, error) {
	var sec server.Security
	interval, err := positiveDuration("security.reload_interval", c.ReloadInterval)
	if err != nil {
		return sec, err
	}
	if interval == 0 {
		interval = auth.DefaultTokenCheckInterval
	}
	if sec.MetricsRole, err = auth.ParseAccess(c.MetricsRole); err != nil {
		return sec, fmt.Errorf("security.metrics_role: %w", err)
	}
	if sec.StatusRole, err = auth.ParseAccess(c.StatusRole); err != nil {
		return sec, fmt.Errorf("security.status_role: %w", err)
	}
	var certs []auth.CertificateRole
	for i, m := range c.Certificates {
		key := fmt.Sprintf("security.certificates[%d]", i)
		sub, err := auth.ParseSubject(m.Subject)
		if err != nil {
			return sec, fmt.Errorf("%s.subject: %w", key, err)
		}
		if len(m.Roles) == 0 {
			return sec, fmt.Errorf("%s.roles: empty; list at least one of his, audit, admin", key)
		}
		roles, err := auth.ParseRoles(strings.Join(m.Roles, ","))
		if err != nil {
			return sec, fmt.Errorf("%s.roles: %w", key, err)
		}
		certs = append(certs, auth.CertificateRole{Subject: sub, Roles: roles})
	}
	var tokens *auth.TokenFile
	if c.TokenFile != "" {
		if tokens, err = auth.OpenTokenFile(c.TokenFile, auth.TokenOptions{CheckInterval: interval, Logger: log}); err != nil {
			return sec, fmt.Errorf("security.token_file: %w", err)
		}
	}
	credentials := tokens != nil || len(certs) > 0
	listener := func(name, addr string, l listenerSecurityConfig) (server.ListenerSecurity, error) {
		var ls server.ListenerSecurity
		key := "security." + name
		t := l.TLS
		if t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != "" || len(t.AllowedClients) > 0 {
			if t.CertFile == "" || t.KeyFile == "" {
				return ls, fmt.Errorf("%s.tls: cert_file and key_file are both required for TLS (PEM files of the listener's certificate and key)", key)
			}
			files := tlsreload.ServerFiles{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile}
			if len(t.AllowedClients) > 0 {
				if t.ClientCAFile == "" {
					return ls, fmt.Errorf("%s.tls.allowed_clients needs %s.tls.client_ca_file (the CAs whose client certificates are checked)", key, key)
				}
				subs, err := auth.ParseSubjects(key+".tls.allowed_clients", t.AllowedClients)
				if err != nil {
					return ls, err
				}
				files.VerifyClient = auth.AllowList(subs)
			}
			if ls.TLS, err = tlsreload.NewServer(files, tlsreload.Options{Name: name, CheckInterval: interval, Logger: log}); err != nil {
				return ls, fmt.Errorf("%s.tls: %w", key, err)
			}
		}
		on := credentials
		switch l.Auth {
		case "":
		case "required":
			if !credentials {
				return ls, fmt.Errorf("%s.auth is required but no credentials are configured: set security.token_file or security.certificates", key)
			}
			on = true
		case "off":
			on = false
		default:
			return ls, fmt.Errorf("%s.auth %q is not one of required, off (or empty: required when credentials are configured)", key, l.Auth)
		}
		if on {
			ls.Auth = auth.New(auth.Config{Listener: name, Tokens: tokens, Certificates: certs, Logger: log})
		}
		if isLoopbackAddr(addr) {
			return ls, nil
		}
		var missing []string
		if ls.TLS == nil {
			missing = append(missing, "TLS ("+key+".tls.cert_file and key_file)")
		}
		if ls.Auth == nil {
			missing = append(missing, "authentication (security.token_file or security.certificates)")
		}
		switch {
		case len(missing) == 0:
		case !l.Insecure:
			return ls, fmt.Errorf("%s listener %s is not on loopback and has no %s: configure it, bind a loopback address, or set %s.insecure: true to accept that on the network",
				name, addr, strings.Join(missing, " and no "), key)
		default:
			log.Warn("listener is reachable from the network without "+strings.Join(missing, " and without ")+" (insecure: true)", "listener", name, "addr", addr)
		}
		return ls, nil
	}
	if sec.GRPC, err = listener("grpc", grpcAddr, c.GRPC); err != nil {
		return sec, err
	}
	if httpAddr != "off" {
		if sec.HTTP, err = listener("http", httpAddr, c.HTTP); err != nil {
			return sec, err
		}
	}
	return sec, nil
}

// isLoopbackAddr reports whether a listen address binds loopback only
// ("" and 0.0.0.0 bind every interface).
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

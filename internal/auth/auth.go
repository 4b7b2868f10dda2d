package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Reason is why a call was refused.
type Reason uint8

const (
	// Missing: no credential (no bearer token, no mapped certificate).
	Missing Reason = iota
	// Invalid: a bearer token that is not in the token file.
	Invalid
	// WrongRole: a valid credential without the role the call needs.
	WrongRole
	// NoRole: the route or method declares no role (a bug; always refused).
	NoRole
	numReasons
)

func (r Reason) String() string {
	return [...]string{"missing", "invalid", "wrong_role", "no_role"}[r]
}

// Config is one listener's authentication.
type Config struct {
	// Listener labels metrics and log lines ("grpc", "http", "admin").
	Listener string
	// Tokens holds the bearer tokens (nil: none accepted).
	Tokens *TokenFile
	// Certificates grants roles to verified client certificates (the
	// listener must be mutual TLS for any to be presented).
	Certificates []CertificateRole
	Logger       *slog.Logger
}

// Authenticator enforces the roles of one listener. A nil *Authenticator
// authenticates nobody and lets every declared route through: the loopback
// default, where whoever can reach the port is on the host.
type Authenticator struct {
	listener string
	tokens   *TokenFile
	certs    []CertificateRole
	log      *slog.Logger
	// Counted without locks: allowed by required role, denied by reason
	// and required role.
	allowed [numRoles]atomic.Uint64
	denied  [numReasons][numRoles]atomic.Uint64
	// lastLog (unix nanoseconds) rate-limits the refusal log: a scanner
	// must not fill the disk; the counters count every refusal.
	lastLog atomic.Int64
}

// refusalLogEvery rate-limits the refusal log line.
const refusalLogEvery = time.Second

// New builds an authenticator.
func New(c Config) *Authenticator {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{listener: c.Listener, tokens: c.Tokens, certs: c.Certificates, log: log}
}

// Enabled reports whether a is enforcing credentials.
func (a *Authenticator) Enabled() bool { return a != nil }

// Tokens is the token file a reads (nil: none).
func (a *Authenticator) Tokens() *TokenFile {
	if a == nil {
		return nil
	}
	return a.tokens
}

// Decision is the outcome of one check.
type Decision struct {
	Allowed bool
	Reason  Reason
	// Who names the credential for the log: the token's name, the
	// certificate's subject, or for an unknown token the first 8 hex
	// digits of its hash; never the token.
	Who string
}

// Check decides whether a call carrying bearer (the token, "" for none)
// and leaf (the verified client certificate, nil for none) may use a route
// that requires required. Any presented credential that holds the role
// lets the call in; the certificate is looked at first, so a route with
// its own bearer scheme (CDS Hooks' JWT) can still be reached by an HIS
// with a mapped client certificate.
func (a *Authenticator) Check(required Role, bearer string, leaf *x509.Certificate) Decision {
	switch {
	case required == Undeclared:
		return Decision{Reason: NoRole}
	case a == nil || required == Public:
		return Decision{Allowed: true}
	}
	d := Decision{Reason: Missing}
	if leaf != nil {
		for _, m := range a.certs {
			if !m.Subject.Matches(leaf) {
				continue
			}
			if m.Roles.Has(required) {
				return Decision{Allowed: true}
			}
			d = Decision{Reason: WrongRole, Who: m.Subject.String()}
		}
	}
	if bearer == "" {
		return d
	}
	h := sha256.Sum256([]byte(bearer))
	var t Token
	ok := false
	if a.tokens != nil {
		t, ok = a.tokens.lookup(&h)
	}
	switch {
	case !ok:
		return Decision{Reason: Invalid, Who: "sha256:" + hex.EncodeToString(h[:4])}
	case t.Roles.Has(required):
		return Decision{Allowed: true}
	}
	return Decision{Reason: WrongRole, Who: t.Name}
}

// record counts d and logs a refusal (rate-limited).
func (a *Authenticator) record(d Decision, required Role, what, remote string) {
	if a == nil {
		return
	}
	if d.Allowed {
		a.allowed[required].Add(1)
		return
	}
	a.denied[d.Reason][required].Add(1)
	now := time.Now().UnixNano()
	if last := a.lastLog.Load(); now-last >= int64(refusalLogEvery) && a.lastLog.CompareAndSwap(last, now) {
		level := slog.LevelWarn
		if d.Reason == NoRole {
			level = slog.LevelError
		}
		a.log.Log(context.Background(), level, "call refused", "listener", a.listener, "call", what, "reason", d.Reason.String(),
			"required_role", required.String(), "credential", d.Who, "remote", remote)
	}
}

// bearerToken extracts the token of an "Authorization: Bearer …" value
// (the scheme is case-insensitive, RFC 6750).
func bearerToken(v string) string {
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// MethodRoles maps full gRPC method names ("/pkg.Service/Method") to the
// role each requires; it is declared next to the services' registration.
type MethodRoles map[string]Role

func (a *Authenticator) grpcCheck(ctx context.Context, roles MethodRoles, method string) error {
	required := roles[method]
	var bearer string
	var leaf *x509.Certificate
	if a != nil && required != Public && required != Undeclared {
		if v := metadata.ValueFromIncomingContext(ctx, "authorization"); len(v) > 0 {
			bearer = bearerToken(v[0])
		}
		if p, ok := peer.FromContext(ctx); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
				leaf = ti.State.PeerCertificates[0]
			}
		}
	}
	d := a.Check(required, bearer, leaf)
	if d.Allowed {
		// No remote address for an allowed call: formatting it costs an
		// allocation per call, and only a refusal is logged.
		a.record(d, required, method, "")
		return nil
	}
	if a == nil {
		// Auth is off, yet the method declares no role: still refused,
		// so a method without a role fails on every test run.
		return status.Errorf(codes.PermissionDenied, "%s declares no role (a bug in this build: report it)", method)
	}
	remote := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	a.record(d, required, method, remote)
	return grpcError(d, required, method)
}

func grpcError(d Decision, required Role, method string) error {
	switch d.Reason {
	case Missing:
		return status.Errorf(codes.Unauthenticated, "%s needs credentials with role %s: send \"authorization: Bearer <token>\" metadata or a client certificate mapped to the role", method, required)
	case Invalid:
		return status.Errorf(codes.Unauthenticated, "the bearer token is not valid here (unknown, revoked or mistyped; make one with `rxguard token new`)")
	case WrongRole:
		return status.Errorf(codes.PermissionDenied, "%s needs role %s, which %s does not hold", method, required, d.Who)
	}
	return status.Errorf(codes.PermissionDenied, "%s declares no role (a bug in this build: report it)", method)
}

// UnaryInterceptor enforces roles on unary calls. It runs on a nil
// Authenticator too: then only methods that declare no role are refused.
func (a *Authenticator) UnaryInterceptor(roles MethodRoles) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := a.grpcCheck(ctx, roles, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor enforces roles on streaming calls.
func (a *Authenticator) StreamInterceptor(roles MethodRoles) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := a.grpcCheck(ss.Context(), roles, info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// Route is one HTTP route and the role it requires.
type Route struct {
	Pattern string
	Role    Role
}

// Handler wraps h so that it runs only for callers holding required;
// others get 401 (no or an invalid credential, with WWW-Authenticate:
// Bearer) or 403 (valid, wrong role). pattern names the route in logs.
func (a *Authenticator) Handler(pattern string, required Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var bearer string
		var leaf *x509.Certificate
		if a != nil && required != Public && required != Undeclared {
			bearer = bearerToken(r.Header.Get("Authorization"))
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				leaf = r.TLS.PeerCertificates[0]
			}
		}
		d := a.Check(required, bearer, leaf)
		a.record(d, required, pattern, r.RemoteAddr)
		if d.Allowed {
			h.ServeHTTP(w, r)
			return
		}
		code, msg := http.StatusForbidden, ""
		switch d.Reason {
		case Missing:
			code, msg = http.StatusUnauthorized, "this route needs credentials with role "+required.String()+": send Authorization: Bearer <token> or a client certificate mapped to the role"
		case Invalid:
			code, msg = http.StatusUnauthorized, "the bearer token is not valid here (unknown, revoked or mistyped)"
		case WrongRole:
			msg = "this route needs role " + required.String() + ", which " + d.Who + " does not hold"
		case NoRole:
			msg = "this route declares no role (a bug in this build: report it)"
		}
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rxguard"`)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error":` + quote(msg) + "}\n"))
	})
}

func quote(s string) string {
	// The messages above hold no quote or backslash; only the name from
	// a certificate or token file could, and those are restricted.
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Collectors are the authenticator's metrics (none for a nil one).
func (a *Authenticator) Collectors() []prometheus.Collector {
	if a == nil {
		return nil
	}
	out := []prometheus.Collector{&authCollector{a: a,
		allowed: prometheus.NewDesc("rxguard_auth_allowed_total", "Calls let in, by the role the route or method requires.", []string{"role"}, prometheus.Labels{"listener": a.listener}),
		denied: prometheus.NewDesc("rxguard_auth_denied_total", "Calls refused, by reason (missing, invalid, wrong_role, no_role) and the role required.",
			[]string{"reason", "role"}, prometheus.Labels{"listener": a.listener}),
	}}
	if t := a.tokens; t != nil {
		labels := prometheus.Labels{"listener": a.listener}
		out = append(out,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rxguard_auth_tokens", ConstLabels: labels,
				Help: "Tokens in service from the token file."}, func() float64 { return float64(len(*t.tokens.Load())) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rxguard_auth_token_file_reload_errors_total", ConstLabels: labels,
				Help: "Token file reloads that failed; the previous tokens stayed in service (the log says why)."}, func() float64 { return float64(t.errs.Load()) }))
	}
	return out
}

type authCollector struct {
	a               *Authenticator
	allowed, denied *prometheus.Desc
}

func (c *authCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.allowed; ch <- c.denied }

func (c *authCollector) Collect(ch chan<- prometheus.Metric) {
	for r := Public; r < numRoles; r++ {
		ch <- prometheus.MustNewConstMetric(c.allowed, prometheus.CounterValue, float64(c.a.allowed[r].Load()), r.String())
	}
	for reason := Missing; reason < numReasons; reason++ {
		for r := Undeclared; r < numRoles; r++ {
			if v := c.a.denied[reason][r].Load(); v > 0 || (reason != NoRole && r >= HIS) {
				ch <- prometheus.MustNewConstMetric(c.denied, prometheus.CounterValue, float64(v), reason.String(), r.String())
			}
		}
	}
}

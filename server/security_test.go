package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/testpki"
	"github.com/rxguard/rxguard/internal/tlsreload"
	"github.com/rxguard/rxguard/server/engine"
)

// roleTokens are one token per role, written to a token file.
var roleTokens = map[auth.Role]string{auth.HIS: "tok-his", auth.Audit: "tok-audit", auth.Admin: "tok-admin"}

func tokenFile(t *testing.T) *auth.TokenFile {
	t.Helper()
	var b strings.Builder
	for r, tok := range roleTokens {
		h := sha256.Sum256([]byte(tok))
		b.WriteString("sha256:" + hex.EncodeToString(h[:]) + " " + r.String() + " " + r.String() + "-caller\n")
	}
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := auth.OpenTokenFile(path, auth.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

// wrongToken is a valid token of another role than r.
func wrongToken(r auth.Role) string {
	if r == auth.HIS {
		return roleTokens[auth.Audit]
	}
	return roleTokens[auth.HIS]
}

// TestRolesTable calls every gRPC method the server registers and every
// HTTP route it serves with no, a wrong and the right credentials. A
// method or route without a role fails it: add the role where the method
// is registered (grpcMethodRoles) or the route is handled (s.routes.handle).
func TestRolesTable(t *testing.T) {
	tf := tokenFile(t)
	sec := Security{
		GRPC:        ListenerSecurity{Auth: auth.New(auth.Config{Listener: "grpc", Tokens: tf})},
		HTTP:        ListenerSecurity{Auth: auth.New(auth.Config{Listener: "http", Tokens: tf})},
		MetricsRole: auth.Admin, StatusRole: auth.Admin,
	}
	ts := startServerWith(t, engine.Config{}, parts{security: sec})
	conn, err := grpc.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	roles := ts.srv.MethodRoles()
	registered := map[string]bool{}
	for svc, info := range ts.srv.GRPCServer().GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			registered[full] = true
			role := roles[full]
			if role == auth.Undeclared {
				t.Errorf("gRPC method %s has no role: declare one in grpcMethodRoles (server/security.go)", full)
			}
			t.Run("grpc"+full, func(t *testing.T) {
				for _, c := range credentialCases(role) {
					code := callAny(t, conn, full, c.token)
					if refused := code == codes.Unauthenticated || code == codes.PermissionDenied; refused != (c.want != codes.OK) || (refused && code != c.want) {
						t.Errorf("%s with %s credentials: %v, want %v", full, c.name, code, c.want)
					}
				}
			})
		}
	}
	for m := range roles {
		if !registered[m] {
			t.Errorf("grpcMethodRoles names %s, which the server does not register (a stale entry)", m)
		}
	}

	for _, r := range ts.srv.Routes() {
		if r.Role == auth.Undeclared {
			t.Errorf("HTTP route %q has no role", r.Pattern)
		}
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok { // a subtree the door routes itself (/nhsa/, /cds-services/)
			method, path = http.MethodPost, r.Pattern
		}
		path = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(path, "x")
		t.Run("http "+r.Pattern, func(t *testing.T) {
			for _, c := range credentialCases(r.Role) {
				req, _ := http.NewRequest(method, "http://"+ts.httpAddr+path, strings.NewReader("{}"))
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				want := map[codes.Code]int{codes.Unauthenticated: 401, codes.PermissionDenied: 403}[c.want]
				got := resp.StatusCode
				if (want == 0 && (got == 401 || got == 403)) || (want != 0 && got != want) {
					t.Errorf("%s with %s credentials: HTTP %d, want %v", r.Pattern, c.name, got, c.want)
				}
				if got == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", r.Pattern)
				}
			}
		})
	}
	// The refusals are counted by reason and role.
	body := httpGet(t, "http://"+ts.httpAddr+"/metrics", roleTokens[auth.Admin])
	for _, want := range []string{
		`rxguard_auth_denied_total{listener="grpc",reason="missing",role="his"}`,
		`rxguard_auth_denied_total{listener="grpc",reason="wrong_role",role="audit"}`,
		`rxguard_auth_denied_total{listener="http",reason="missing",role="admin"}`,
		`rxguard_auth_allowed_total{listener="grpc",role="his"}`,
	} {
		if !strings.Contains(body, want) || strings.Contains(body, want+" 0\n") {
			t.Errorf("/metrics lacks a non-zero %s", want)
		}
	}
}

type credCase struct {
	name, token string
	want        codes.Code // OK: let through (whatever the handler answers)
}

func credentialCases(role auth.Role) []credCase {
	if role == auth.Public {
		return []credCase{{"no", "", codes.OK}, {"an unknown token as", "nope", codes.OK}}
	}
	return []credCase{
		{"no", "", codes.Unauthenticated},
		{"invalid", "not-a-token", codes.Unauthenticated},
		{"wrong-role", wrongToken(role), codes.PermissionDenied},
		{"right", roleTokens[role], codes.OK},
	}
}

// callAny calls any method, unary or streaming, with an empty request and
// returns the code of the first answer (OK when a message came).
func callAny(t *testing.T, conn *grpc.ClientConn, method, token string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method)
	if err != nil {
		return status.Code(err)
	}
	if err := st.SendMsg(&emptypb.Empty{}); err != nil && !errors.Is(err, io.EOF) {
		return status.Code(err)
	}
	_ = st.CloseSend()
	err = st.RecvMsg(&emptypb.Empty{})
	if errors.Is(err, io.EOF) {
		return codes.OK
	}
	return status.Code(err)
}

func httpGet(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestAuthOffStillRefusesUndeclaredMethods: on the loopback default (no
// authentication) declared methods work and an undeclared one does not,
// so a new RPC without a role fails every test that calls it.
func TestAuthOffStillRefusesUndeclaredMethods(t *testing.T) {
	var a *auth.Authenticator
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	in := a.UnaryInterceptor(auth.MethodRoles{"/x.S/Declared": auth.Audit})
	if _, err := in(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x.S/Declared"}, handler); err != nil {
		t.Fatalf("declared method with auth off: %v", err)
	}
	_, err := in(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x.S/New"}, handler)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "declares no role") {
		t.Fatalf("undeclared method with auth off: %v", err)
	}
}

// TestTLSRotationKeepsInFlightCalls: with mutual TLS on the gRPC listener,
// a certificate rotated on disk is served to new connections while a call
// in flight on an old connection goes on; clients without a certificate,
// with an untrusted one or with a subject off the allow-list are refused.
func TestTLSRotationKeepsInFlightCalls(t *testing.T) {
	ca, rogue := testpki.NewCA(t, "hospital CA"), testpki.NewCA(t, "rogue CA")
	first, second := ca.Server(t), ca.Server(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testpki.Install(t, first, certFile, keyFile)
	allowed, err := auth.ParseSubjects("allowed_clients", []string{"cn:HIS-1"})
	if err != nil {
		t.Fatal(err)
	}
	rl, err := tlsreload.NewServer(tlsreload.ServerFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.File,
		VerifyClient: auth.AllowList(allowed)}, tlsreload.Options{Name: "grpc", CheckInterval: -1, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	hisCert := ca.Client(t, "HIS-1")
	mapped, _ := auth.ParseSubject("cn:HIS-1")
	sec := Security{GRPC: ListenerSecurity{TLS: rl, Auth: auth.New(auth.Config{Listener: "grpc",
		Certificates: []auth.CertificateRole{{Subject: mapped, Roles: auth.Roles(0).With(auth.HIS)}}})}}
	ts := startServerWith(t, engine.Config{}, parts{security: sec})

	dial := func(t *testing.T, client *testpki.Issued) *grpc.ClientConn {
		t.Helper()
		cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
		if client != nil {
			cfg.Certificates = []tls.Certificate{client.Pair}
		}
		conn, err := grpc.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	check := func(conn *grpc.ClientConn) (string, error) {
		var p peer.Peer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
		if err != nil {
			return "", err
		}
		return p.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0].SerialNumber.String(), nil
	}

	for _, tc := range []struct {
		name   string
		client *testpki.Issued
	}{
		{"no client certificate", nil},
		{"untrusted client certificate", rogue.Client(t, "HIS-1")},
		{"subject not on the allow-list", ca.Client(t, "HIS-2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := check(dial(t, tc.client)); status.Code(err) != codes.Unavailable {
				t.Fatalf("call: %v, want the handshake refused (Unavailable)", err)
			}
		})
	}

	old := dial(t, hisCert)
	if serial, err := check(old); err != nil || serial != first.Cert.SerialNumber.String() {
		t.Fatalf("first connection: serial %s, %v; want %s", serial, err, first.Cert.SerialNumber)
	}
	// An in-flight call: a health Watch stream stays open on the old
	// connection across the rotation.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := healthpb.NewHealthClient(old).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v %v", m, err)
	}

	testpki.Install(t, second, certFile, keyFile)
	fresh := dial(t, hisCert)
	if serial, err := check(fresh); err != nil || serial != second.Cert.SerialNumber.String() {
		t.Fatalf("new connection after rotation: serial %s, %v; want the new %s", serial, err, second.Cert.SerialNumber)
	}
	// The mapped certificate holds role his: a GuardService call passes
	// authentication (the empty request is then invalid, not refused).
	if code := callAny(t, fresh, "/rxguard.v1.GuardService/CheckOrders", ""); code == codes.Unauthenticated || code == codes.PermissionDenied {
		t.Fatalf("CheckOrders with the HIS certificate: %v", code)
	}
	if serial, err := check(old); err != nil || serial != first.Cert.SerialNumber.String() {
		t.Fatalf("old connection after rotation: serial %s, %v; want it still on %s", serial, err, first.Cert.SerialNumber)
	}
	ts.srv.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if m, err := watch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("the in-flight watch after rotation: %v %v (want it alive, reporting NOT_SERVING)", m, err)
	}
	if !slices.Contains([]uint64{1}, rl.Status().Reloads) {
		t.Fatalf("reloads: %+v", rl.Status())
	}
}

// TestHTTPOverTLSWithCertificateRoles: the HTTP listener serves TLS; a
// client certificate mapped to audit reads a route that needs audit, a
// token of the wrong role is refused, and plaintext gets no answer.
func TestHTTPOverTLSWithCertificateRoles(t *testing.T) {
	ca := testpki.NewCA(t, "hospital CA")
	srvCert, auditor := ca.Server(t), ca.Client(t, "yibaoban")
	rl, err := tlsreload.NewServer(tlsreload.ServerFiles{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.File}, tlsreload.Options{Name: "http"})
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := auth.ParseSubject("cn:yibaoban")
	sec := Security{StatusRole: auth.Audit, MetricsRole: auth.Admin, HTTP: ListenerSecurity{TLS: rl, Auth: auth.New(auth.Config{Listener: "http", Tokens: tokenFile(t),
		Certificates: []auth.CertificateRole{{Subject: sub, Roles: auth.Roles(0).With(auth.Audit)}}})}}
	ts := startServerWith(t, engine.Config{}, parts{security: sec})
	client := func(cert *testpki.Issued) *http.Client {
		cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{cert.Pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	}
	get := func(c *http.Client, path, token string) (int, error) {
		req, _ := http.NewRequest("GET", "https://"+ts.httpAddr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(client(auditor), "/status", ""); err != nil || code != 200 {
		t.Fatalf("/status with the audit certificate: %d %v", code, err)
	}
	// /status reports the certificate in service and the token file.
	req, _ := http.NewRequest("GET", "https://"+ts.httpAddr+"/status", nil)
	resp, err := client(auditor).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"serial":"` + srvCert.Cert.SerialNumber.Text(16) + `"`, `"mutual_tls":true`, `"tokens":3`, `"status_role":"audit"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/status lacks %s: %s", want, body)
		}
	}
	// /metrics needs admin: the audit certificate alone is 403, an HIS
	// token beside it too; the admin token beside it lets it in.
	for _, c := range []struct {
		token string
		want  int
	}{{"", 403}, {roleTokens[auth.HIS], 403}, {roleTokens[auth.Admin], 200}} {
		if code, err := get(client(auditor), "/metrics", c.token); err != nil || code != c.want {
			t.Fatalf("/metrics with the audit certificate and token %q: %d %v, want %d", c.token, code, err, c.want)
		}
	}
	if code, err := get(client(auditor), "/healthz", ""); err != nil || code != 200 {
		t.Fatalf("/healthz: %d %v", code, err)
	}
	if _, err := get(client(nil), "/healthz", ""); err == nil {
		t.Fatal("a client without a certificate completed a request on the mutual-TLS listener")
	}
	resp, err = (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ts.httpAddr + "/healthz")
	if err == nil && resp.StatusCode == 200 {
		resp.Body.Close()
		t.Fatal("plaintext HTTP answered 200 on the TLS listener")
	}
}

package bureau

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/testpki"
	"github.com/rxguard/rxguard/internal/tlsreload"
)

func adminTokens(t *testing.T) *auth.TokenFile {
	t.Helper()
	var b strings.Builder
	for tok, role := range map[string]string{"tok-admin": "admin", "tok-his": "his"} {
		h := sha256.Sum256([]byte(tok))
		b.WriteString("sha256:" + hex.EncodeToString(h[:]) + " " + role + " " + role + "-1\n")
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

func withToken(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// TestAdminServiceRefusesAnUnauthenticatedPublish: with admin credentials
// configured, publishing a release or physician events needs role admin —
// no token is Unauthenticated, an HIS token PermissionDenied, and nothing
// is published; the admin token publishes. The read-only feed stays open.
func TestAdminServiceRefusesAnUnauthenticatedPublish(t *testing.T) {
	b := start(t, Options{Admin: AdminSecurity{Auth: auth.New(auth.Config{Listener: "admin", Tokens: adminTokens(t)})}})
	ctx := ctxT(t)
	records := recs(3, "a")
	rel := full(manifest("2026.11", "", records), records)
	event := &bureauv1.PhysicianEvent{PhysicianCode: "D00000000001", Type: bureauv1.PhysicianEventType_POINTS_ADDED, Date: "2026-10-01", Points: 2, Reason: "超量开药"}
	for _, tc := range []struct {
		name, token string
		code        codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"unknown token", "tok-guess", codes.Unauthenticated},
		{"HIS token", "tok-his", codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := publish(withToken(ctx, tc.token), b.admin, rel)
			wantCode(t, err, tc.code, "")
			_, err = b.admin.PublishPhysicianEvents(withToken(ctx, tc.token), eventsReq(t, b.key, 0, event))
			wantCode(t, err, tc.code, "")
		})
	}
	if _, ok := b.srv.Latest(); ok || b.srv.LastEventSeq() != 0 {
		t.Fatal("a refused publish changed the bureau")
	}
	aconn := bureauv1.NewBureauServiceClient(b.adminConn(t))
	if _, err := aconn.ListPhysicianEvents(ctx, &bureauv1.ListPhysicianEventsRequest{Limit: 1}); err != nil {
		t.Fatalf("the admin listener's read-only feed without a token: %v", err)
	}
	if _, err := publish(withToken(ctx, "tok-admin"), b.admin, rel); err != nil {
		t.Fatalf("publish with the admin token: %v", err)
	}
	if _, err := b.admin.PublishPhysicianEvents(withToken(ctx, "tok-admin"), eventsReq(t, b.key, 0, event)); err != nil {
		t.Fatalf("publish events with the admin token: %v", err)
	}
}

// TestAdminOffLoopbackNeedsTLSAndAuth: an admin listener on every
// interface starts when it has TLS and credentials, and a client
// certificate mapped to admin can publish over it.
func TestAdminOffLoopbackNeedsTLSAndAuth(t *testing.T) {
	ca := testpki.NewCA(t, "bureau CA")
	srvCert, publisher := ca.Server(t), ca.Client(t, "publisher-1")
	rl, err := tlsreload.NewServer(tlsreload.ServerFiles{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.File}, tlsreload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := auth.ParseSubject("cn:publisher-1")
	a := auth.New(auth.Config{Listener: "admin", Certificates: []auth.CertificateRole{{Subject: sub, Roles: auth.Roles(0).With(auth.Admin)}}})
	for _, tc := range []struct {
		name string
		sec  AdminSecurity
		ok   bool
	}{
		{"plaintext with credentials", AdminSecurity{Auth: a}, false},
		{"TLS without credentials", AdminSecurity{TLS: rl}, false},
		{"TLS and credentials", AdminSecurity{TLS: rl, Auth: a}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := Open(t.Context(), Options{Dir: t.TempDir(), Key: testKey(7), Logger: testLogger(t), Admin: tc.sec})
			if err != nil {
				t.Fatal(err)
			}
			adminLis, err := net.Listen("tcp", "0.0.0.0:0")
			if err != nil {
				t.Fatalf("listen on every interface: %v", err)
			}
			lis := mustListen(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, lis, adminLis) }()
			defer func() { cancel(); <-done }()
			if !tc.ok {
				select {
				case err := <-done:
					done <- err
					if err == nil || !strings.Contains(err.Error(), "loopback only unless it has both TLS and admin credentials") {
						t.Fatalf("Serve: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Serve started an admin service on every interface without TLS and credentials")
				}
				return
			}
			_, port, _ := net.SplitHostPort(adminLis.Addr().String())
			conn, err := grpc.NewClient("127.0.0.1:"+port, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
				RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{publisher.Pair}})))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			records := recs(2, "b")
			if _, err := publish(ctxT(t), bureauv1.NewBureauAdminServiceClient(conn), full(manifest("2026.12", "", records), records)); err != nil {
				t.Fatalf("publish with the mapped client certificate: %v", err)
			}
		})
	}
}

package bureau

import (
	"context"
	"crypto/ed25519"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// signedAt is a manifest created at created and signed by key (nil: left
// unsigned).
func signedAt(t *testing.T, version string, records []knowledge.Record, created time.Time, key ed25519.PrivateKey) knowledge.Manifest {
	t.Helper()
	m := knowledge.NewManifest(version, "", created, records)
	m.Publisher = "NHSA 国家医保局"
	if key == nil {
		return m
	}
	m, err := knowledge.SignManifest(m, key)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The bureau signs only what it trusts: a release signed by another key,
// an unsigned one, or one dated in 2099 is refused, stored nowhere and
// never served (sidecars would install it within a poll, and the 2099 date
// would make them refuse every genuine release after it). What a publisher
// key signed is served with that signature.
func TestPublishRefusesWhatNoPublisherSigned(t *testing.T) {
	t.Parallel()
	b := start(t, Options{})
	ctx := ctxT(t)
	r1 := recs(40, "a")
	m1 := signedAt(t, "v1", r1, time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), b.key)
	p1 := mustPublish(t, b, full(m1, r1))
	if p1.Signature != m1.Signature || p1.Publisher != m1.Publisher {
		t.Fatalf("published %+v, want the manifest as its publisher signed it", p1)
	}

	evil := recs(40, "evil") // e.g. a BLOCK turned into a WARN
	year2099 := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		m        knowledge.Manifest
		code     codes.Code
		contains string
	}{
		{"signed with another key", signedAt(t, "v2-foreign", evil, time.Now(), testKey(8)), codes.PermissionDenied, "not among the trusted keys"},
		{"unsigned, created in 2099", signedAt(t, "v2-unsigned", evil, year2099, nil), codes.PermissionDenied, "is not signed"},
		{"signed with another key, created in 2099", signedAt(t, "v2-foreign-2099", evil, year2099, testKey(8)), codes.PermissionDenied, "not among the trusted keys"},
		{"signed by the publisher key, created in 2099", signedAt(t, "v2-2099", evil, year2099, b.key), codes.InvalidArgument, "after this bureau's clock"},
		{"signed by the publisher key, created in an hour", signedAt(t, "v2-hour", evil, time.Now().Add(time.Hour), b.key), codes.InvalidArgument, "after this bureau's clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := publish(ctx, b.admin, full(tc.m, evil))
			wantCode(t, err, tc.code, tc.contains)
			if _, err := fetch(ctx, b.pub, &bureauv1.FetchReleaseRequest{Version: tc.m.Version}); status.Code(err) != codes.NotFound {
				t.Errorf("the refused release is served: %v", err)
			}
		})
	}
	if got := listDir(t, filepath.Join(b.dir, "releases")); !slices.Equal(got, []string{"ORDER", "v1.rxrel"}) {
		t.Errorf("after refused publishes the releases directory holds %v", got)
	}
	latest, err := b.pub.GetLatestRelease(ctx, &bureauv1.GetLatestReleaseRequest{HaveVersion: "v1"})
	if err != nil || latest.GetManifest().GetVersion() != "v1" || latest.GetVersionsBehind() != 0 || latest.GetManifest().GetSignature() != m1.Signature {
		t.Fatalf("latest after refused publishes: %v %v", latest, err)
	}

	// A publisher's clock a little ahead is within the skew.
	r3 := recs(41, "c")
	m3 := signedAt(t, "v3", r3, time.Now().Add(5*time.Minute), b.key)
	if p3 := mustPublish(t, b, full(m3, r3)); p3.Signature != m3.Signature {
		t.Fatalf("v3 published as %+v", p3)
	}
}

// Publishing physician events needs a publisher's signature too: an
// unsigned batch (what any caller of the admin port could send) is refused
// and the feed is unchanged.
func TestPublishEventsRefusesUnsigned(t *testing.T) {
	t.Parallel()
	b := start(t, Options{})
	ctx := ctxT(t)
	_, err := b.admin.PublishPhysicianEvents(ctx, &bureauv1.PublishPhysicianEventsRequest{Events: []*bureauv1.PhysicianEvent{
		{PhysicianCode: "D370800000001", Type: bureauv1.PhysicianEventType_TERMINATED, Date: "2026-11-20", Until: "2031-11-20"},
	}})
	wantCode(t, err, codes.PermissionDenied, "not signed")
	if b.srv.LastEventSeq() != 0 {
		t.Fatalf("the unsigned batch was appended: %d events", b.srv.LastEventSeq())
	}
}

// Serve refuses an admin listener off loopback: the admin service has no
// transport authentication yet.
func TestServeRefusesAdminOffLoopback(t *testing.T) {
	t.Parallel()
	srv, err := Open(t.Context(), Options{Dir: t.TempDir(), Key: testKey(7), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	adminLis, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on every interface here: %v", err)
	}
	defer adminLis.Close()
	lis := mustListen(t)
	defer lis.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, adminLis) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("Serve with the admin service on %s: %v", adminLis.Addr(), err)
		}
	case <-time.After(5 * time.Second):
		cancel()
		<-done
		t.Fatalf("Serve ran the admin service on %s", adminLis.Addr())
	}
}

package bureau

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pubOf(k ed25519.PrivateKey) []ed25519.PublicKey {
	return []ed25519.PublicKey{k.Public().(ed25519.PublicKey)}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// recs returns n drug records K0000…; tag goes into the values, so two
// calls with different tags differ in every value.
func recs(n int, tag string) []knowledge.Record {
	out := make([]knowledge.Record, n)
	for i := range out {
		out[i] = knowledge.Record{Class: knowledge.ClassDrug, Key: fmt.Sprintf("K%04d", i), Value: fmt.Appendf(nil, `{"v":"%s%d"}`, tag, i)}
	}
	return out
}

// defaultKey is the key start gives a bureau: its own key, and so its only
// publisher key unless a test names others.
var defaultKey = testKey(7)

// manifest is a release's manifest signed with defaultKey, which a bureau
// started with start and no Publishers accepts.
func manifest(version, parent string, records []knowledge.Record) knowledge.Manifest {
	m, err := knowledge.SignManifest(knowledge.NewManifest(version, parent, time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), records), defaultKey)
	if err != nil {
		panic(err) // JSON of a manifest cannot fail
	}
	return m
}

// eventsReq is a publish request for events after seq after, signed with
// key.
func eventsReq(t testing.TB, key ed25519.PrivateKey, after int64, events ...*bureauv1.PhysicianEvent) *bureauv1.PublishPhysicianEventsRequest {
	t.Helper()
	plain := make([]knowledge.PhysicianEvent, len(events))
	for i, p := range events {
		p = proto.CloneOf(p)
		p.Seq = 0
		e, err := wire.EventFromProto(p)
		if err != nil {
			t.Fatal(err)
		}
		plain[i] = e
	}
	sig, err := knowledge.SignEventBatch(after, plain, key)
	if err != nil {
		t.Fatal(err)
	}
	return &bureauv1.PublishPhysicianEventsRequest{Events: events, AfterSeq: after, Signature: sig}
}

func full(m knowledge.Manifest, records []knowledge.Record) *wire.Release {
	return &wire.Release{Manifest: m, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(records)}
}

func delta(m knowledge.Manifest, base knowledge.Manifest, baseRecs, records []knowledge.Record) *wire.Release {
	return &wire.Release{Manifest: m, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA,
		BaseVersion: base.Version, BaseSHA256: base.ContentSHA256, Ops: wire.Diff(baseRecs, records)}
}

func equalRecords(a, b []knowledge.Record) bool {
	return slices.EqualFunc(a, b, func(x, y knowledge.Record) bool {
		return x.Class == y.Class && x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	})
}

type testBureau struct {
	srv   *Server
	dir   string
	key   ed25519.PrivateKey
	pub   bureauv1.BureauServiceClient
	admin bureauv1.BureauAdminServiceClient
	conn  *grpc.ClientConn
	aconn *grpc.ClientConn
}

// start opens a bureau and serves it on loopback listeners until the test
// ends.
func start(t *testing.T, opts Options) *testBureau {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Key == nil {
		opts.Key = defaultKey
	}
	opts.Logger = testLogger(t)
	srv, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, adminLis := mustListen(t), mustListen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, adminLis) }()
	conn := dial(t, lis.Addr().String())
	aconn := dial(t, adminLis.Addr().String())
	t.Cleanup(func() {
		conn.Close()
		aconn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testBureau{srv: srv, dir: opts.Dir, key: opts.Key, conn: conn, aconn: aconn,
		pub: bureauv1.NewBureauServiceClient(conn), admin: bureauv1.NewBureauAdminServiceClient(aconn)}
}

// adminConn is the connection to the admin listener.
func (b *testBureau) adminConn(*testing.T) *grpc.ClientConn { return b.aconn }

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sendChunks(ctx context.Context, admin bureauv1.BureauAdminServiceClient, cs []*bureauv1.ReleaseChunk) (*bureauv1.PublishReleaseResponse, error) {
	stream, err := admin.PublishRelease(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if err := stream.Send(&bureauv1.PublishReleaseRequest{Chunk: c}); err != nil {
			// The server gave up early; its status comes with CloseAndRecv.
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}

func chunksOf(t testing.TB, rel *wire.Release, batch int) []*bureauv1.ReleaseChunk {
	t.Helper()
	var cs []*bureauv1.ReleaseChunk
	if err := wire.Send(rel, batch, func(c *bureauv1.ReleaseChunk) error {
		cs = append(cs, proto.Clone(c).(*bureauv1.ReleaseChunk))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return cs
}

func publish(ctx context.Context, admin bureauv1.BureauAdminServiceClient, rel *wire.Release) (*bureauv1.PublishReleaseResponse, error) {
	var cs []*bureauv1.ReleaseChunk
	if err := wire.Send(rel, 16, func(c *bureauv1.ReleaseChunk) error { cs = append(cs, c); return nil }); err != nil {
		return nil, err
	}
	return sendChunks(ctx, admin, cs)
}

func mustPublish(t *testing.T, b *testBureau, rel *wire.Release) knowledge.Manifest {
	t.Helper()
	resp, err := publish(ctxT(t), b.admin, rel)
	if err != nil {
		t.Fatalf("publish %s: %v", rel.Manifest.Version, err)
	}
	m, err := wire.ManifestFromProto(resp.GetManifest())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fetch(ctx context.Context, c bureauv1.BureauServiceClient, req *bureauv1.FetchReleaseRequest) (*wire.Release, error) {
	stream, err := c.FetchRelease(ctx, req)
	if err != nil {
		return nil, err
	}
	return wire.Receive(func() (*bureauv1.ReleaseChunk, error) {
		r, err := stream.Recv()
		return r.GetChunk(), err
	}, wire.DefaultLimits())
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	st, _ := status.FromError(err)
	if err == nil || st.Code() != code || !bytes.Contains([]byte(st.Message()), []byte(contains)) {
		t.Fatalf("got %v, want %v containing %q", err, code, contains)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

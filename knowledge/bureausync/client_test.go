package bureausync

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// fakeBureau serves whatever the test sets up, including damaged streams:
// the reference bureau (knowledge/bureau) never serves those.
type fakeBureau struct {
	bureauv1.UnimplementedBureauServiceServer
	mu       sync.Mutex
	latest   knowledge.Manifest
	chunks   []*bureauv1.ReleaseChunk // what FetchRelease streams
	events   []*bureauv1.PhysicianEvent
	eventKey ed25519.PrivateKey
	fetches  int
}

func (f *fakeBureau) GetLatestRelease(ctx context.Context, _ *bureauv1.GetLatestReleaseRequest) (*bureauv1.GetLatestReleaseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &bureauv1.GetLatestReleaseResponse{Manifest: wire.ManifestToProto(f.latest), VersionsBehind: 1}, nil
}

func (f *fakeBureau) FetchRelease(_ *bureauv1.FetchReleaseRequest, stream grpc.ServerStreamingServer[bureauv1.FetchReleaseResponse]) error {
	f.mu.Lock()
	cs := f.chunks
	f.fetches++
	f.mu.Unlock()
	for _, c := range cs {
		if err := stream.Send(&bureauv1.FetchReleaseResponse{Chunk: c}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeBureau) ListPhysicianEvents(_ context.Context, req *bureauv1.ListPhysicianEventsRequest) (*bureauv1.ListPhysicianEventsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var page []*bureauv1.PhysicianEvent
	var plain []knowledge.PhysicianEvent
	for _, e := range f.events {
		if e.Seq > req.AfterSeq && len(page) < int(req.Limit) {
			page = append(page, e)
			k, _ := wire.EventFromProto(e)
			plain = append(plain, k)
		}
	}
	resp := &bureauv1.ListPhysicianEventsResponse{Events: page}
	if n := len(f.events); n > 0 {
		resp.LastSeq = f.events[n-1].Seq
	}
	if len(page) > 0 {
		sig, err := knowledge.SignEventPage(req.AfterSeq, plain, f.eventKey)
		if err != nil {
			return nil, err
		}
		resp.Signature = sig
	}
	return resp, nil
}

// storeTarget installs into the store and remembers the feed, like the
// sidecar's server.Knowledge without the engine.
type storeTarget struct {
	st       *store.Store
	mu       sync.Mutex
	feed     []knowledge.PhysicianEvent
	installs int
	deltas   int // of installs, those handed to InstallDelta
}

func (t *storeTarget) InstallDelta(ctx context.Context, m knowledge.Manifest, d store.Delta) error {
	if _, err := t.st.ApplyDelta(ctx, m, d); err != nil {
		return err
	}
	t.installs++
	t.deltas++
	return t.st.Activate(ctx, m.Version)
}

func (t *storeTarget) InstallRelease(ctx context.Context, m knowledge.Manifest, records []knowledge.Record) error {
	if err := t.st.PutRelease(ctx, m, records); err != nil {
		return err
	}
	t.installs++
	return t.st.Activate(ctx, m.Version)
}

func (t *storeTarget) SetPhysicianFeed(events []knowledge.PhysicianEvent) {
	t.mu.Lock()
	t.feed = events
	t.mu.Unlock()
}

type fixture struct {
	bureau  *fakeBureau
	key     ed25519.PrivateKey
	st      *store.Store
	target  *storeTarget
	client  *Client
	addr    string
	stopSrv func()
	clock   *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{key: key(1), clock: &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}}
	f.bureau = &fakeBureau{eventKey: f.key}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	bureauv1.RegisterBureauServiceServer(srv, f.bureau)
	go srv.Serve(lis)
	f.stopSrv = srv.Stop
	t.Cleanup(srv.Stop)
	f.addr = lis.Addr().String()
	f.st, err = store.Open(context.Background(), store.Options{Dir: t.TempDir(), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	f.target = &storeTarget{st: f.st}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f.client, err = New(context.Background(), f.addr, conn, f.st, f.target, Options{
		Trusted: []ed25519.PublicKey{pub(f.key)}, PollInterval: time.Second, StaleAfter: time.Minute,
		Logger: quietLog(), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func recordsN(n int, tag string) []knowledge.Record {
	out := make([]knowledge.Record, n)
	for i := range out {
		out[i] = knowledge.Record{Class: knowledge.ClassDrug, Key: fmt.Sprintf("K%05d", i), Value: fmt.Appendf(nil, `{"v":"%s%d"}`, tag, i)}
	}
	return out
}

func (f *fixture) release(_ *testing.T, version, parent string, recs []knowledge.Record, created time.Time, signer ed25519.PrivateKey) knowledge.Manifest {
	m := knowledge.NewManifest(version, parent, created, recs)
	m, err := knowledge.SignManifest(m, signer)
	if err != nil {
		panic(err) // JSON of a manifest cannot fail
	}
	return m
}

// serve makes the fake bureau offer rel (as chunks, optionally damaged).
func (f *fixture) serve(t *testing.T, rel *wire.Release, damage func([]*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk) {
	t.Helper()
	var cs []*bureauv1.ReleaseChunk
	if err := wire.Send(rel, 64, func(c *bureauv1.ReleaseChunk) error {
		cs = append(cs, proto.Clone(c).(*bureauv1.ReleaseChunk))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if damage != nil {
		cs = damage(cs)
	}
	f.bureau.mu.Lock()
	f.bureau.latest, f.bureau.chunks = rel.Manifest, cs
	f.bureau.mu.Unlock()
}

// fingerprint is what "store unchanged" means: the active release's
// content hash, every stored release and the feed cursor.
func (f *fixture) fingerprint(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	m, _, err := f.st.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rels, err := f.st.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, r := range rels {
		vs = append(vs, r.Version+"="+r.ContentSHA256)
	}
	_, cursor, err := f.st.PhysicianEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "" {
		if err := f.st.Verify(ctx, m.Version); err != nil {
			t.Fatalf("active release does not verify: %v", err)
		}
	}
	return fmt.Sprintf("active=%s sha=%s releases=%v cursor=%d", m.Version, m.ContentSHA256, vs, cursor)
}

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestSyncFullDeltaAndFeed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v1 := recordsN(500, "a")
	m1 := f.release(t, "2026.11.01", "", v1, t0, f.key)
	f.serve(t, &wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(v1)}, nil)
	f.bureau.events = []*bureauv1.PhysicianEvent{
		{Seq: 1, PhysicianCode: "D1", Type: bureauv1.PhysicianEventType_POINTS_ADDED, Date: "2026-03-01", Points: 4},
		{Seq: 2, PhysicianCode: "D1", Type: bureauv1.PhysicianEventType_SUSPENDED, Date: "2026-11-01", Until: "2027-01-31"},
	}
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := f.st.Active(ctx); m.Version != m1.Version {
		t.Fatalf("after full sync: active %q", m.Version)
	}
	if len(f.target.feed) != 2 || f.target.feed[1].Type != "SUSPENDED" {
		t.Fatalf("feed %+v", f.target.feed)
	}

	// A delta: 100 replaced, 50 removed, 20 added.
	v2 := slices.Clone(v1[:450])
	for i := 0; i < 100; i++ {
		v2[i] = knowledge.Record{Class: v2[i].Class, Key: v2[i].Key, Value: []byte(`{"v":"new"}`)}
	}
	v2 = append(v2, recordsN(470, "b")[450:]...)
	m2 := f.release(t, "2026.11.15", m1.Version, v2, t0.Add(14*24*time.Hour), f.key)
	f.serve(t, &wire.Release{Manifest: m2, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: m1.Version, BaseSHA256: m1.ContentSHA256, Ops: wire.Diff(v1, v2)}, nil)
	f.bureau.events = append(f.bureau.events, &bureauv1.PhysicianEvent{Seq: 3, PhysicianCode: "D2", Type: bureauv1.PhysicianEventType_POINTS_ADDED, Date: "2026-11-20", Points: 2})
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.Records(ctx, m2.Version)
	if err != nil {
		t.Fatal(err)
	}
	if knowledge.HashRecords(got) != m2.ContentSHA256 {
		t.Fatal("delta result differs from the bureau's release")
	}
	st := f.client.Status()
	if st.ActiveVersion != m2.Version || st.FeedCursor != 3 || st.ReleasesApplied != 2 || st.LastError != "" || st.Stale {
		t.Fatalf("status %+v", st)
	}
	// Up to date: no fetch.
	before := f.bureau.fetches
	if err := f.client.SyncNow(ctx); err != nil || f.bureau.fetches != before {
		t.Fatalf("up-to-date poll fetched again (%v)", err)
	}
	// The cursor and the feed survive a restart of the client.
	c2, err := New(ctx, f.addr, f.client.conn, f.st, &storeTarget{st: f.st}, Options{Trusted: []ed25519.PublicKey{pub(f.key)}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if c2.cursor != 3 || len(c2.feed) != 3 || c2.Status().LastSuccess.IsZero() {
		t.Fatalf("restarted client: cursor %d, %d events, status %+v", c2.cursor, len(c2.feed), c2.Status())
	}
}

// A small delta reaches the target with its base and is stored as an
// overlay on the release it was applied to; a full release is not.
func TestSyncDeltaStoredAsOverlay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v1 := recordsN(500, "a")
	m1 := f.release(t, "2026.11.01", "", v1, t0, f.key)
	f.serve(t, &wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(v1)}, nil)
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if f.target.deltas != 0 {
		t.Fatalf("a full release went to InstallDelta")
	}
	// 10 replaced, the last 5 removed, 5 added.
	v2 := slices.Clone(v1[:495])
	for i := 0; i < 10; i++ {
		v2[i*40] = knowledge.Record{Class: v2[i*40].Class, Key: v2[i*40].Key, Value: []byte(`{"v":"new"}`)}
	}
	for i := range 5 {
		v2 = append(v2, knowledge.Record{Class: knowledge.ClassDrug, Key: fmt.Sprintf("Z%d", i), Value: []byte(`{"v":"added"}`)})
	}
	m2 := f.release(t, "2026.11.15", m1.Version, v2, t0.Add(14*24*time.Hour), f.key)
	f.serve(t, &wire.Release{Manifest: m2, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: m1.Version, BaseSHA256: m1.ContentSHA256, Ops: wire.Diff(v1, v2)}, nil)
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if f.target.deltas != 1 {
		t.Fatalf("the delta was not handed to InstallDelta (%d)", f.target.deltas)
	}
	rs, err := f.st.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[1].Version != m2.Version || !rs[1].Active || rs[1].Base != m1.Version || rs[1].Manifest.Signature != m2.Signature {
		t.Fatalf("releases %+v: want %s active, stored as changes to %s, with the bureau's signed manifest", rs, m2.Version, m1.Version)
	}
	got, err := f.st.Records(ctx, m2.Version)
	if err != nil {
		t.Fatal(err)
	}
	if knowledge.HashRecords(got) != m2.ContentSHA256 || len(got) != len(v2) {
		t.Fatal("overlay's records differ from the bureau's release")
	}
}

// Every damaged or foreign release is rejected with a clear error and the
// store is exactly as before (content hash, releases, cursor).
func TestSyncRejectsAndStoreUnchanged(t *testing.T) {
	v1 := recordsN(300, "a")
	v2 := slices.Clone(v1)
	for i := range 40 {
		v2[i*5] = knowledge.Record{Class: v2[i*5].Class, Key: v2[i*5].Key, Value: []byte(`{"v":"changed"}`)}
	}
	other := recordsN(250, "z") // a release the sidecar does not have
	recompute := func(cs []*bureauv1.ReleaseChunk) {
		h := sha(cs)
		cs[len(cs)-1].GetTrailer().OpsSha256 = h
	}
	cases := []struct {
		name   string
		build  func(f *fixture, m1 knowledge.Manifest) *wire.Release
		damage func([]*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk
		want   string
	}{
		{"one byte of a value changed", delta(v1, v2), func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk {
			cs[1].GetBatch().Ops[0].Value[3] ^= 1
			return cs
		}, "damaged in transfer"},
		{"one byte changed, trailer recomputed", delta(v1, v2), func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk {
			cs[1].GetBatch().Ops[0].Value[3] ^= 1
			recompute(cs)
			return cs
		}, "does not match its manifest"},
		{"truncated stream", delta(v1, v2), func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk { return cs[:len(cs)-1] }, "truncated"},
		{"wrong key", func(f *fixture, m1 knowledge.Manifest) *wire.Release {
			rel := delta(v1, v2)(f, m1)
			rel.Manifest, _ = knowledge.SignManifest(rel.Manifest, key(9))
			return rel
		}, nil, "not among the trusted keys"},
		{"delta against the wrong parent", func(f *fixture, m1 knowledge.Manifest) *wire.Release {
			base := f.release(nil, "2026.10.01", "", other, t0, f.key)
			m2 := f.release(nil, "2026.11.15", base.Version, v2, t0.Add(time.Hour), f.key)
			return &wire.Release{Manifest: m2, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: base.Version, BaseSHA256: base.ContentSHA256, Ops: wire.Diff(other, v2)}
		}, nil, "does not apply"},
		{"delta claims our parent but was built on another", func(f *fixture, m1 knowledge.Manifest) *wire.Release {
			m2 := f.release(nil, "2026.11.15", m1.Version, v2, t0.Add(time.Hour), f.key)
			return &wire.Release{Manifest: m2, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: m1.Version, BaseSHA256: m1.ContentSHA256, Ops: wire.Diff(other, v2)}
		}, nil, "does not apply"},
		{"older than the active release", func(f *fixture, m1 knowledge.Manifest) *wire.Release {
			m0 := f.release(nil, "2026.10.01", "", other, t0.Add(-time.Hour), f.key)
			return &wire.Release{Manifest: m0, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(other)}
		}, nil, "refusing to go back"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			m1 := f.release(t, "2026.11.01", "", v1, t0, f.key)
			f.serve(t, &wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(v1)}, nil)
			if err := f.client.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
			before := f.fingerprint(t)
			f.serve(t, tc.build(f, m1), tc.damage)
			err := f.client.SyncNow(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if after := f.fingerprint(t); after != before {
				t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
			}
			st := f.client.Status()
			if st.LastError == "" || st.ConsecutiveFailures != 1 || st.ActiveVersion != m1.Version {
				t.Fatalf("status after rejection: %+v", st)
			}
		})
	}
}

func delta(v1, v2 []knowledge.Record) func(f *fixture, m1 knowledge.Manifest) *wire.Release {
	return func(f *fixture, m1 knowledge.Manifest) *wire.Release {
		m2 := f.release(nil, "2026.11.15", m1.Version, v2, t0.Add(time.Hour), f.key)
		return &wire.Release{Manifest: m2, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: m1.Version, BaseSHA256: m1.ContentSHA256, Ops: wire.Diff(v1, v2)}
	}
}

// sha recomputes a stream's operation hash the way wire does (by sending
// the ops again through wire.Send).
func sha(cs []*bureauv1.ReleaseChunk) string {
	var ops []wire.Op
	for _, c := range cs {
		for _, op := range c.GetBatch().GetOps() {
			ops = append(ops, wire.Op{Kind: op.Kind, Record: knowledge.Record{Class: knowledge.Class(op.Class), Key: op.Key, Value: op.Value}})
		}
	}
	var trailer string
	_ = wire.Send(&wire.Release{Ops: ops}, 1<<20, func(c *bureauv1.ReleaseChunk) error {
		if t := c.GetTrailer(); t != nil {
			trailer = t.OpsSha256
		}
		return nil
	})
	return trailer
}

func TestSyncRejectsForgedFeed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v1 := recordsN(10, "a")
	m1 := f.release(t, "v1", "", v1, t0, f.key)
	f.serve(t, &wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(v1)}, nil)
	f.bureau.events = []*bureauv1.PhysicianEvent{{Seq: 1, PhysicianCode: "D1", Type: bureauv1.PhysicianEventType_RESTORED, Date: "2026-11-01"}}
	f.bureau.eventKey = key(7) // not trusted
	err := f.client.SyncNow(ctx)
	if err == nil || !errors.Is(err, knowledge.ErrSignature) {
		t.Fatalf("forged feed page: %v", err)
	}
	if _, cursor, _ := f.st.PhysicianEvents(ctx); cursor != 0 || len(f.target.feed) != 0 {
		t.Fatalf("forged events stored: cursor %d", cursor)
	}

	// The trusted key again: stored. Then the feed shrinks (a reset, or
	// another bureau): an error, the stored events stay.
	f.bureau.eventKey = f.key
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	f.bureau.events = nil
	if err := f.client.SyncNow(ctx); err == nil || !strings.Contains(err.Error(), "feed was reset") {
		t.Fatalf("feed behind our cursor: %v", err)
	}
	if _, cursor, _ := f.st.PhysicianEvents(ctx); cursor != 1 {
		t.Fatalf("cursor %d after a shrunken feed, want 1", cursor)
	}
}

// While the bureau is unreachable polls fail, the status says so, and the
// release stays; stale once stale_after has passed since the last success.
func TestSyncBureauDownStaleness(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v1 := recordsN(10, "a")
	m1 := f.release(t, "v1", "", v1, t0, f.key)
	f.serve(t, &wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(v1)}, nil)
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	f.stopSrv()
	for i := 1; i <= 3; i++ {
		f.clock.Add(30 * time.Second)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := f.client.SyncNow(cctx)
		cancel()
		if err == nil {
			t.Fatal("poll succeeded with the bureau down")
		}
		st := f.client.Status()
		if st.ConsecutiveFailures != i || st.ActiveVersion != "v1" {
			t.Fatalf("after %d failures: %+v", i, st)
		}
		wantStale := time.Duration(i)*30*time.Second > time.Minute
		if st.Stale != wantStale || f.client.Stale() != wantStale {
			t.Fatalf("after %s without the bureau: stale %v (Stale() %v), want %v", time.Duration(i)*30*time.Second, st.Stale, f.client.Stale(), wantStale)
		}
	}
	if m, _, _ := f.st.Active(ctx); m.Version != "v1" {
		t.Fatalf("active release changed to %q", m.Version)
	}
}

func TestRunBacksOffWhileDown(t *testing.T) {
	f := newFixture(t)
	f.stopSrv()
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	f.client.opts.PollInterval = 200 * time.Millisecond
	f.client.opts.MaxBackoff = time.Hour
	f.client.Run(ctx)
	// Waits of 0.5–1 s, then 1–2 s: 2.5 s allow at most 3 attempts; a
	// client polling at its interval would have made 10 or more.
	if n := f.client.Status().Failures; n < 1 || n > 3 {
		t.Fatalf("%d attempts in 2.5 s while down", n)
	}
}

func TestCheckCreated(t *testing.T) {
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		created time.Time
		skew    time.Duration
		ok      bool
	}{
		{now.Add(-365 * 24 * time.Hour), time.Hour, true},
		{now.Add(time.Hour), time.Hour, true},
		{now.Add(time.Hour + time.Second), time.Hour, false},
		{time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), DefaultMaxClockSkew, false},
	} {
		err := CheckCreated(knowledge.Manifest{Version: "v", Created: tc.created}, now, tc.skew)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrFutureRelease)) {
			t.Errorf("created %s, skew %s: %v", tc.created, tc.skew, err)
		}
	}
}

// TestRefused: what store.ApplyDelta refuses is reported as wire reports a
// refused release; other errors are not refusals.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("apply: %w", store.ErrInvalidRelease), wire.ErrContent},
		{fmt.Errorf("apply: %w", store.ErrDeltaBase), wire.ErrBase},
		{fmt.Errorf("apply: %w", store.ErrBusy), nil},
		{nil, nil},
	} {
		got := Refused(tc.err)
		if (got == nil) != (tc.want == nil) || (got != nil && (!errors.Is(got, tc.want) || !errors.Is(got, tc.err))) {
			t.Errorf("Refused(%v) = %v, want one matching %v and the error", tc.err, got, tc.want)
		}
	}
}

// TestPrepareRefusesADelta: Prepare proves full releases only; a delta is
// proven as the store applies it (PrepareDelta, store.ApplyDelta).
func TestPrepareRefusesADelta(t *testing.T) {
	f := newFixture(t)
	v1 := recordsN(10, "a")
	m1 := f.release(t, "2026.11.01", "", v1, t0, f.key)
	trusted := []ed25519.PublicKey{pub(f.key)}
	if _, recs, err := Prepare(&wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(v1)}, trusted); err != nil || len(recs) != len(v1) {
		t.Fatalf("Prepare of the full release: %d records, %v", len(recs), err)
	}
	delta := &wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: "2026.10.01",
		BaseSHA256: m1.ContentSHA256, Ops: wire.FullOps(v1)}
	if _, _, err := Prepare(delta, trusted); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("Prepare of a delta = %v, want ErrMalformed", err)
	}
}

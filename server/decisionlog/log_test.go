package decisionlog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func warnSpec(seq uint64) spec {
	return spec{
		at: t0.Add(time.Duration(seq) * time.Second), seq: seq,
		physician: "D370800000001", physicianName: "张明", physDept: "A03", encDept: "A03", patient: "P0001",
		verdict: rxguardv1.Verdict_VERDICT_WARN,
		findings: []fspec{
			{ruleType: "PAYMENT_COURSE", action: rxguardv1.Action_ACTION_WARN, overridable: true, lines: []int{0}},
			{ruleType: "DRUG_GENDER", action: rxguardv1.Action_ACTION_BLOCK, overridable: false, lines: []int{1}},
		},
	}
}

// want is the Decision Get should return for e.
func want(e Entry, sidecar string) *rxguardv1.Decision {
	return &rxguardv1.Decision{DecisionId: e.ID, Time: e.Time.Format(time.RFC3339Nano), SidecarId: sidecar, Request: e.Request, Response: e.Response}
}

// blockWriter parks the writer in a call until release is called.
func blockWriter(t testing.TB, l *Log) (release func()) {
	t.Helper()
	started, rel := make(chan struct{}), make(chan struct{})
	go l.do(context.Background(), "", func(*Log) error {
		close(started)
		<-rel
		return nil
	})
	<-started
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	return release
}

func TestAppendGetRoundTrip(t *testing.T) {
	l := openTest(t, Options{})
	e := entry(warnSpec(1))
	l.Append(context.Background(), e)
	flush(t, l)
	got, err := l.Get(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w := want(e, "test-sidecar"); !proto.Equal(w, got) {
		t.Fatalf("Get:\n%s\nwant\n%s", prototext.Format(got), prototext.Format(w))
	}
	// Upper-case ids name the same decision.
	if _, err := l.Get(context.Background(), strings.ToUpper(e.ID)); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Written != 1 || st.Failed != 0 || st.Commits == 0 {
		t.Fatalf("stats %+v", st)
	}
	if s := l.Status(); s.State != StateOK || s.Detail.Written != 1 {
		t.Fatalf("status %+v", s)
	}
}

func TestGetNotFound(t *testing.T) {
	l := openTest(t, Options{})
	for _, id := range []string{NewID(time.Now()), "not-a-uuid", ""} {
		if _, err := l.Get(context.Background(), id); !errors.Is(err, ErrDecisionNotFound) {
			t.Errorf("Get(%q) = %v, want ErrDecisionNotFound", id, err)
		}
	}
}

func TestEntryTimeDefaultsToNow(t *testing.T) {
	now := t0.Add(time.Hour)
	l := openTest(t, Options{Now: func() time.Time { return now }})
	e := entry(warnSpec(1))
	e.Time = time.Time{}
	l.Append(context.Background(), e)
	flush(t, l)
	got, err := l.Get(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Time != now.Format(time.RFC3339Nano) {
		t.Fatalf("time %q, want %q", got.Time, now.Format(time.RFC3339Nano))
	}
}

func TestUnusableEntriesCountedAsFailed(t *testing.T) {
	l := openTest(t, Options{})
	good := entry(warnSpec(1))
	badID := entry(warnSpec(2))
	badID.ID = "decision-7"
	noResp := entry(warnSpec(3))
	noResp.Response = nil
	for _, e := range []Entry{badID, good, noResp} {
		l.Append(context.Background(), e)
	}
	if err := l.Flush(context.Background()); err == nil {
		t.Fatal("Flush reported no failure")
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatalf("second Flush: %v (failures are reported once)", err)
	}
	if st := l.Stats(); st.Written != 1 || st.Failed != 2 {
		t.Fatalf("stats %+v, want 1 written, 2 failed", st)
	}
	// Bad entries are the caller's bug, not the store's: not degraded.
	if s := l.Status(); s.State != StateOK || !strings.Contains(s.Detail.LastError, "no response") {
		t.Fatalf("status %+v", s)
	}
	if _, err := l.Get(context.Background(), good.ID); err != nil {
		t.Fatal(err)
	}
}

func TestBackPressureWaitsAndDropsNothing(t *testing.T) {
	const queue, n = 4, 40
	l := openTest(t, Options{QueueSize: queue, MaxBatch: 8})
	release := blockWriter(t, l)
	var wg sync.WaitGroup
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = entry(warnSpec(uint64(i)))
	}
	for i := range entries {
		wg.Go(func() { l.Append(context.Background(), entries[i]) })
	}
	// The queue fills; the other Appends wait for room.
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Waited < n-queue && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := l.Stats(); st.Waited < n-queue || st.QueueDepth != queue {
		t.Fatalf("stats %+v: want %d waited, queue depth %d", st, n-queue, queue)
	}
	release()
	wg.Wait()
	flush(t, l)
	st := l.Stats()
	if st.Written != n || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want all %d written", st, n)
	}
	for _, e := range entries {
		if _, err := l.Get(context.Background(), e.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendDroppedWhenContextEndsWaiting(t *testing.T) {
	l := openTest(t, Options{QueueSize: 1})
	release := blockWriter(t, l)
	l.Append(context.Background(), entry(warnSpec(1))) // fills the queue
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	l.Append(ctx, entry(warnSpec(2)))
	if st := l.Stats(); st.Dropped != 1 || st.Waited != 1 {
		t.Fatalf("stats %+v: want 1 waited, 1 dropped", st)
	}
	release()
	flush(t, l)
	if st := l.Stats(); st.Written != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCloseFlushesEverythingQueued(t *testing.T) {
	dir := t.TempDir()
	const n = 600
	// A long interval and a large batch: nothing commits by itself before
	// Close.
	l, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger(), CommitInterval: 500 * time.Millisecond, MaxBatch: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		l.Append(context.Background(), entry(warnSpec(uint64(i))))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	l.Append(context.Background(), entry(warnSpec(n+1)))
	if st := l.Stats(); st.Written != n || st.Dropped != 1 {
		t.Fatalf("stats %+v: want %d written, the append after Close dropped", st, n)
	}
	if _, err := l.Get(context.Background(), entry(warnSpec(1)).ID); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := l.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}

	l2 := openTest(t, Options{Dir: dir})
	if got := countAll(t, l2, Query{}); got != n {
		t.Fatalf("%d decisions after reopening, want %d", got, n)
	}
}

// countAll counts a query's matches over all pages.
func countAll(t testing.TB, l *Log, q Query) int {
	t.Helper()
	q.PageSize = MaxPageSize
	n := 0
	for {
		decs, next, err := l.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(decs)
		if next == "" {
			return n
		}
		q.PageToken = next
	}
}

func TestSyncDurabilityVisibleOnReturn(t *testing.T) {
	// A long interval shows that Sync waits for its group commit, not for
	// a later Flush.
	l := openTest(t, Options{Durability: Sync, CommitInterval: 20 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			e := entry(warnSpec(uint64(i)))
			l.Append(context.Background(), e)
			if _, err := l.Get(context.Background(), e.ID); err != nil {
				t.Errorf("right after a Sync Append: %v", err)
			}
		})
	}
	wg.Wait()
	// Concurrent Sync Appends share group commits.
	if st := l.Stats(); st.Written != 20 || st.Commits >= 20 {
		t.Fatalf("stats %+v: want 20 written in fewer commits", st)
	}
}

func TestAsyncAppendNotVisibleBeforeCommit(t *testing.T) {
	l := openTest(t, Options{CommitInterval: time.Second})
	e := entry(warnSpec(1))
	l.Append(context.Background(), e)
	if _, err := l.Get(context.Background(), e.ID); !errors.Is(err, ErrDecisionNotFound) {
		t.Fatalf("Get before the commit: %v (the test assumes the 1 s group is still open)", err)
	}
	flush(t, l)
	if _, err := l.Get(context.Background(), e.ID); err != nil {
		t.Fatal(err)
	}
}

func TestAppendAsyncDoesNotAllocate(t *testing.T) {
	l := openTest(t, Options{QueueSize: 4096})
	e := entry(warnSpec(1))
	// The writer is parked so that only Append's allocations are counted
	// (AllocsPerRun counts the whole process).
	release := blockWriter(t, l)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() { l.Append(ctx, e) })
	release()
	if allocs != 0 {
		t.Fatalf("Append allocates %.1f times per call, want 0", allocs)
	}
}

func TestOptionsRejected(t *testing.T) {
	for name, o := range map[string]Options{
		"no dir":          {},
		"long interval":   {Dir: t.TempDir(), CommitInterval: 2 * time.Second},
		"bad durability":  {Dir: t.TempDir(), Durability: 7},
		"negative queue":  {Dir: t.TempDir(), QueueSize: -1},
		"negative retain": {Dir: t.TempDir(), Retention: -time.Hour},
		"negative sync":   {Dir: t.TempDir(), SyncInterval: -time.Second},
		"long sync":       {Dir: t.TempDir(), SyncInterval: 2 * MaxSyncInterval},
	} {
		if l, err := Open(context.Background(), o); err == nil {
			l.Close()
			t.Errorf("%s: Open accepted %+v", name, o)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, Options{Dir: t.TempDir()}); err == nil {
		t.Error("Open with an ended context succeeded")
	}
}

func TestParseDurability(t *testing.T) {
	for s, want := range map[string]Durability{"": Async, "async": Async, "SYNC": Sync, " sync ": Sync} {
		if got, err := ParseDurability(s); err != nil || got != want {
			t.Errorf("ParseDurability(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseDurability("fsync"); err == nil {
		t.Error("ParseDurability(fsync) succeeded")
	}
}

// Stored decisions are the Decision proto in one S2 block, behind the
// version byte: a future reader can decode them without this package.
func TestStoredValueIsDecisionProto(t *testing.T) {
	l := openTest(t, Options{})
	e := entry(warnSpec(1))
	l.Append(context.Background(), e)
	flush(t, l)
	db, err := l.enter()
	if err != nil {
		t.Fatal(err)
	}
	defer l.life.Leave()
	u, _ := parseID(e.ID)
	txn := db.NewTransaction(false)
	defer txn.Discard()
	item, err := txn.Get(appendDecisionKey(nil, &u))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := item.ValueCopy(nil)
	var d rxguardv1.Decision
	if v[0] != valueVersionS2 {
		t.Fatalf("stored value version %d, want %d", v[0], valueVersionS2)
	}
	plain, err := s2.Decode(nil, v[1:])
	if err != nil || proto.Unmarshal(plain, &d) != nil || !proto.Equal(&d, want(e, "test-sidecar")) {
		t.Fatalf("stored value does not decode to the decision")
	}
	if item.ExpiresAt() == 0 {
		t.Fatal("decision stored without an expiry")
	}
}

package decisionlog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// setSyncHook runs fn at the start of every sync until the test ends.
func setSyncHook(t *testing.T, fn func() error) {
	t.Helper()
	syncHook.Store(&fn)
	t.Cleanup(func() { syncHook.Store(nil) })
}

// syncedAll reports whether every commit so far has been synced.
func syncedAll(l *Log) bool {
	l.syncing.mu.Lock()
	defer l.syncing.mu.Unlock()
	return l.syncing.synced == l.commits.Load()
}

// A slow disk must not hold up the group commits in Async durability:
// a decision is committed (visible, and safe from a kill) within the
// commit interval while every sync takes far longer, and while readers
// flush (the audit service's barrier) and physicians answer, each waiting
// for a sync. With SyncWrites each commit waited for its fsync, and the
// decisions behind it in the queue.
func TestAsyncCommitsDoNotWaitForSync(t *testing.T) {
	const slowSync = 300 * time.Millisecond
	var syncs atomic.Int64
	setSyncHook(t, func() error {
		syncs.Add(1)
		time.Sleep(slowSync)
		return nil
	})
	l := openTest(t, Options{SyncInterval: time.Millisecond})
	ctx := context.Background()
	answered := entry(warnSpec(0))
	l.Append(ctx, answered)
	stop := make(chan struct{})
	var waiters sync.WaitGroup
	var flushes, responses atomic.Int64
	waiters.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := l.Flush(ctx); err != nil {
				t.Error(err)
				return
			}
			flushes.Add(1)
		}
	})
	waiters.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := modify(answered.Response.Findings[0].FindingId)
			if i%2 == 1 {
				r = cont(answered.Response.Findings[0].FindingId, "OTHER", "复核")
			}
			if _, err := l.RecordResponses(ctx, answered.ID, []*rxguardv1.FindingResponse{r}, time.Time{}); err != nil {
				t.Error(err)
				return
			}
			responses.Add(1)
		}
	})
	defer func() {
		close(stop)
		waiters.Wait()
	}()
	var worst time.Duration
	deadline := time.Now().Add(time.Second)
	for seq := uint64(1); time.Now().Before(deadline); seq++ {
		e := entry(warnSpec(seq))
		start := time.Now()
		l.Append(ctx, e)
		for {
			if _, err := l.Get(ctx, e.ID); err == nil {
				break
			} else if !errors.Is(err, ErrDecisionNotFound) {
				t.Fatal(err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("decision %d not committed after 5 s", seq)
			}
			time.Sleep(500 * time.Microsecond)
		}
		worst = max(worst, time.Since(start))
		time.Sleep(3 * time.Millisecond)
	}
	t.Logf("every sync %v (%d syncs; %d flushes and %d responses waited for them): a decision was committed at most %v after its Append",
		slowSync, syncs.Load(), flushes.Load(), responses.Load(), worst.Round(100*time.Microsecond))
	if syncs.Load() < 2 || flushes.Load() == 0 || responses.Load() == 0 {
		t.Fatalf("%d syncs, %d flushes, %d responses in a second", syncs.Load(), flushes.Load(), responses.Load())
	}
	if limit := DefaultCommitInterval + 50*time.Millisecond; worst > limit {
		t.Fatalf("a decision took %v to be committed (limit %v): the writer waited for a sync", worst, limit)
	}
}

func TestAsyncSyncsPeriodically(t *testing.T) {
	var syncs atomic.Int64
	setSyncHook(t, func() error { syncs.Add(1); return nil })
	l := openTest(t, Options{SyncInterval: 20 * time.Millisecond})
	l.Append(context.Background(), entry(warnSpec(1)))
	deadline := time.Now().Add(5 * time.Second)
	for !(l.Stats().Written == 1 && syncedAll(l)) {
		if time.Now().After(deadline) {
			t.Fatalf("the decision was not synced in 5 s (%d syncs)", syncs.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Nothing new: the syncer does not sync again.
	n := syncs.Load()
	time.Sleep(100 * time.Millisecond)
	if syncs.Load() != n {
		t.Fatalf("%d syncs with nothing committed", syncs.Load()-n)
	}
}

func TestSyncDurabilitySyncsBeforeAppendReturns(t *testing.T) {
	var syncs atomic.Int64
	setSyncHook(t, func() error { syncs.Add(1); return nil })
	l := openTest(t, Options{Durability: Sync})
	for i := range 5 {
		l.Append(context.Background(), entry(warnSpec(uint64(i))))
		if !syncedAll(l) {
			t.Fatalf("Append %d returned before its group commit was synced", i)
		}
	}
	if st := l.Stats(); st.Written != 5 || syncs.Load() != int64(st.Commits) {
		t.Fatalf("stats %+v, %d syncs: want one sync per group commit", st, syncs.Load())
	}
}

// RecordResponses, LinkSigned and Flush return after a sync that covers
// them and every decision before them; with nothing new, no sync.
func TestDurableCallsSync(t *testing.T) {
	var syncs atomic.Int64
	setSyncHook(t, func() error { syncs.Add(1); return nil })
	l := openTest(t, Options{SyncInterval: MaxSyncInterval}) // no periodic sync in this test
	ctx := context.Background()
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	flush(t, l)
	if !syncedAll(l) || syncs.Load() != 1 {
		t.Fatalf("after Flush: synced %v, %d syncs", syncedAll(l), syncs.Load())
	}
	flush(t, l)
	if syncs.Load() != 1 {
		t.Fatalf("a Flush with nothing committed synced (%d syncs)", syncs.Load())
	}
	l.Append(ctx, entry(warnSpec(2)))
	// The response's commit and the queued decision's: one sync.
	if _, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if !syncedAll(l) || syncs.Load() != 2 {
		t.Fatalf("after RecordResponses: synced %v, %d syncs", syncedAll(l), syncs.Load())
	}
	if err := l.LinkSigned(ctx, e.ID, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	if !syncedAll(l) || syncs.Load() != 3 {
		t.Fatalf("after LinkSigned: synced %v, %d syncs", syncedAll(l), syncs.Load())
	}
}

func TestSyncFailureDegradesUntilItSyncsAgain(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	setSyncHook(t, func() error {
		if fail.Load() {
			return errors.New("input/output error")
		}
		return nil
	})
	l := openTest(t, Options{SyncInterval: MaxSyncInterval})
	ctx := context.Background()
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	if err := l.Flush(ctx); err == nil || !strings.Contains(err.Error(), "sync the decision log") {
		t.Fatalf("Flush with a failing sync: %v", err)
	}
	resp := []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}
	if _, err := l.RecordResponses(ctx, e.ID, resp, time.Time{}); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("RecordResponses with a failing sync: %v", err)
	}
	s := l.Status()
	if s.State != StateDegraded || !strings.Contains(s.Message, "cannot sync") || !strings.Contains(s.Detail.LastError, "input/output error") {
		t.Fatalf("status %+v", s)
	}
	// A commit does not hide the failing sync.
	l.Append(ctx, entry(warnSpec(2)))
	_ = l.Flush(ctx)
	if s := l.Status(); s.State != StateDegraded {
		t.Fatalf("status after a commit with the sync still failing %+v", s)
	}

	fail.Store(false)
	// The retry stores nothing new (the revision was committed) and is
	// acknowledged only once synced.
	if n, err := l.RecordResponses(ctx, e.ID, resp, time.Time{}); err != nil || n != 0 {
		t.Fatalf("RecordResponses retried: %d, %v", n, err)
	}
	l.Append(ctx, entry(warnSpec(3)))
	flush(t, l)
	if s := l.Status(); s.State != StateOK || !syncedAll(l) {
		t.Fatalf("status once syncing again %+v", s)
	}
}

func TestSyncMemtableLogs(t *testing.T) {
	l := openTest(t, Options{})
	l.Append(context.Background(), entry(warnSpec(1)))
	flush(t, l)
	// A committed decision lives in the active memtable's log: it is one
	// of the files synced.
	if n, err := syncMemtableLogs(l.opts.Dir); err != nil || n < 1 {
		t.Fatalf("synced %d memtable logs: %v", n, err)
	}
	if _, err := syncMemtableLogs(l.opts.Dir + "/missing"); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

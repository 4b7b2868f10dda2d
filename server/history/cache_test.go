package history

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The cache answers like the store: same entries for any since, new
// entries visible right after Record, retention applied on hits too.
func TestCacheAnswersLikeTheStore(t *testing.T) {
	ctx := context.Background()
	c := newClock(time.Now().Truncate(time.Second))
	cachedStore := openTemp(t, Options{Now: c.Now, Retention: 10 * 24 * time.Hour})
	plain := openTemp(t, Options{Now: c.Now, Retention: 10 * 24 * time.Hour, CacheEntries: -1})
	base := c.Now()
	var es []Entry
	for i := 0; i < 8; i++ {
		es = append(es, Entry{ItemCode: fmt.Sprintf("I%d", i), Quantity: 1, Time: base.Add(-time.Duration(i) * 24 * time.Hour), EncounterID: "E"})
	}
	for _, s := range []*Store{cachedStore, plain} {
		if _, err := s.Record(ctx, "P", es); err != nil {
			t.Fatal(err)
		}
	}
	same := func(when string, since time.Time) {
		t.Helper()
		a, err1 := cachedStore.Lookup(ctx, "P", since, c.Now())
		b, err2 := plain.Lookup(ctx, "P", since, c.Now())
		if err1 != nil || err2 != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: cached %v (%v), store %v (%v)", when, a, err1, b, err2)
		}
	}
	same("miss", base.Add(-3*24*time.Hour))
	same("hit, narrower since", base.Add(-1*24*time.Hour))
	same("hit, wider since", base.Add(-30*24*time.Hour))
	if hit, _ := cachedStore.Lookup(ctx, "P", base.Add(-30*24*time.Hour), base); len(hit) != 8 {
		t.Fatalf("want all 8 entries, got %d", len(hit))
	}
	// Hits share the cache's entries (no copy per caller; callers only
	// read them), capped so that a caller's append cannot write into them.
	hit, _ := cachedStore.Lookup(ctx, "P", base.Add(-30*24*time.Hour), base)
	again, _ := cachedStore.Lookup(ctx, "P", base.Add(-30*24*time.Hour), base)
	if &hit[0] != &again[0] {
		t.Errorf("two hits returned different copies; want the cache's shared entries")
	}
	if cap(hit) != len(hit) {
		t.Errorf("hit has cap %d > len %d: an append would write into the cache", cap(hit), len(hit))
	}
	_ = append(hit[:len(hit)-1:len(hit)-1], Entry{ItemCode: "APPENDED"})
	_ = append(hit, Entry{ItemCode: "APPENDED"})
	same("after a caller appended to its result", base.Add(-30*24*time.Hour))

	// A new entry is seen at once.
	more := []Entry{{ItemCode: "NEW", Quantity: 1, Time: base, EncounterID: "E2"}}
	for _, s := range []*Store{cachedStore, plain} {
		if _, err := s.Record(ctx, "P", more); err != nil {
			t.Fatal(err)
		}
	}
	same("after Record", base.Add(-30*24*time.Hour))

	// Time passes: entries leave retention on hits as they do in the store.
	c.Set(base.Add(5*24*time.Hour + time.Hour))
	same("after 5 days", base.Add(-30*24*time.Hour))

	// A patient with no history is cached as empty and still sees a new one.
	if h, _ := cachedStore.Lookup(ctx, "Q", base.Add(-time.Hour), base); h != nil {
		t.Fatalf("Q has history: %v", h)
	}
	if _, err := cachedStore.Record(ctx, "Q", more); err != nil {
		t.Fatal(err)
	}
	if h, _ := cachedStore.Lookup(ctx, "Q", base.Add(-time.Hour), base); len(h) != 1 {
		t.Errorf("Q after Record: %v", h)
	}
}

// Lookups racing Records never leave a stale history in the cache: after
// all writers are done, every patient's cached answer equals the store's.
func TestCacheNeverStaleUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	now := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				e := Entry{ItemCode: fmt.Sprintf("I%d", i), Quantity: 1, Time: now.Add(-time.Duration(i) * time.Minute), EncounterID: fmt.Sprint(w)}
				if _, err := s.Record(ctx, fmt.Sprintf("P%d", i%5), []Entry{e}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := s.Lookup(ctx, fmt.Sprintf("P%d", i%5), now.Add(-24*time.Hour), now); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for p := 0; p < 5; p++ {
		patient := fmt.Sprintf("P%d", p)
		got, _ := s.Lookup(ctx, patient, now.Add(-24*time.Hour), now)
		s.cache.invalidate(patient)
		want, _ := s.Lookup(ctx, patient, now.Add(-24*time.Hour), now)
		if len(got) != len(want) || len(want) != 40 {
			t.Errorf("%s: cached %d entries, store %d (want 40)", patient, len(got), len(want))
		}
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(100)
	for p := 0; p < 20; p++ {
		c.put(fmt.Sprint(p), make([]Entry, 10), farFuture, c.epoch)
	}
	if c.entries > 100 || c.lru.Len() > 10 {
		t.Errorf("cache holds %d entries of %d patients, bound 100", c.entries, c.lru.Len())
	}
	if _, ok, _ := c.get("19", time.Time{}, farFuture, time.Time{}); !ok {
		t.Error("most recent patient evicted")
	}
	if _, ok, _ := c.get("0", time.Time{}, farFuture, time.Time{}); ok {
		t.Error("least recent patient kept")
	}
	c.put("big", make([]Entry, 30), farFuture, c.epoch) // over a quarter of the bound: not cached
	if _, ok, _ := c.get("big", time.Time{}, farFuture, time.Time{}); ok {
		t.Error("oversized history cached")
	}
	e := c.epoch
	c.invalidate("19")
	c.put("19", make([]Entry, 1), farFuture, e) // read before the Record: refused
	if _, ok, _ := c.get("19", time.Time{}, farFuture, time.Time{}); ok {
		t.Error("a history read before a Record was cached")
	}
}

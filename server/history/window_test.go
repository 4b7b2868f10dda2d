package history

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// bothStores runs f against a store with the cache and one without: every
// window test must hold for the Badger path and the cached path alike.
func bothStores(t *testing.T, opts Options, f func(t *testing.T, s *Store)) {
	for _, cached := range []bool{true, false} {
		name := "cached"
		o := opts
		if !cached {
			name, o.CacheEntries = "uncached", -1
		}
		t.Run(name, func(t *testing.T) { f(t, openTemp(t, o)) })
	}
}

// Lookup returns exactly the entries in [since, until], to the nanosecond
// at both ends.
func TestLookupWindowBounds(t *testing.T) {
	bothStores(t, Options{Now: newClock(t0).Now}, func(t *testing.T, s *Store) {
		var all []Entry
		for i := range 10 {
			all = append(all, entry(fmt.Sprint("I", i), t0.Add(time.Duration(i-5)*24*time.Hour)))
		}
		sub := entry("S", t0.Add(-time.Hour).Add(300*time.Millisecond))
		all = append(all[:5], append([]Entry{sub}, all[5:]...)...) // time order
		record(t, s, "P1", all...)

		// all[0..4] are 5..1 days ago, all[5] is sub, all[6] is t0, then the future.
		assertEntries(t, lookupWindow(t, s, "P1", time.Time{}, t0), all[:7])
		assertEntries(t, lookupWindow(t, s, "P1", all[2].Time, all[4].Time), all[2:5])
		assertEntries(t, lookupWindow(t, s, "P1", t0.Add(-400*24*time.Hour), sub.Time), all[:6])
		assertEntries(t, lookupWindow(t, s, "P1", t0.Add(-400*24*time.Hour), sub.Time.Add(-time.Nanosecond)), all[:5])
		assertEntries(t, lookupWindow(t, s, "P1", sub.Time, sub.Time), []Entry{sub})
		assertEntries(t, lookupWindow(t, s, "P1", t0.Add(time.Hour), farFuture), all[7:])
		assertEntries(t, lookupWindow(t, s, "P1", t0, t0.Add(-time.Nanosecond)), nil) // until before since
		assertEntries(t, lookupWindow(t, s, "P1", time.Time{}, time.Time{}), nil)
	})
}

// The bug of the hardening issue: more than MaxLookup entries dated after
// the check time (recorded by a faulty or hostile HIS) must not push a
// patient's real history out of the window, whether they are far ahead or
// within the cache's look-ahead.
func TestFutureEntriesDoNotCrowdOutHistory(t *testing.T) {
	for _, ahead := range []time.Duration{30 * 24 * time.Hour, time.Minute} {
		t.Run(fmt.Sprint("ahead=", ahead), func(t *testing.T) {
			bothStores(t, Options{Now: newClock(t0).Now}, func(t *testing.T, s *Store) {
				real := entry("001109000010000", t0.Add(-2*time.Hour))
				record(t, s, "P1", real)
				future := make([]Entry, MaxLookup+10)
				for i := range future {
					future[i] = entry("001109000010000", t0.Add(ahead))
					future[i].LineID = fmt.Sprint("F", i)
				}
				record(t, s, "P1", future...)
				for range 2 { // a miss, then (cached) a hit
					assertEntries(t, lookupWindow(t, s, "P1", t0.Add(-400*24*time.Hour), t0), []Entry{real})
				}
			})
		})
	}
}

// Entries older than since, however many, cost nothing and crowd out
// nothing either.
func TestOldEntriesDoNotCrowdOutWindow(t *testing.T) {
	bothStores(t, Options{Now: newClock(t0).Now}, func(t *testing.T, s *Store) {
		old := make([]Entry, MaxLookup+10)
		for i := range old {
			old[i] = entry("OLD", t0.Add(-100*24*time.Hour))
			old[i].LineID = fmt.Sprint("O", i)
		}
		record(t, s, "P1", old...)
		recent := entry("NEW", t0.Add(-time.Hour))
		record(t, s, "P1", recent)
		assertEntries(t, lookupWindow(t, s, "P1", t0.Add(-30*24*time.Hour), t0), []Entry{recent})
	})
}

// The cache holds a patient only up to a time: a later check (until past
// it) reads Badger again and sees entries the cached copy does not hold,
// and an earlier one still sees nothing after its own until.
func TestCacheUpTo(t *testing.T) {
	c := newClock(t0)
	s := openTemp(t, Options{Now: c.Now})
	now := entry("NOW", t0.Add(-time.Minute))
	later := entry("LATER", t0.Add(3*cacheAhead))
	record(t, s, "P1", now, later)
	assertEntries(t, lookupWindow(t, s, "P1", time.Time{}, t0), []Entry{now}) // miss: loads up to t0+cacheAhead
	assertEntries(t, lookupWindow(t, s, "P1", time.Time{}, t0), []Entry{now}) // hit
	assertEntries(t, lookupWindow(t, s, "P1", time.Time{}, t0.Add(4*cacheAhead)), []Entry{now, later})
	assertEntries(t, lookupWindow(t, s, "P1", time.Time{}, t0.Add(2*cacheAhead)), []Entry{now})
	// Time passes; a check at the new now sees what is due by then.
	c.Set(t0.Add(3 * cacheAhead))
	assertEntries(t, lookupWindow(t, s, "P1", time.Time{}, c.Now()), []Entry{now, later})
}

// A window with more than MaxLookup entries returns the newest MaxLookup,
// and says so: counted on every such lookup, logged (without the patient
// id) at most once a minute — not a log line per check — cached store or
// not.
func TestTruncationIsLoggedAndCounted(t *testing.T) {
	for _, cacheEntries := range []int{0, -1} {
		t.Run(fmt.Sprint("cache=", cacheEntries), func(t *testing.T) {
			var logs bytes.Buffer
			s := openTemp(t, Options{Now: newClock(t0).Now, CacheEntries: cacheEntries,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			const extra = 7
			const patient = "P-secret-4711"
			all := make([]Entry, MaxLookup+extra)
			for i := range all {
				all[i] = entry("A", t0.Add(-time.Duration(len(all)-i)*time.Second))
			}
			record(t, s, patient, all...)
			// A future entry is outside every window below.
			record(t, s, patient, entry("A", t0.Add(time.Hour)))

			if n := s.Truncations(); n != 0 {
				t.Fatalf("Truncations before any lookup: %d", n)
			}
			assertEntries(t, lookupWindow(t, s, patient, time.Time{}, t0), all[extra:])
			assertEntries(t, lookupWindow(t, s, patient, time.Time{}, all[len(all)-2].Time), all[extra-1:len(all)-1])
			if n := s.Truncations(); n != 2 {
				t.Errorf("Truncations = %d, want 2", n)
			}
			// Exactly MaxLookup in the window is not a truncation.
			assertEntries(t, lookupWindow(t, s, patient, all[extra].Time, t0), all[extra:])
			if n := s.Truncations(); n != 2 {
				t.Errorf("Truncations = %d after a window of exactly MaxLookup, want 2", n)
			}
			out := logs.String()
			if strings.Count(out, "reached its limit") != 1 || !strings.Contains(out, fmt.Sprint("limit=", MaxLookup)) {
				t.Errorf("want one warning naming the limit for two truncations within a minute, got:\n%s", out)
			}
			if strings.Contains(out, patient) {
				t.Errorf("the log names the patient:\n%s", out)
			}
		})
	}
}

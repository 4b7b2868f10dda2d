package history

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// clock is an injectable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openAt opens a store in dir with the given options filled in.
func openAt(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	s := openAt(t, t.TempDir(), opts)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func entry(code string, at time.Time) Entry {
	return Entry{ItemCode: code, Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, Days: 3, Time: at, EncounterID: "E1"}
}

func record(t testing.TB, s *Store, patient string, entries ...Entry) int {
	t.Helper()
	n, err := s.Record(context.Background(), patient, entries)
	if err != nil {
		t.Fatalf("Record(%q): %v", patient, err)
	}
	return n
}

// farFuture is an until past every entry of the tests.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// lookup looks up everything since since.
func lookup(t testing.TB, s *Store, patient string, since time.Time) []Entry {
	t.Helper()
	return lookupWindow(t, s, patient, since, farFuture)
}

func lookupWindow(t testing.TB, s *Store, patient string, since, until time.Time) []Entry {
	t.Helper()
	got, err := s.Lookup(context.Background(), patient, since, until)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", patient, err)
	}
	return got
}

// sameEntry compares with Time.Equal: Lookup returns UTC times.
func sameEntry(a, b Entry) bool {
	ta, tb := a.Time, b.Time
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b && ta.Equal(tb)
}

func assertEntries(t testing.TB, got, want []Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		if !sameEntry(got[i], want[i]) {
			t.Fatalf("entry %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

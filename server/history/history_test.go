package history

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func TestRoundTrip(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	cst := time.FixedZone("CST", 8*3600)
	in := []Entry{
		{ItemCode: "XA01ABC123A001010101234", Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 2.5, Days: 7,
			Time: t0.Add(-48 * time.Hour).Add(123456789 * time.Nanosecond).In(cst), EncounterID: "E/1", LineID: "L1", DecisionID: "abc-1"},
		{ItemCode: "001201000010000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: -1, Days: 0,
			Time: t0.Add(-72 * time.Hour)},
		{ItemCode: "H1", Kind: rxguardv1.ItemKind(99), Quantity: 0.1, Days: -2,
			Time: t0.Add(time.Hour), EncounterID: "E2", LineID: strings.Repeat("x", maxFieldLen), DecisionID: "d"},
	}
	if n := record(t, s, "P1", in...); n != 3 {
		t.Fatalf("recorded %d, want 3", n)
	}
	got := lookup(t, s, "P1", time.Time{})
	assertEntries(t, got, []Entry{in[1], in[0], in[2]})
	for _, e := range got {
		if e.Time.Location() != time.UTC {
			t.Errorf("time %v not in UTC", e.Time)
		}
	}
	if got := lookup(t, s, "P2", time.Time{}); got != nil {
		t.Fatalf("unknown patient: got %v, want nil", got)
	}
}

func TestIdempotent(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	batch := []Entry{entry("A", t0.Add(-time.Hour)), entry("B", t0.Add(-time.Hour)), entry("A", t0.Add(-2*time.Hour))}
	if n := record(t, s, "P1", batch...); n != 3 {
		t.Fatalf("first: recorded %d, want 3", n)
	}
	if n := record(t, s, "P1", batch...); n != 0 {
		t.Fatalf("second: recorded %d, want 0", n)
	}
	// Same identity, other fields and sub-second time differ: not new, and
	// the first one is kept.
	again := entry("A", t0.Add(-time.Hour).Add(500*time.Millisecond))
	again.Quantity = 9
	if n := record(t, s, "P1", again); n != 0 {
		t.Fatalf("same second: recorded %d, want 0", n)
	}
	// Repeated within one batch.
	dup := entry("C", t0.Add(-time.Hour))
	if n := record(t, s, "P1", dup, dup); n != 1 {
		t.Fatalf("duplicate in batch: recorded %d, want 1", n)
	}
	// Each part of the identity makes a new entry.
	otherLine := entry("A", t0.Add(-time.Hour))
	otherLine.LineID = "L2"
	otherEnc := entry("A", t0.Add(-time.Hour))
	otherEnc.EncounterID = "E2"
	otherSec := entry("A", t0.Add(-time.Hour+time.Second))
	if n := record(t, s, "P1", otherLine, otherEnc, otherSec); n != 3 {
		t.Fatalf("distinct identities: recorded %d, want 3", n)
	}
	got := lookup(t, s, "P1", time.Time{})
	if len(got) != 7 {
		t.Fatalf("got %d entries, want 7: %v", len(got), got)
	}
	for _, e := range got {
		if e.ItemCode == "A" && e.Quantity == 9 {
			t.Fatalf("a repeated record overwrote the stored entry: %+v", e)
		}
	}
}

func TestSince(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	var all []Entry
	for i := range 10 {
		all = append(all, entry(fmt.Sprint("I", i), t0.Add(-time.Duration(10-i)*24*time.Hour)))
	}
	sub := entry("S", t0.Add(-time.Hour).Add(300*time.Millisecond))
	all = append(all, sub)
	record(t, s, "P1", all...)

	assertEntries(t, lookup(t, s, "P1", t0.Add(-5*24*time.Hour)), all[5:])
	assertEntries(t, lookup(t, s, "P1", all[3].Time), all[3:])
	assertEntries(t, lookup(t, s, "P1", t0), nil)
	// Sub-second bounds are exact although keys hold seconds.
	assertEntries(t, lookup(t, s, "P1", sub.Time), []Entry{sub})
	assertEntries(t, lookup(t, s, "P1", sub.Time.Add(time.Nanosecond)), nil)
	assertEntries(t, lookup(t, s, "P1", sub.Time.Add(-time.Millisecond)), []Entry{sub})
}

func TestPatientIsolation(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	ids := []string{"P1", "P12", "P", "P1/", "P1\x00", "p/P1", "\x00\x02P1"}
	for i, id := range ids {
		record(t, s, id, entry(fmt.Sprint("code-", i), t0.Add(-time.Hour)))
	}
	for i, id := range ids {
		got := lookup(t, s, id, time.Time{})
		if len(got) != 1 || got[0].ItemCode != fmt.Sprint("code-", i) {
			t.Errorf("patient %q sees %v, want only code-%d", id, got, i)
		}
	}
}

func TestRetentionOnRecord(t *testing.T) {
	c := newClock(t0)
	s := openTemp(t, Options{Now: c.Now})
	old := entry("OLD", t0.Add(-DefaultRetention))
	edge := entry("EDGE", t0.Add(-DefaultRetention+time.Second))
	zero := entry("ZERO", time.Time{})
	if n := record(t, s, "P1", old, edge, zero); n != 1 {
		t.Fatalf("recorded %d, want 1 (only EDGE is within the retention)", n)
	}
	assertEntries(t, lookup(t, s, "P1", time.Time{}), []Entry{edge})
}

func TestRetentionOnLookup(t *testing.T) {
	c := newClock(t0)
	s := openTemp(t, Options{Now: c.Now, Retention: 30 * 24 * time.Hour})
	a := entry("A", t0.Add(-20*24*time.Hour))
	b := entry("B", t0.Add(-5*24*time.Hour))
	record(t, s, "P1", a, b)

	// Eleven days on, A is past the retention. Badger's expiry runs on the
	// real clock and is weeks away, so only Lookup's own filter hides it.
	c.Set(t0.Add(11 * 24 * time.Hour))
	assertEntries(t, lookup(t, s, "P1", time.Time{}), []Entry{b})
	if n := rawKeys(t, s); n != 2 {
		t.Fatalf("Badger holds %d keys, want 2 (not yet expired there)", n)
	}
}

// rawKeys counts the live keys in Badger.
func rawKeys(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBadgerTTL(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := newClock(start)
	s := openTemp(t, Options{Now: c.Now, Retention: 2 * time.Second, CacheEntries: -1}) // Badger itself must expire: no cache in front
	record(t, s, "P1", entry("A", start), entry("B", start.Add(-time.Second)))
	if got := lookup(t, s, "P1", time.Time{}); len(got) != 2 {
		t.Fatalf("before expiry: got %v", got)
	}
	// The injected clock stays at start, so Lookup's own retention filter
	// keeps both: only Badger's expiry can make them disappear. B expires
	// after ~1 s and A after ~2 s (plus rounding up to Badger's whole
	// seconds).
	deadline := time.Now().Add(4 * time.Second)
	for {
		got := lookup(t, s, "P1", time.Time{})
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after start, Badger has not expired %v", time.Since(start), got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("expired after %v, before the 2 s retention", el)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	s := openAt(t, dir, Options{Now: c.Now})
	want := []Entry{entry("A", t0.Add(-2*time.Hour)), entry("B", t0.Add(-time.Hour))}
	record(t, s, "P1", want...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Lookup(context.Background(), "P1", time.Time{}, farFuture); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Record(context.Background(), "P1", want); !errors.Is(err, ErrClosed) {
		t.Fatalf("Record after Close: %v, want ErrClosed", err)
	}

	s = openAt(t, dir, Options{Now: c.Now})
	defer s.Close()
	assertEntries(t, lookup(t, s, "P1", time.Time{}), want)
	if n := record(t, s, "P1", want...); n != 0 {
		t.Fatalf("after reopen: recorded %d, want 0", n)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Fatal("Open without Dir: no error")
	}
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	defer s.Close()
	_, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open of a directory in use: %v, want an error naming %s", err, dir)
	}
}

func TestValidation(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	good := entry("A", t0.Add(-time.Hour))
	long := strings.Repeat("x", maxFieldLen+1)
	mod := func(f func(*Entry)) Entry { e := good; f(&e); return e }
	cases := []struct {
		name    string
		patient string
		entries []Entry
	}{
		{"empty patient", "", []Entry{good}},
		{"long patient", long, []Entry{good}},
		{"empty item", "P1", []Entry{good, mod(func(e *Entry) { e.ItemCode = "" })}},
		{"long item", "P1", []Entry{mod(func(e *Entry) { e.ItemCode = long })}},
		{"long encounter", "P1", []Entry{mod(func(e *Entry) { e.EncounterID = long })}},
		{"long line", "P1", []Entry{mod(func(e *Entry) { e.LineID = long })}},
		{"long decision", "P1", []Entry{mod(func(e *Entry) { e.DecisionID = long })}},
		{"NaN", "P1", []Entry{mod(func(e *Entry) { e.Quantity = math.NaN() })}},
		{"Inf", "P1", []Entry{mod(func(e *Entry) { e.Quantity = math.Inf(1) })}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.Record(context.Background(), tc.patient, tc.entries)
			if !errors.Is(err, ErrInvalid) || n != 0 {
				t.Fatalf("Record: n=%d err=%v, want 0 and ErrInvalid", n, err)
			}
		})
	}
	if n := rawKeys(t, s); n != 0 {
		t.Fatalf("invalid batches wrote %d keys", n)
	}
	if _, err := s.Lookup(context.Background(), "", time.Time{}, farFuture); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Lookup with empty patient: %v, want ErrInvalid", err)
	}
}

func TestContextCanceled(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Record(ctx, "P1", []Entry{entry("A", t0)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Record: %v", err)
	}
	if _, err := s.Lookup(ctx, "P1", time.Time{}, farFuture); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup: %v", err)
	}
}

// TestLimit also covers a batch too big for one Badger transaction.
func TestLimit(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	const extra = 25
	all := make([]Entry, MaxLookup+extra)
	for i := range all {
		all[i] = entry("CODE-"+strings.Repeat("z", 60), t0.Add(-time.Duration(len(all)-i)*time.Minute))
		all[i].LineID = fmt.Sprintf("line-%06d-%s", i, strings.Repeat("y", 60))
	}
	if n := record(t, s, "P1", all...); n != len(all) {
		t.Fatalf("recorded %d, want %d", n, len(all))
	}
	if n := record(t, s, "P1", all...); n != 0 {
		t.Fatalf("again: recorded %d, want 0", n)
	}
	assertEntries(t, lookup(t, s, "P1", time.Time{}), all[extra:])
	// Within the limit the forward scan alone answers.
	assertEntries(t, lookup(t, s, "P1", all[100].Time), all[100:])
	assertEntries(t, lookup(t, s, "P1", all[extra].Time), all[extra:])
	assertEntries(t, lookup(t, s, "P1", all[extra-1].Time), all[extra:])
}

func TestConcurrent(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	total := make([]int, workers)
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				// Workers overlap: all record the same entries of a shared
				// patient, so exactly one of them may count each.
				shared := entry(fmt.Sprint("S", i), t0.Add(-time.Duration(i)*time.Minute))
				own := entry(fmt.Sprint("O", i), t0.Add(-time.Duration(i)*time.Minute))
				n, err := s.Record(context.Background(), "shared", []Entry{shared})
				if err != nil {
					errs <- err
					return
				}
				total[w] += n
				if _, err := s.Record(context.Background(), fmt.Sprint("own-", w), []Entry{own}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range perWorker {
				got, err := s.Lookup(context.Background(), "shared", time.Time{}, farFuture)
				if err != nil {
					errs <- err
					return
				}
				for i := 1; i < len(got); i++ {
					if got[i].Time.Before(got[i-1].Time) {
						errs <- fmt.Errorf("not oldest first: %v", got)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sum := 0
	for _, n := range total {
		sum += n
	}
	if sum != perWorker {
		t.Fatalf("shared entries counted %d times, want %d", sum, perWorker)
	}
	if got := lookup(t, s, "shared", time.Time{}); len(got) != perWorker {
		t.Fatalf("shared patient has %d entries, want %d", len(got), perWorker)
	}
	for w := range workers {
		if got := lookup(t, s, fmt.Sprint("own-", w), time.Time{}); len(got) != perWorker {
			t.Fatalf("own-%d has %d entries, want %d", w, len(got), perWorker)
		}
	}
}

func TestCorruptValue(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	e := entry("A", t0.Add(-time.Hour))
	key := appendKey(nil, appendPatientPrefix(nil, "P1"), &e)
	val := appendValue(nil, &e)
	val[0] = valueVersion2 + 1
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		t.Fatal(err)
	}
	_, err := s.Lookup(context.Background(), "P1", time.Time{}, farFuture)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "P1") || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("Lookup: %v, want ErrCorrupt naming the patient and the version", err)
	}
}

// TestTxnSplit makes sure TestLimit's batch really exceeded one Badger
// transaction, so the split path is covered.
func TestTxnSplit(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	prefix := appendPatientPrefix(nil, "P1")
	todo := make([]pending, MaxLookup+25)
	for i := range todo {
		e := entry("CODE-"+strings.Repeat("z", 60), t0.Add(-time.Duration(i)*time.Minute))
		e.LineID = fmt.Sprintf("line-%06d-%s", i, strings.Repeat("y", 60))
		todo[i] = pending{key: appendKey(nil, prefix, &e), val: appendValue(nil, &e), expiresAt: uint64(time.Now().Unix() + 3600)}
	}
	n, done, err := s.tryCommit(todo)
	if err != nil {
		t.Fatal(err)
	}
	if done >= len(todo) || n != done {
		t.Fatalf("one transaction took %d of %d entries (%d new); want a partial commit", done, len(todo), n)
	}
}

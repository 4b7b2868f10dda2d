package history

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// benchStore fills a store with 1,000 other patients of 50 entries each and
// the target patient "P000500-target" of 200 entries, all spread over the
// last 400 days. With reopen, the data is read back from SSTables (the
// steady state of a running sidecar) rather than from the memtable. The
// cache is off so Lookup measures Badger; BenchmarkLookupCached measures
// the cache.
func benchStore(b *testing.B, reopen bool) (*Store, string) {
	b.Helper()
	return benchStoreKey(b, reopen, nil)
}

// benchStoreKey is benchStore encrypted with key (nil: not encrypted).
func benchStoreKey(b *testing.B, reopen bool, key []byte) (*Store, string) {
	b.Helper()
	dir := b.TempDir()
	c := newClock(t0)
	s := openAt(b, dir, Options{Now: c.Now, CacheEntries: -1, EncryptionKey: key})
	rng := rand.New(rand.NewPCG(1, 2))
	span := int64(399 * 24 * time.Hour / time.Second)
	mk := func(n int) []Entry {
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{
				ItemCode:    fmt.Sprintf("XA01ABC%016d", rng.IntN(500)),
				Kind:        rxguardv1.ItemKind_ITEM_DRUG,
				Quantity:    float64(1 + rng.IntN(10)),
				Days:        int32(1 + rng.IntN(14)),
				Time:        t0.Add(-time.Duration(rng.Int64N(span)) * time.Second),
				EncounterID: fmt.Sprintf("ENC%08d", rng.IntN(1e6)),
				LineID:      fmt.Sprintf("L%06d", i),
				DecisionID:  fmt.Sprintf("0123456789ab-%d", rng.IntN(1e6)),
			}
		}
		return es
	}
	const target = "P000500-target"
	for p := range 1000 {
		record(b, s, fmt.Sprintf("P%06d", p), mk(50)...)
		if p == 500 {
			if n := record(b, s, target, mk(200)...); n != 200 {
				b.Fatalf("target: recorded %d", n)
			}
		}
	}
	if reopen {
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		s = openAt(b, dir, Options{Now: c.Now, CacheEntries: -1, EncryptionKey: key})
	}
	b.Cleanup(func() { s.Close() })
	return s, target
}

func BenchmarkLookup(b *testing.B) {
	since := t0.Add(-400 * 24 * time.Hour)
	for _, reopen := range []bool{false, true} {
		name := "memtable"
		if reopen {
			name = "sstables"
		}
		s, target := benchStore(b, reopen)
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.Lookup(ctx, target, since, t0)
				if err != nil || len(got) != 200 {
					b.Fatalf("got %d entries, err %v", len(got), err)
				}
			}
		})
		if !reopen {
			continue
		}
		// What Badger alone costs to iterate the same 200 keys and values:
		// the floor under Lookup, to tell its own overhead from Badger's.
		b.Run("badger-floor", func(b *testing.B) {
			prefix := appendPatientPrefix(nil, target)
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				err := s.db.View(func(txn *badger.Txn) error {
					it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
					defer it.Close()
					for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
						if err := it.Item().Value(func([]byte) error { n++; return nil }); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil || n != 200 {
					b.Fatalf("iterated %d, err %v", n, err)
				}
			}
		})
	}
}

// BenchmarkLookupParallel: the hot path under concurrent checks.
// BenchmarkLookupCached is a repeated check of the same patient: after the
// first lookup, the history comes from memory.
func BenchmarkLookupCached(b *testing.B) {
	s, target := benchStore(b, true)
	s.cache = newCache(DefaultCacheEntries)
	ctx := context.Background()
	since := t0.Add(-400 * 24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if got, err := s.Lookup(ctx, target, since, t0); err != nil || len(got) != 200 {
			b.Fatalf("%d entries, %v", len(got), err)
		}
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	s, target := benchStore(b, true)
	since := t0.Add(-400 * 24 * time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if got, err := s.Lookup(context.Background(), target, since, t0); err != nil || len(got) != 200 {
				b.Errorf("got %d entries, err %v", len(got), err)
				return
			}
		}
	})
}

// BenchmarkLookupFutureFlood: the benchmark store's target patient with
// MaxLookup more entries dated a month after the check. The lookup reads
// only the 200 entries at or before the check, cached or not.
func BenchmarkLookupFutureFlood(b *testing.B) {
	s, target := benchStore(b, true)
	flood := make([]Entry, MaxLookup)
	for i := range flood {
		flood[i] = entry("XA01ABC0000000000000001", t0.Add(30*24*time.Hour+time.Duration(i)*time.Second))
	}
	record(b, s, target, flood...)
	since := t0.Add(-400 * 24 * time.Hour)
	for _, cached := range []bool{false, true} {
		name := "uncached"
		if cached {
			name, s.cache = "cached", newCache(DefaultCacheEntries)
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if got, err := s.Lookup(ctx, target, since, t0); err != nil || len(got) != 200 {
					b.Fatalf("%d entries, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkRecord records a 10-line signed order of a new patient each
// time; every commit is synced to disk.
func BenchmarkRecord(b *testing.B) { benchRecord(b, nil) }

func benchRecord(b *testing.B, key []byte) {
	s := openTemp(b, Options{Now: newClock(t0).Now, EncryptionKey: key})
	ctx := context.Background()
	lines := make([]Entry, 10)
	for i := range lines {
		lines[i] = Entry{
			ItemCode: fmt.Sprintf("XA01ABC%016d", i), Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 2, Days: 7,
			Time: t0.Add(-time.Hour), EncounterID: "ENC00001234", LineID: fmt.Sprint("L", i), DecisionID: "0123456789ab-42",
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		n, err := s.Record(ctx, fmt.Sprintf("P%09d", i), lines)
		if err != nil || n != len(lines) {
			b.Fatalf("recorded %d, err %v", n, err)
		}
	}
}

func BenchmarkMerge(b *testing.B) {
	var req, rec []Entry
	for i := range 20 {
		req = append(req, entry(fmt.Sprint("C", i), t0.Add(-time.Duration(i)*time.Hour)))
	}
	for i := range 200 {
		rec = append(rec, entry(fmt.Sprint("C", i%40), t0.Add(-time.Duration(i)*time.Hour)))
	}
	b.ReportAllocs()
	for b.Loop() {
		Merge(req, rec)
	}
}

// BenchmarkValueCodec compares the binary value encoding with JSON of the
// same fields: the measurement behind choosing binary.
func BenchmarkValueCodec(b *testing.B) {
	e := Entry{Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 2.5, Days: 7, Time: t0.Add(123 * time.Millisecond), DecisionID: "0123456789ab-42"}
	type jsonValue struct {
		Kind     int32   `json:"k"`
		Quantity float64 `json:"q"`
		Days     int32   `json:"d"`
		Nanos    int32   `json:"n,omitempty"`
		Decision string  `json:"i,omitempty"`
	}
	bin := appendValue(nil, &e)
	js, _ := json.Marshal(jsonValue{int32(e.Kind), e.Quantity, e.Days, int32(e.Time.Nanosecond()), e.DecisionID})
	b.Logf("value size: binary %d bytes, JSON %d bytes", len(bin), len(js))
	b.Run("binary-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseValue(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v jsonValue
			if err := json.Unmarshal(js, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary-encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf = appendValue(buf[:0], &e)
		}
	})
	b.Run("json-encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(jsonValue{int32(e.Kind), e.Quantity, e.Days, int32(e.Time.Nanosecond()), e.DecisionID}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package store

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

var testClasses = []knowledge.Class{
	knowledge.ClassRestriction, knowledge.ClassDrug, knowledge.ClassInteraction, knowledge.ClassPhysician,
}

// makeRecords returns n sorted, unique records whose content depends only
// on seed, with values of roughly valueSize bytes.
func makeRecords(seed uint64, n, valueSize int) []knowledge.Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	recs := make([]knowledge.Record, 0, n)
	pad := make([]byte, valueSize)
	for i := range n {
		class := testClasses[i%len(testClasses)]
		for j := 0; j < len(pad); j += 8 {
			for r, k := rng.Uint64(), j; k < min(j+8, len(pad)); k, r = k+1, r>>8 {
				pad[k] = letters[int(r&0xff)%len(letters)]
			}
		}
		key := fmt.Sprintf("%c%07d", 'A'+rng.IntN(26), i)
		val := fmt.Sprintf(`{"seed":%d,"i":%d,"pad":%q}`, seed, i, pad)
		recs = append(recs, knowledge.Record{Class: class, Key: key, Value: []byte(val)})
	}
	slices.SortFunc(recs, func(a, b knowledge.Record) int {
		if c := strings.Compare(string(a.Class), string(b.Class)); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return recs
}

func versionSeed(version string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(version))
	return h.Sum64()
}

// makeRelease builds a valid release whose content is determined by version.
func makeRelease(version, parent string, n, valueSize int) (knowledge.Manifest, []knowledge.Record) {
	recs := makeRecords(versionSeed(version), n, valueSize)
	m := knowledge.NewManifest(version, parent, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), recs)
	return m, recs
}

// logBuffer collects log output for assertions; safe for Badger's
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func captureLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func openDisk(t testing.TB, dir string, logger *slog.Logger) *Store {
	t.Helper()
	if logger == nil {
		logger = discardLogger()
	}
	s, err := Open(context.Background(), Options{Dir: dir, Logger: logger})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func openMem(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{InMemory: true, Logger: discardLogger()})
	if err != nil {
		t.Fatalf("Open(in-memory): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t testing.TB, s *Store, m knowledge.Manifest, recs []knowledge.Record) {
	t.Helper()
	if err := s.PutRelease(context.Background(), m, recs); err != nil {
		t.Fatalf("PutRelease(%s): %v", m.Version, err)
	}
}

func mustActivate(t testing.TB, s *Store, v string) {
	t.Helper()
	if err := s.Activate(context.Background(), v); err != nil {
		t.Fatalf("Activate(%s): %v", v, err)
	}
}

func activeVersion(t testing.TB, s *Store) string {
	t.Helper()
	m, ok, err := s.Active(context.Background())
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	if !ok {
		return ""
	}
	return m.Version
}

// keysUnder counts live keys with prefix, straight from Badger.
func keysUnder(t testing.TB, s *Store, prefix string) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		p := []byte(prefix)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("count keys under %q: %v", prefix, err)
	}
	return n
}

// releaseKeys counts every live key of version: metadata and records.
func releaseKeys(t testing.TB, s *Store, version string) int {
	t.Helper()
	return keysUnder(t, s, relPrefix+version+"/") + keysUnder(t, s, recPrefix+version+"/") + keysUnder(t, s, ovlPrefix+version+"/")
}

// corruptRecord flips one bit of one stored record value of version,
// behind the store's back.
func corruptRecord(t testing.TB, s *Store, version string) {
	t.Helper()
	err := s.db.Update(func(txn *badger.Txn) error {
		p := recordPrefix(version)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		it.Seek(p)
		if !it.ValidForPrefix(p) {
			it.Close()
			return fmt.Errorf("no records for %q", version)
		}
		k := it.Item().KeyCopy(nil)
		v, err := it.Item().ValueCopy(nil)
		it.Close()
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 0x01
		return txn.Set(k, v)
	})
	if err != nil {
		t.Fatalf("corrupt %s: %v", version, err)
	}
}

func releaseVersions(t testing.TB, s *Store) []string {
	t.Helper()
	rs, err := s.Releases(context.Background())
	if err != nil {
		t.Fatalf("Releases: %v", err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Version)
	}
	return out
}

// makeDeltaRelease derives from base (the records of release parent) a
// release of version that differs from it a little, the way a bureau
// revision does: every 50th record revised, ten withdrawn, ten added (all
// chosen by version). Revisions hit the same records every time, so
// overlays of consecutive deltas stay small.
func makeDeltaRelease(version, parent string, base []knowledge.Record) (knowledge.Manifest, []knowledge.Record) {
	seed := versionSeed(version)
	rng := rand.New(rand.NewPCG(seed, 7))
	drop := map[int]bool{}
	for len(drop) < min(10, len(base)/2) {
		drop[rng.IntN(len(base))] = true
	}
	recs := make([]knowledge.Record, 0, len(base)+10)
	for i, r := range base {
		switch {
		case drop[i]:
		case i%50 == 0:
			recs = append(recs, knowledge.Record{Class: r.Class, Key: r.Key, Value: fmt.Appendf(nil, `{"revised":%q,"i":%d}`, version, i)})
		default:
			recs = append(recs, r)
		}
	}
	for i := range 10 {
		recs = append(recs, knowledge.Record{Class: testClasses[i%len(testClasses)], Key: fmt.Sprintf("added-%s-%d", version, i),
			Value: fmt.Appendf(nil, `{"added":%q}`, version)})
	}
	sortRecords(recs)
	return knowledge.NewManifest(version, parent, time.Now(), recs), recs
}

func sortRecords(recs []knowledge.Record) {
	slices.SortFunc(recs, func(a, b knowledge.Record) int {
		if c := strings.Compare(string(a.Class), string(b.Class)); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// putDelta stores records as the delta on base (whose records the caller
// says are baseRecords) that wire.Diff makes of them, through ApplyDelta:
// what a bureau sends for them.
func putDelta(ctx context.Context, s *Store, m knowledge.Manifest, base string, baseRecords, records []knowledge.Record) error {
	_, err := s.ApplyDelta(ctx, m, deltaOf(ctx, s, base, baseRecords, records))
	return err
}

// deltaOf is the Delta putDelta applies: against base's content in s
// (none without s).
func deltaOf(ctx context.Context, s *Store, base string, baseRecords, records []knowledge.Record) Delta {
	d := Delta{Base: base}
	if s != nil {
		if bm, err := s.Manifest(ctx, base); err == nil {
			d.BaseSHA256 = bm.ContentSHA256
		}
	}
	for _, op := range wire.Diff(baseRecords, records) {
		kind := map[bureauv1.OpKind]ChangeKind{bureauv1.OpKind_OP_KIND_ADD: ChangeAdd,
			bureauv1.OpKind_OP_KIND_REPLACE: ChangeReplace, bureauv1.OpKind_OP_KIND_DELETE: ChangeDelete}[op.Kind]
		d.Changes = append(d.Changes, Change{Kind: kind, Record: op.Record})
	}
	return d
}

package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/knowledge"
)

// classRange returns the index range [lo, hi) of class in sorted records.
func classRange(recs []knowledge.Record, c knowledge.Class) (int, int) {
	lo, hi := -1, -1
	for i, r := range recs {
		if r.Class == c {
			if lo < 0 {
				lo = i
			}
			hi = i + 1
		}
	}
	return lo, hi
}

func revised(r knowledge.Record, tag string) knowledge.Record {
	return knowledge.Record{Class: r.Class, Key: r.Key, Value: append(slices.Clone(r.Value), tag...)}
}

func recordsEqual(a, b []knowledge.Record) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d records, want %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Class != b[i].Class || a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return fmt.Sprintf("record %d is %s %q %q, want %s %q %q", i, a[i].Class, a[i].Key, a[i].Value, b[i].Class, b[i].Key, b[i].Value)
		}
	}
	return ""
}

// baseRelease is the full release the overlay tests change: n records in
// four classes and ten of a small class ("code").
func baseRelease(n int) (knowledge.Manifest, []knowledge.Record) {
	_, recs := makeRelease("base", "", n, 40)
	for i := range 10 {
		recs = append(recs, knowledge.Record{Class: "code", Key: fmt.Sprintf("c%d", i), Value: fmt.Appendf(nil, `{"code":%d}`, i)})
	}
	sortRecords(recs)
	return knowledge.NewManifest("base", "", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), recs), recs
}

func TestOverlayRecordsAreTheFullSet(t *testing.T) {
	tests := []struct {
		name   string
		change func(recs []knowledge.Record) []knowledge.Record
		// changes: overlay entries expected (adds + changes + removals).
		changes int
	}{
		{name: "no change", change: func(r []knowledge.Record) []knowledge.Record { return r }, changes: 0},
		{name: "one value changed in the middle", changes: 1, change: func(r []knowledge.Record) []knowledge.Record {
			r[len(r)/2] = revised(r[len(r)/2], "x")
			return r
		}},
		{name: "first and last key of a class changed", changes: 2, change: func(r []knowledge.Record) []knowledge.Record {
			lo, hi := classRange(r, knowledge.ClassDrug)
			r[lo], r[hi-1] = revised(r[lo], "first"), revised(r[hi-1], "last")
			return r
		}},
		{name: "first and last key of a class removed", changes: 2, change: func(r []knowledge.Record) []knowledge.Record {
			lo, hi := classRange(r, knowledge.ClassInteraction)
			return slices.Delete(slices.Delete(r, hi-1, hi), lo, lo+1)
		}},
		{name: "added before the first and after the last key of a class and of the release", changes: 4, change: func(r []knowledge.Record) []knowledge.Record {
			return append(r,
				knowledge.Record{Class: knowledge.ClassPhysician, Key: "", Value: []byte(`{"empty key":1}`)},
				knowledge.Record{Class: knowledge.ClassPhysician, Key: "\xff\xff", Value: []byte(`{"last":1}`)},
				knowledge.Record{Class: "aaa-first-class", Key: "k", Value: []byte(`{}`)},
				knowledge.Record{Class: "zzz-last-class", Key: "k", Value: []byte(`{}`)})
		}},
		{name: "whole class removed", changes: 10, change: func(r []knowledge.Record) []knowledge.Record {
			return slices.DeleteFunc(r, func(x knowledge.Record) bool { return x.Class == "code" })
		}},
		{name: "mixed", changes: 30, change: func(r []knowledge.Record) []knowledge.Record {
			for i := 0; i < 100; i += 10 {
				r[i] = revised(r[i], "m")
			}
			r = slices.Delete(r, 200, 210)
			for i := range 10 {
				r = append(r, knowledge.Record{Class: knowledge.ClassDrug, Key: fmt.Sprintf("new-%d", i), Value: []byte(`{"n":1}`)})
			}
			return r
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s := openDisk(t, dir, nil)
			bm, brecs := baseRelease(400)
			mustPut(t, s, bm, brecs)
			mustActivate(t, s, bm.Version)

			want := tc.change(slices.Clone(brecs))
			sortRecords(want)
			m := knowledge.NewManifest("next", bm.Version, time.Now(), want)
			if err := putDelta(ctx, s, m, bm.Version, brecs, want); err != nil {
				t.Fatalf("ApplyDelta: %v", err)
			}
			if n := keysUnder(t, s, ovlPrefix+"next/"); n != tc.changes {
				t.Errorf("overlay holds %d entries, want %d", n, tc.changes)
			}
			if n := keysUnder(t, s, recPrefix+"next/"); n != 0 {
				t.Errorf("overlay wrote %d whole records", n)
			}
			rs, err := s.Releases(ctx)
			if err != nil || len(rs) != 2 || rs[1].Version != "next" || rs[1].Base != bm.Version || rs[0].Base != "" {
				t.Fatalf("Releases = %+v, %v; want base and next on base", rs, err)
			}
			if got, _ := s.Manifest(ctx, "next"); got.ContentSHA256 != m.ContentSHA256 || got.RecordCount != len(want) {
				t.Errorf("stored manifest %+v, want the one put", got)
			}
			check := func(s *Store, when string) {
				t.Helper()
				got, err := s.Records(ctx, "next")
				if err != nil {
					t.Fatalf("%s: Records: %v", when, err)
				}
				if d := recordsEqual(got, want); d != "" {
					t.Fatalf("%s: Records of the overlay: %s", when, d)
				}
				if err := s.Verify(ctx, "next"); err != nil {
					t.Fatalf("%s: Verify: %v", when, err)
				}
			}
			check(s, "after put")
			mustActivate(t, s, "next")
			check(s, "after activate")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openDisk(t, dir, nil) // proves the active overlay, keeps its records for Records
			defer s.Close()
			if v := activeVersion(t, s); v != "next" {
				t.Fatalf("active after reopen %q", v)
			}
			check(s, "after reopen")
		})
	}
}

// TestOverlayProvenOnce: ApplyDelta proves the release as it merges the
// base with the changes (no separate proof of the base or of what it
// wrote), the Activate right after it does not prove it again, and any
// other Activate does.
func TestOverlayProvenOnce(t *testing.T) {
	ctx := context.Background()
	s := openDisk(t, t.TempDir(), nil)
	defer s.Close()
	bm, brecs := baseRelease(400)
	mustPut(t, s, bm, brecs)
	mustActivate(t, s, bm.Version)
	m, recs := makeDeltaRelease("d1", bm.Version, brecs)

	before := s.proofs.Load()
	if err := putDelta(ctx, s, m, bm.Version, brecs, recs); err != nil {
		t.Fatal(err)
	}
	if n := s.proofs.Load() - before; n != 0 {
		t.Errorf("ApplyDelta proved %d times besides its merge, want 0", n)
	}
	before = s.proofs.Load()
	mustActivate(t, s, m.Version)
	if n := s.proofs.Load() - before; n != 0 {
		t.Errorf("Activate after ApplyDelta proved %d times, want 0", n)
	}
	// Switching back and forth proves every time.
	before = s.proofs.Load()
	mustActivate(t, s, bm.Version)
	mustActivate(t, s, m.Version)
	if n := s.proofs.Load() - before; n != 2 {
		t.Errorf("two later activations proved %d times, want 2", n)
	}
}

// TestOverlayChainsStayOneDeep: deltas activated one after another with
// KeepReleases 1 are each stored as changes to the same full release with
// the combined difference; collect keeps that base as long as an overlay
// on it is kept; a delta too large is stored whole, and once no overlay on
// the old base is kept, the base goes.
func TestOverlayChainsStayOneDeep(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Logger: discardLogger(), KeepReleases: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	bm, brecs := baseRelease(2000)
	mustPut(t, s, bm, brecs)
	mustActivate(t, s, bm.Version)

	cur, curV := brecs, bm.Version
	var added knowledge.Record
	for i := range 8 {
		v := fmt.Sprintf("d%d", i)
		m, recs := makeDeltaRelease(v, curV, cur)
		switch i {
		case 2: // a record only an earlier overlay added, removed again
			recs = slices.DeleteFunc(recs, func(r knowledge.Record) bool { return r.Key == added.Key && r.Class == added.Class })
			m = knowledge.NewManifest(v, curV, time.Now(), recs)
		case 0:
			added = recs[slices.IndexFunc(recs, func(r knowledge.Record) bool { return strings.HasPrefix(r.Key, "added-d0") })]
		}
		if err := putDelta(ctx, s, m, curV, cur, recs); err != nil {
			t.Fatalf("ApplyDelta %s on %s: %v", v, curV, err)
		}
		mustActivate(t, s, v)
		rs, err := s.Releases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.Version+"<"+r.Base)
		}
		want := []string{"base<", v + "<base"}
		if i > 0 {
			want = []string{"base<", fmt.Sprintf("d%d<base", i-1), v + "<base"}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("after activating %s: releases %v, want %v", v, got, want)
		}
		for _, r := range rs {
			if err := s.Verify(ctx, r.Version); err != nil {
				t.Fatalf("after activating %s: %s: %v", v, r.Version, err)
			}
		}
		rr, err := s.Records(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if d := recordsEqual(rr, recs); d != "" {
			t.Fatalf("%s: %s", v, d)
		}
		cur, curV = recs, v
	}
	// Each delta revises 41 records (every 50th position), removes 10 and
	// adds 10: the combined overlay holds at most the union.
	if n := keysUnder(t, s, ovlPrefix+"d7/"); n == 0 || n > 8*(41+20) {
		t.Errorf("combined overlay d7 has %d entries", n)
	}

	// A delta changing most records is stored whole; after the next switch
	// the old base has no kept overlay left and is collected.
	big := slices.Clone(cur)
	for i := range big {
		big[i] = revised(big[i], "big")
	}
	mb := knowledge.NewManifest("whole", curV, time.Now(), big)
	if err := putDelta(ctx, s, mb, curV, cur, big); err != nil {
		t.Fatal(err)
	}
	if n := keysUnder(t, s, recPrefix+"whole/"); n != len(big) {
		t.Fatalf("large delta stored %d whole records, want %d", n, len(big))
	}
	mustActivate(t, s, "whole") // previous d7 still needs base
	if vs := releaseVersions(t, s); !slices.Equal(vs, []string{"base", "d7", "whole"}) {
		t.Fatalf("releases %v", vs)
	}
	m2, r2 := makeDeltaRelease("after", "whole", big)
	if err := putDelta(ctx, s, m2, "whole", big, r2); err != nil {
		t.Fatal(err)
	}
	mustActivate(t, s, "after")
	if vs := releaseVersions(t, s); !slices.Equal(vs, []string{"whole", "after"}) {
		t.Fatalf("releases %v, want the old base and its overlay collected", vs)
	}
	if n := keysUnder(t, s, recPrefix+"base/") + keysUnder(t, s, ovlPrefix+"d7/"); n != 0 {
		t.Fatalf("%d keys of collected releases left", n)
	}
	s.Close()
	s = openDisk(t, dir, nil)
	if v := activeVersion(t, s); v != "after" {
		t.Fatalf("active after reopen %q", v)
	}
}

func TestDeleteReleaseRefusesANeededBase(t *testing.T) {
	ctx := context.Background()
	s := openDisk(t, t.TempDir(), nil)
	defer s.Close()
	bm, brecs := baseRelease(400)
	mustPut(t, s, bm, brecs)
	mustActivate(t, s, bm.Version)
	m, recs := makeDeltaRelease("d1", bm.Version, brecs)
	if err := putDelta(ctx, s, m, bm.Version, brecs, recs); err != nil {
		t.Fatal(err)
	}
	mustActivate(t, s, "d1")
	err := s.DeleteRelease(ctx, bm.Version)
	if err == nil || !strings.Contains(err.Error(), "d1") {
		t.Fatalf("DeleteRelease of the active overlay's base = %v, want a refusal naming d1", err)
	}
	if err := s.Verify(ctx, "d1"); err != nil {
		t.Fatalf("overlay after refused delete: %v", err)
	}
	// Once no overlay needs it, it goes.
	other, orecs := makeRelease("other", "", 50, 20)
	mustPut(t, s, other, orecs)
	mustActivate(t, s, "other")
	if err := s.DeleteRelease(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRelease(ctx, bm.Version); err != nil {
		t.Fatalf("DeleteRelease of a base no overlay needs: %v", err)
	}
	if n := releaseKeys(t, s, "d1") + releaseKeys(t, s, bm.Version); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}

// corruptRecordAt flips one bit of the n-th stored record of version.
func corruptRecordAt(t *testing.T, s *Store, version string, n int) {
	t.Helper()
	err := s.db.Update(func(txn *badger.Txn) error {
		p := recordPrefix(version)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		it.Seek(p)
		for range n {
			it.Next()
		}
		if !it.ValidForPrefix(p) {
			return fmt.Errorf("no record %d of %q", n, version)
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 0x01
		return txn.Set(it.Item().KeyCopy(nil), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// corruptOverlayEntry flips a bit of (or, with tag, replaces the tag of)
// one overlay entry of version.
func corruptOverlayEntry(t *testing.T, s *Store, version string, tag bool) {
	t.Helper()
	err := s.db.Update(func(txn *badger.Txn) error {
		p := overlayPrefix(version)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if v[0] != tagSet {
				continue
			}
			if tag {
				v[0] = 'x'
			} else {
				v[len(v)/2] ^= 0x01
			}
			return txn.Set(it.Item().KeyCopy(nil), v)
		}
		return errors.New("no set entry")
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOverlayCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, s *Store)
		// fallback: Open falls back to the base (previous); otherwise
		// both are unusable and Open refuses.
		fallback bool
	}{
		{name: "overlay value", fallback: true, corrupt: func(t *testing.T, s *Store) { corruptOverlayEntry(t, s, "d1", false) }},
		{name: "overlay tag", fallback: true, corrupt: func(t *testing.T, s *Store) { corruptOverlayEntry(t, s, "d1", true) }},
		{name: "base reference", fallback: true, corrupt: func(t *testing.T, s *Store) {
			if err := s.db.Update(func(txn *badger.Txn) error {
				return txn.Set(baseKey("d1"), baseRef{version: "base", sha: strings.Repeat("0", 64)}.encode())
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "base record", fallback: false, corrupt: func(t *testing.T, s *Store) {
			// Record 1: record 0 is revised by the overlay, which hides it.
			corruptRecordAt(t, s, "base", 1)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s := openDisk(t, dir, nil)
			bm, brecs := baseRelease(400)
			mustPut(t, s, bm, brecs)
			mustActivate(t, s, bm.Version)
			m, recs := makeDeltaRelease("d1", bm.Version, brecs)
			if err := putDelta(ctx, s, m, bm.Version, brecs, recs); err != nil {
				t.Fatal(err)
			}
			mustActivate(t, s, "d1")
			tc.corrupt(t, s)
			if err := s.Verify(ctx, "d1"); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v, want ErrCorrupt", err)
			}
			if _, err := s.Records(ctx, "d1"); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Records = %v, want ErrCorrupt", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			logger, logs := captureLogger()
			s2, err := Open(ctx, Options{Dir: dir, Logger: logger})
			if !tc.fallback {
				if err == nil {
					s2.Close()
					t.Fatal("Open served an overlay on a damaged base, or a damaged base")
				}
				if !strings.Contains(err.Error(), "cannot be replaced automatically") {
					t.Fatalf("Open error %v, want the operator's instructions", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s2.Close()
			if v := activeVersion(t, s2); v != bm.Version {
				t.Fatalf("active %q after fallback, want %s\n%s", v, bm.Version, logs)
			}
			if n := releaseKeys(t, s2, "d1"); n != 0 {
				t.Fatalf("corrupt overlay left %d keys", n)
			}
			// It can be put again.
			if err := putDelta(ctx, s2, m, bm.Version, brecs, recs); err != nil {
				t.Fatal(err)
			}
			mustActivate(t, s2, "d1")
		})
	}
}

// mergeOverlay is the reference merge: base with entries applied.
func mergeOverlay(base []knowledge.Record, entries []ovlEntry) []knowledge.Record {
	byKey := map[[2]string]knowledge.Record{}
	for _, r := range base {
		byKey[[2]string{string(r.Class), r.Key}] = r
	}
	for _, e := range entries {
		k := [2]string{string(e.class), e.key}
		if e.del {
			delete(byKey, k)
		} else {
			byKey[k] = knowledge.Record{Class: e.class, Key: e.key, Value: e.value}
		}
	}
	out := make([]knowledge.Record, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	sortRecords(out)
	return out
}

// fuzzRecords decodes b into sorted unique records over a tiny key space,
// so that fuzzed sets overlap.
func fuzzRecords(b []byte) []knowledge.Record {
	var out []knowledge.Record
	seen := map[[2]string]bool{}
	for i := 0; i+1 < len(b); i += 2 {
		c := knowledge.Class(string(rune('a' + b[i]%3)))
		k := string(rune('a' + b[i]/3%5))
		if seen[[2]string{string(c), k}] {
			continue
		}
		seen[[2]string{string(c), k}] = true
		out = append(out, knowledge.Record{Class: c, Key: k, Value: []byte{b[i+1] % 4}})
	}
	sortRecords(out)
	return out
}

// FuzzComposeChanges: for any three releases A, B, C, the overlay on A
// that composeChanges makes of B's overlay on A and the changes turning B
// into C merges back to C (what ApplyDelta writes for a delta on an
// overlay), and is sorted and unique.
func FuzzComposeChanges(f *testing.F) {
	f.Add([]byte{0, 1, 3, 2}, []byte{0, 2, 6, 1}, []byte{6, 1})
	f.Add([]byte{}, []byte{1, 1, 4, 4, 7, 7}, []byte{})
	f.Add([]byte{1, 0, 2, 0, 3, 0}, []byte{1, 0}, []byte{1, 0, 2, 1, 3, 2, 14, 3})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		ra, rb, rc := fuzzRecords(a), fuzzRecords(b), fuzzRecords(c)
		var ab []ovlEntry
		for _, ch := range deltaOf(context.Background(), nil, "", ra, rb).Changes {
			ab = append(ab, ovlEntry{class: ch.Record.Class, key: ch.Record.Key, value: ch.Record.Value, del: ch.Kind == ChangeDelete})
		}
		if d := recordsEqual(mergeOverlay(ra, ab), rb); d != "" {
			t.Fatalf("A+diff(A,B): %s", d)
		}
		ac := composeChanges(ab, deltaOf(context.Background(), nil, "", rb, rc).Changes)
		if d := recordsEqual(mergeOverlay(ra, ac), rc); d != "" {
			t.Fatalf("A+composeChanges(diff(A,B), changes(B,C)): %s", d)
		}
		for i := 1; i < len(ac); i++ {
			if compareCK(ac[i-1].class, ac[i-1].key, ac[i].class, ac[i].key) >= 0 {
				t.Fatalf("composed overlay not sorted and unique at %d", i)
			}
		}
	})
}

// FuzzBaseRef: a stored base reference decodes to what was encoded, and
// anything else decodes to ErrCorrupt, never a panic.
func FuzzBaseRef(f *testing.F) {
	f.Add([]byte("base\x00" + strings.Repeat("ab", 32)))
	f.Add([]byte("v/1\x00x"))
	f.Add([]byte("\x00"))
	f.Add([]byte("self\x00sha"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ref, err := parseBaseRef("self", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if ref.version == "self" || validateVersion(ref.version) != nil || ref.sha == "" {
			t.Fatalf("accepted %+v", ref)
		}
		if !bytes.Equal(ref.encode(), b) {
			t.Fatalf("%q decodes to %+v, which encodes to %q", b, ref, ref.encode())
		}
	})
}

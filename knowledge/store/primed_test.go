package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestOpenProvesActiveOnce: a start (Open, then Records of the active
// release) reads and hashes the release once, and what Records returns is
// what was proven; every other read proves from disk again, so damage on
// disk is still caught.
func TestOpenProvesActiveOnce(t *testing.T) {
	ctx := context.Background()
	a, ra := makeRelease("A", "", 400, 40)
	b, rb := makeRelease("B", "A", 300, 40)
	// stored: A active, B previous-less put; returns the directory.
	stored := func(t *testing.T) string {
		dir := t.TempDir()
		s := openDisk(t, dir, nil)
		mustPut(t, s, a, ra)
		mustActivate(t, s, "A")
		mustPut(t, s, b, rb)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	records := func(t *testing.T, s *Store, v string) error {
		t.Helper()
		got, err := s.Records(ctx, v)
		if err != nil {
			return err
		}
		want := ra
		if v == "B" {
			want = rb
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Records(%s): %d records, not the ones stored", v, len(got))
		}
		return nil
	}
	for _, tc := range []struct {
		name string
		// between runs after Open, before the first Records(A).
		between func(t *testing.T, s *Store)
		// proofs: record passes after Open and the first Records(A).
		proofs int64
		// firstErr: the first Records(A) fails as corrupt.
		firstErr bool
	}{
		{name: "start", proofs: 1},
		{name: "other release read first", proofs: 2, between: func(t *testing.T, s *Store) {
			if err := records(t, s, "B"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "put drops the kept records", proofs: 3, between: func(t *testing.T, s *Store) {
			c, rc := makeRelease("C", "", 50, 40)
			mustPut(t, s, c, rc) // proves C's read-back
		}},
		{name: "activate drops the kept records", proofs: 4, between: func(t *testing.T, s *Store) {
			mustActivate(t, s, "B") // verifies B
			mustActivate(t, s, "A") // verifies A
		}},
		{name: "manifest rewritten: a different manifest is proven afresh", proofs: 2, between: func(t *testing.T, s *Store) {
			// Same bytes, new commit version: as if A had been removed and
			// put again behind this store's back.
			if err := s.db.Update(func(txn *badger.Txn) error {
				item, err := txn.Get(manifestKey("A"))
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				return txn.Set(manifestKey("A"), v)
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "kept records expire", proofs: 2, between: func(t *testing.T, s *Store) {
			deadline := time.Now().Add(5 * time.Second)
			for {
				s.primedMu.Lock()
				gone := s.primed == nil
				s.primedMu.Unlock()
				if gone {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("kept records not dropped after primeTTL")
				}
				time.Sleep(5 * time.Millisecond)
			}
		}},
		{name: "damaged after Open, then a write: caught", proofs: 2, firstErr: true, between: func(t *testing.T, s *Store) {
			corruptRecord(t, s, "A")
			s.dropPrimed() // as any write through the store would
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "kept records expire" {
				old := primeTTL
				primeTTL = 20 * time.Millisecond
				defer func() { primeTTL = old }()
			}
			dir := stored(t)
			s := openDisk(t, dir, nil)
			defer s.Close()
			if n := s.proofs.Load(); n != 1 {
				t.Fatalf("Open made %d record passes, want 1 (the active release's proof)", n)
			}
			if tc.between != nil {
				tc.between(t, s)
			}
			err := records(t, s, "A")
			if tc.firstErr != errors.Is(err, ErrCorrupt) || (!tc.firstErr && err != nil) {
				t.Fatalf("first Records(A) = %v, want corrupt: %v", err, tc.firstErr)
			}
			if n := s.proofs.Load(); n != tc.proofs {
				t.Errorf("%d record passes after the first Records(A), want %d", n, tc.proofs)
			}
			// The hand-over happens once: the next read proves again.
			before := s.proofs.Load()
			if err := records(t, s, "A"); tc.firstErr != errors.Is(err, ErrCorrupt) {
				t.Fatalf("second Records(A) = %v", err)
			}
			if n := s.proofs.Load(); n != before+1 {
				t.Errorf("second Records(A) made %d passes, want 1", n-before)
			}
		})
	}
}

// TestKeptRecordsAreTheProvenOnes: damage written after Open's proof
// cannot reach the first Records — it returns the records Open proved, the
// next Records (proving from disk) fails, and a reopen falls back.
func TestKeptRecordsAreTheProvenOnes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	a, ra := makeRelease("A", "", 400, 40)
	b, rb := makeRelease("B", "A", 400, 40)
	mustPut(t, s, a, ra)
	mustActivate(t, s, "A")
	mustPut(t, s, b, rb)
	mustActivate(t, s, "B")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDisk(t, dir, nil)
	corruptRecord(t, s, "B") // behind the store's back: no write method runs
	got, err := s.Records(ctx, "B")
	if err != nil || !reflect.DeepEqual(got, rb) {
		t.Fatalf("first Records(B) = %d records, %v; want the %d proven ones", len(got), err, len(rb))
	}
	if _, err := s.Records(ctx, "B"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("second Records(B) = %v, want ErrCorrupt (proven from disk)", err)
	}
	if err := s.Verify(ctx, "B"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify(B) = %v, want ErrCorrupt", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// On disk the damage stays: Open's proof fails and it falls back to A,
	// whose first Records is proven (A was verified, not kept).
	s = openDisk(t, dir, nil)
	defer s.Close()
	if v := activeVersion(t, s); v != "A" {
		t.Fatalf("active %q after damaged B, want fallback to A", v)
	}
	if got, err := s.Records(ctx, "A"); err != nil || !reflect.DeepEqual(got, ra) {
		t.Fatalf("Records(A) after fallback = %d records, %v", len(got), err)
	}
}

// TestRecordValuesAreSeparate: values share chunks but are capped, so a
// caller appending to or editing one never changes another.
func TestRecordValuesAreSeparate(t *testing.T) {
	s := openMem(t)
	m, recs := makeRelease("A", "", 50, 40)
	mustPut(t, s, m, recs)
	got, err := s.Records(context.Background(), "A")
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if cap(got[i].Value) != len(got[i].Value) {
			t.Fatalf("record %d: value cap %d > len %d", i, cap(got[i].Value), len(got[i].Value))
		}
		_ = append(got[i].Value, '!')
		if len(got[i].Value) > 0 {
			got[i].Value[0] ^= 0xff
		}
	}
	for i := range got {
		got[i].Value[0] ^= 0xff
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatal("editing one record's value changed another")
	}
}

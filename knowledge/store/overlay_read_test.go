package store

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"weak"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/knowledge"
)

// rewriteManifest stores v's manifest again with the same bytes: a new
// commit version, as if v had been removed and put again.
func rewriteManifest(t *testing.T, s *Store, v string) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(manifestKey(v))
		if err != nil {
			return err
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return txn.Set(manifestKey(v), b)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestPutDeltaReadsTheBaseOnce: base records that are what Records just
// returned (and proved) are not read from Badger again by PutDelta — its
// proof makes no pass over the base — and the overlay stored is the
// release, as Records, Verify and a reopen see it. Any other base records
// (a copy, a read replaced by another, a base stored again since) are
// proven from disk as before.
func TestPutDeltaReadsTheBaseOnce(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// baseRecords returns what the caller passes as the base records.
		baseRecords func(t *testing.T, s *Store, read []knowledge.Record) []knowledge.Record
		proofs      int64 // record passes of PutDelta
	}{
		{name: "the records Records returned", proofs: 0,
			baseRecords: func(t *testing.T, s *Store, read []knowledge.Record) []knowledge.Record { return read }},
		{name: "a copy of them", proofs: 1,
			baseRecords: func(t *testing.T, s *Store, read []knowledge.Record) []knowledge.Record { return slices.Clone(read) }},
		{name: "another read since", proofs: 1,
			baseRecords: func(t *testing.T, s *Store, read []knowledge.Record) []knowledge.Record {
				if _, err := s.Records(ctx, "other"); err != nil {
					t.Fatal(err)
				}
				return read
			}},
		{name: "base stored again since", proofs: 1,
			baseRecords: func(t *testing.T, s *Store, read []knowledge.Record) []knowledge.Record {
				rewriteManifest(t, s, "base")
				return read
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, nil)
			defer func() { _ = s.Close() }()
			bm, brecs := baseRelease(400)
			mustPut(t, s, bm, brecs)
			om, orecs := makeRelease("other", "", 50, 40)
			mustPut(t, s, om, orecs)
			mustActivate(t, s, bm.Version)
			read, err := s.Records(ctx, bm.Version)
			if err != nil {
				t.Fatal(err)
			}
			m, recs := makeDeltaRelease("d1", bm.Version, read)
			base := tc.baseRecords(t, s, read)

			before := s.proofs.Load()
			if err := s.PutDelta(ctx, m, bm.Version, base, recs); err != nil {
				t.Fatal(err)
			}
			if n := s.proofs.Load() - before; n != tc.proofs {
				t.Errorf("PutDelta made %d record passes, want %d", n, tc.proofs)
			}
			if n := keysUnder(t, s, string(overlayPrefix("d1"))); n == 0 || n > len(recs)/4 {
				t.Fatalf("%d overlay entries: not stored as changes to its base", n)
			}
			mustActivate(t, s, "d1")
			if err := s.Verify(ctx, "d1"); err != nil {
				t.Fatalf("Verify of the overlay: %v", err)
			}
			got, err := s.Records(ctx, "d1")
			if err != nil {
				t.Fatal(err)
			}
			if d := recordsEqual(got, recs); d != "" {
				t.Fatalf("Records of the overlay: %s", d)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openDisk(t, dir, nil)
			if v := activeVersion(t, s); v != "d1" {
				t.Fatalf("active after reopen %q, want d1", v)
			}
		})
	}
}

// TestPutDeltaFromRecordsRefusesOtherRecords: through the path that does
// not read the base again, records that are not the manifest's, or that
// are not the base records with the changes applied, write nothing.
func TestPutDeltaFromRecordsRefusesOtherRecords(t *testing.T) {
	ctx := context.Background()
	s := openDisk(t, t.TempDir(), nil)
	defer func() { _ = s.Close() }()
	bm, brecs := baseRelease(400)
	mustPut(t, s, bm, brecs)
	mustActivate(t, s, bm.Version)
	m, recs := makeDeltaRelease("d1", bm.Version, brecs)
	badValue := slices.Clone(recs)
	badValue[5] = revised(badValue[5], "not in the manifest")
	for _, tc := range []struct {
		name    string
		records []knowledge.Record
	}{
		{name: "a value not in the manifest", records: badValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read, err := s.Records(ctx, bm.Version)
			if err != nil {
				t.Fatal(err)
			}
			before := s.proofs.Load()
			err = s.PutDelta(ctx, m, bm.Version, read, tc.records)
			if !errors.Is(err, ErrInvalidRelease) {
				t.Fatalf("PutDelta = %v, want ErrInvalidRelease", err)
			}
			if n := s.proofs.Load() - before; n != 0 {
				t.Errorf("PutDelta read the base again (%d passes)", n)
			}
			if n := releaseKeys(t, s, "d1"); n != 0 {
				t.Fatalf("failed PutDelta left %d keys", n)
			}
		})
	}
	read, err := s.Records(ctx, bm.Version)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutDelta(ctx, m, bm.Version, read, recs); err != nil {
		t.Fatalf("PutDelta after the refusal: %v", err)
	}
}

// TestBaseDamagedAfterReadIsCaught: a base record damaged on disk after
// the Records whose proof PutDelta relies on is not seen by PutDelta nor
// by the Activate after it (which relies on PutDelta's proof); the next
// Verify or Records finds it, and at the latest the next Open's proof,
// which refuses to serve (overlay and base both damaged) with the
// operator's instructions.
func TestBaseDamagedAfterReadIsCaught(t *testing.T) {
	ctx := context.Background()
	for _, check := range []string{"verify", "open"} {
		t.Run(check, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, nil)
			bm, brecs := baseRelease(400)
			mustPut(t, s, bm, brecs)
			mustActivate(t, s, bm.Version)
			read, err := s.Records(ctx, bm.Version)
			if err != nil {
				t.Fatal(err)
			}
			m, recs := makeDeltaRelease("d1", bm.Version, read)
			// Record 1: record 0 is revised by the overlay, which hides it.
			corruptRecordAt(t, s, bm.Version, 1)
			if err := s.PutDelta(ctx, m, bm.Version, read, recs); err != nil {
				t.Fatal(err)
			}
			mustActivate(t, s, "d1")
			if check == "verify" {
				if err := s.Verify(ctx, "d1"); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Verify = %v, want ErrCorrupt", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(ctx, Options{Dir: dir, Logger: discardLogger()})
			if err == nil {
				_ = s2.Close()
				t.Fatal("Open served an overlay on a damaged base")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cannot be replaced automatically") {
				t.Fatalf("Open error %v, want ErrCorrupt with the operator's instructions", err)
			}
		})
	}
}

// TestReceiptDoesNotKeepRecords: the receipt of a read must not keep the
// release's records alive once their user has dropped them.
func TestReceiptDoesNotKeepRecords(t *testing.T) {
	s := openMem(t)
	defer func() { _ = s.Close() }()
	recs := make([]knowledge.Record, 1000)
	w := weak.Make(&recs[0])
	s.issueReceipt("v", 1, "sha", recs)
	if _, ok := s.takeReceipt("v", recs[1:]); ok {
		t.Fatal("receipt taken for other records (a sub-slice)")
	}
	if _, ok := s.takeReceipt("w", recs); ok {
		t.Fatal("receipt taken for another version")
	}
	recs = nil
	runtime.GC()
	if w.Value() != nil {
		t.Fatal("records still reachable through the receipt")
	}
}

// TestPutDeltaOnAnOverlayReadsOnce: a delta on an overlay, prepared from
// the overlay's records as Records returned them, is stored as the
// combined overlay on the full base without reading either again — also
// when it removes a record only the first overlay added (a removal of a
// key the base lacks) — and is the release.
func TestPutDeltaOnAnOverlayReadsOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	defer func() { _ = s.Close() }()
	bm, brecs := baseRelease(400)
	mustPut(t, s, bm, brecs)
	mustActivate(t, s, bm.Version)
	m0, r0 := makeDeltaRelease("d0", bm.Version, brecs)
	if err := s.PutDelta(ctx, m0, bm.Version, brecs, r0); err != nil {
		t.Fatal(err)
	}
	mustActivate(t, s, "d0")
	read, err := s.Records(ctx, "d0")
	if err != nil {
		t.Fatal(err)
	}
	m1, r1 := makeDeltaRelease("d1", "d0", read)
	added := slices.IndexFunc(r1, func(r knowledge.Record) bool { return strings.HasPrefix(r.Key, "added-d0") })
	if added < 0 {
		t.Fatal("no record added by d0")
	}
	r1 = slices.Delete(r1, added, added+1)
	m1 = knowledge.NewManifest("d1", "d0", m1.Created, r1)

	before := s.proofs.Load()
	if err := s.PutDelta(ctx, m1, "d0", read, r1); err != nil {
		t.Fatal(err)
	}
	if n := s.proofs.Load() - before; n != 0 {
		t.Errorf("PutDelta made %d record passes, want 0", n)
	}
	rs, err := s.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Version == "d1" && r.Base != bm.Version {
			t.Fatalf("d1 stored on %q, want the full release %s", r.Base, bm.Version)
		}
	}
	mustActivate(t, s, "d1")
	got, err := s.Records(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d := recordsEqual(got, r1); d != "" {
		t.Fatalf("Records of d1: %s", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, nil)
	if v := activeVersion(t, s); v != "d1" {
		t.Fatalf("active after reopen %q, want d1", v)
	}
}

package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

// TestApplyDeltaReadsTheBaseOnce: ApplyDelta and the Activate after it
// read the base's records from Badger once between them and prove nothing
// a second time, for a delta on a full release and one on an overlay
// (stored as the combined overlay on the full release, also when it
// removes a record only the first overlay added). What is stored is the
// release, as Records, Verify and a reopen see it, and Applied is its
// difference from the base.
func TestApplyDeltaReadsTheBaseOnce(t *testing.T) {
	ctx := context.Background()
	for _, onOverlay := range []bool{false, true} {
		name := map[bool]string{false: "on a full release", true: "on an overlay"}[onOverlay]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, nil)
			defer func() { _ = s.Close() }()
			bm, brecs := baseRelease(400)
			mustPut(t, s, bm, brecs)
			mustActivate(t, s, bm.Version)
			base, baseRecs := bm.Version, brecs
			if onOverlay {
				m0, r0 := makeDeltaRelease("d0", bm.Version, brecs)
				if err := putDelta(ctx, s, m0, bm.Version, brecs, r0); err != nil {
					t.Fatal(err)
				}
				mustActivate(t, s, "d0")
				base, baseRecs = "d0", r0
			}
			m, recs := makeDeltaRelease("d1", base, baseRecs)
			if onOverlay {
				added := slices.IndexFunc(recs, func(r knowledge.Record) bool { return strings.HasPrefix(r.Key, "added-d0") })
				if added < 0 {
					t.Fatal("no record added by d0")
				}
				recs = slices.Delete(recs, added, added+1)
				m = knowledge.NewManifest("d1", base, m.Created, recs)
			}
			d := deltaOf(ctx, s, base, baseRecs, recs)

			scans, proofs := s.scans.Load(), s.proofs.Load()
			applied, err := s.ApplyDelta(ctx, m, d)
			if err != nil {
				t.Fatal(err)
			}
			mustActivate(t, s, "d1")
			if n := s.scans.Load() - scans; n != 1 {
				t.Errorf("ApplyDelta and Activate read the base %d times, want once", n)
			}
			if n := s.proofs.Load() - proofs; n != 0 {
				t.Errorf("ApplyDelta and Activate made %d proofs besides the apply's, want 0", n)
			}
			var changed, withdrawn int
			for _, ch := range d.Changes {
				if ch.Kind == ChangeDelete {
					withdrawn++
				} else {
					changed++
				}
			}
			if len(applied.Changed) != changed || len(applied.Withdrawn) != withdrawn {
				t.Errorf("Applied: %d changed, %d withdrawn; the delta changes %d and withdraws %d",
					len(applied.Changed), len(applied.Withdrawn), changed, withdrawn)
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
			if n := keysUnder(t, s, string(overlayPrefix("d1"))); n == 0 || n > len(recs)/4 {
				t.Fatalf("%d overlay entries: not stored as changes to its base", n)
			}
			check := func(s *Store, when string) {
				t.Helper()
				if err := s.Verify(ctx, "d1"); err != nil {
					t.Fatalf("%s: Verify: %v", when, err)
				}
				got, err := s.Records(ctx, "d1")
				if err != nil {
					t.Fatal(err)
				}
				if d := recordsEqual(got, recs); d != "" {
					t.Fatalf("%s: Records: %s", when, d)
				}
			}
			check(s, "after apply")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openDisk(t, dir, nil)
			if v := activeVersion(t, s); v != "d1" {
				t.Fatalf("active after reopen %q, want d1", v)
			}
			check(s, "after reopen")
		})
	}
}

// TestApplyDeltaRefuses: a delta that does not make its manifest, does
// not fit its base, or is not well-formed writes nothing and says which;
// the good delta is stored afterwards.
func TestApplyDeltaRefuses(t *testing.T) {
	ctx := context.Background()
	s, bm, brecs := withActiveBase(t)
	m, recs := makeDeltaRelease("d1", bm.Version, brecs)
	good := deltaOf(ctx, s, bm.Version, brecs, recs)
	if len(good.Changes) < 3 {
		t.Fatalf("delta of %d changes", len(good.Changes))
	}
	find := func(d Delta, kind ChangeKind) int {
		i := slices.IndexFunc(d.Changes, func(c Change) bool { return c.Kind == kind })
		if i < 0 {
			t.Fatalf("no change of kind %d", kind)
		}
		return i
	}
	edit := func(f func(d *Delta)) Delta {
		d := good
		d.Changes = slices.Clone(good.Changes)
		f(&d)
		return d
	}
	tests := []struct {
		name  string
		m     knowledge.Manifest
		delta Delta
		want  error
		says  string
	}{
		{"a value not in the manifest", m, edit(func(d *Delta) {
			i := find(*d, ChangeReplace)
			d.Changes[i].Record = revised(d.Changes[i].Record, "x")
		}), ErrInvalidRelease, "content_sha256"},
		{"a change left out", m, edit(func(d *Delta) { d.Changes = d.Changes[1:] }), ErrInvalidRelease, "do not make release d1"},
		{"another manifest's counts", knowledge.NewManifest("d1", bm.Version, m.Created, brecs), good, ErrInvalidRelease, "records"},
		{"an addition of a record the base has", m, edit(func(d *Delta) {
			i := find(*d, ChangeReplace)
			d.Changes[i].Kind = ChangeAdd
		}), ErrDeltaBase, "already has"},
		{"a replacement of a record the base lacks", m, edit(func(d *Delta) {
			i := find(*d, ChangeAdd)
			d.Changes[i].Kind = ChangeReplace
		}), ErrDeltaBase, "does not have"},
		{"a removal of a record the base lacks", m, edit(func(d *Delta) {
			i := find(*d, ChangeAdd)
			d.Changes[i] = Change{Kind: ChangeDelete, Record: knowledge.Record{Class: d.Changes[i].Record.Class, Key: d.Changes[i].Record.Key}}
		}), ErrDeltaBase, "does not have"},
		{"against other content", m, edit(func(d *Delta) { d.BaseSHA256 = strings.Repeat("0", 64) }), ErrDeltaBase, "the delta is against content 000000000000"},
		{"against a release not stored", m, edit(func(d *Delta) { d.Base = "missing" }), ErrDeltaBase, "missing"},
		{"changes out of order", m, edit(func(d *Delta) { d.Changes[0], d.Changes[1] = d.Changes[1], d.Changes[0] }), ErrInvalidRelease, "not sorted"},
		{"a removal with a value", m, edit(func(d *Delta) {
			i := find(*d, ChangeDelete)
			d.Changes[i].Record.Value = []byte("{}")
		}), ErrInvalidRelease, "carries a value"},
		{"an unknown kind", m, edit(func(d *Delta) { d.Changes[0].Kind = 0 }), ErrInvalidRelease, "kind 0"},
		{"a class with a NUL byte", m, edit(func(d *Delta) {
			d.Changes = append(d.Changes, Change{Kind: ChangeAdd, Record: knowledge.Record{Class: "zz\x00", Key: "k", Value: []byte("{}")}})
		}), ErrInvalidRelease, "NUL"},
		{"itself as its base", knowledge.NewManifest(bm.Version, "", m.Created, recs), good, ErrInvalidRelease, "itself"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ApplyDelta(ctx, tc.m, tc.delta)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("ApplyDelta = %v, want %v saying %q", err, tc.want, tc.says)
			}
			if n := releaseKeys(t, s, "d1"); n != 0 {
				t.Fatalf("refused delta left %d keys", n)
			}
		})
	}
	if _, err := s.ApplyDelta(ctx, m, good); err != nil {
		t.Fatalf("ApplyDelta after the refusals: %v", err)
	}
	// Stored already: the same delta again is a no-op, another content a
	// conflict.
	if _, err := s.ApplyDelta(ctx, m, good); err != nil {
		t.Fatalf("ApplyDelta again: %v", err)
	}
	if _, err := s.ApplyDelta(ctx, m, tests[0].delta); !errors.Is(err, ErrInvalidRelease) {
		t.Fatalf("ApplyDelta again with a delta that does not make it = %v, want ErrInvalidRelease", err)
	}
	other := knowledge.NewManifest("d1", bm.Version, m.Created, brecs)
	if _, err := s.ApplyDelta(ctx, other, Delta{Base: bm.Version, BaseSHA256: bm.ContentSHA256}); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("ApplyDelta of other content under a stored version = %v, want ErrVersionConflict", err)
	}
}

// TestApplyDeltaOnADamagedBase: a damaged base record the delta keeps
// makes the result miss its manifest; ApplyDelta then proves the base and
// says it is damaged (ErrCorrupt), writing nothing. A damaged record the
// delta replaces does not reach the new release, which is stored and
// correct; the base's own proof finds the damage.
func TestApplyDeltaOnADamagedBase(t *testing.T) {
	ctx := context.Background()
	for _, replaced := range []bool{false, true} {
		t.Run(map[bool]string{false: "kept record damaged", true: "replaced record damaged"}[replaced], func(t *testing.T) {
			s, bm, brecs := withActiveBase(t)
			m, recs := makeDeltaRelease("d1", bm.Version, brecs)
			d := deltaOf(ctx, s, bm.Version, brecs, recs)
			// makeDeltaRelease revises every 50th record: record 0 is
			// replaced, record 1 kept (unless withdrawn).
			n := 1
			if replaced {
				n = 0
			}
			if !replaced && !slices.ContainsFunc(recs, func(r knowledge.Record) bool { return r.Class == brecs[1].Class && r.Key == brecs[1].Key }) {
				t.Fatal("record 1 withdrawn by the delta")
			}
			corruptRecordAt(t, s, bm.Version, n)
			_, err := s.ApplyDelta(ctx, m, d)
			if !replaced {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "is damaged") {
					t.Fatalf("ApplyDelta = %v, want ErrCorrupt saying the base is damaged", err)
				}
				if n := releaseKeys(t, s, "d1"); n != 0 {
					t.Fatalf("refused delta left %d keys", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Records(ctx, "d1")
			if err != nil {
				t.Fatal(err)
			}
			if d := recordsEqual(got, recs); d != "" {
				t.Fatalf("Records of d1: %s", d)
			}
			if err := s.Verify(ctx, bm.Version); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify of the damaged base = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestApplyDeltaTooLargeIsStoredWhole: a delta whose overlay would exceed
// a quarter of the records is stored as a full release (no base), from
// one read of its base, and is the release.
func TestApplyDeltaTooLargeIsStoredWhole(t *testing.T) {
	ctx := context.Background()
	s, bm, brecs := withActiveBase(t)
	recs := slices.Clone(brecs)
	for i := 0; i < len(recs); i += 3 {
		recs[i] = revised(recs[i], "big")
	}
	m := knowledge.NewManifest("big", bm.Version, bm.Created, recs)
	scans := s.scans.Load()
	applied, err := s.ApplyDelta(ctx, m, deltaOf(ctx, s, bm.Version, brecs, recs))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.scans.Load() - scans; n != 2 {
		t.Errorf("%d reads of records (the base's and the written release's), want 2", n)
	}
	if len(applied.Changed) != (len(recs)+2)/3 || len(applied.Withdrawn) != 0 {
		t.Errorf("Applied: %d changed, %d withdrawn", len(applied.Changed), len(applied.Withdrawn))
	}
	if n := keysUnder(t, s, string(overlayPrefix("big"))); n != 0 {
		t.Fatalf("%d overlay entries, want a full release", n)
	}
	if n := keysUnder(t, s, string(recordPrefix("big"))); n != len(recs) {
		t.Fatalf("%d records stored whole, want %d", n, len(recs))
	}
	got, err := s.Records(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if d := recordsEqual(got, recs); d != "" {
		t.Fatalf("Records: %s", d)
	}
}

// withActiveBase is a store on disk with baseRelease(400) active, closed
// when the test ends.
func withActiveBase(t *testing.T) (*Store, knowledge.Manifest, []knowledge.Record) {
	t.Helper()
	s := openDisk(t, t.TempDir(), nil)
	t.Cleanup(func() { _ = s.Close() })
	bm, brecs := baseRelease(400)
	mustPut(t, s, bm, brecs)
	mustActivate(t, s, bm.Version)
	return s, bm, brecs
}

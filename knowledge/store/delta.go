package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/knowledge"
)

// ErrDeltaBase: a delta's changes do not fit the release they are given
// against — it is not stored here with that content, or a change adds a
// record the base has, or replaces or removes one it lacks. Nothing was
// written.
var ErrDeltaBase = errors.New("delta does not apply to its base release")

// ChangeKind is what a Change does to its record.
type ChangeKind uint8

const (
	// ChangeAdd adds a record the base does not have.
	ChangeAdd ChangeKind = iota + 1
	// ChangeReplace gives a record of the base a new value.
	ChangeReplace
	// ChangeDelete removes a record of the base (Record.Value empty).
	ChangeDelete
)

// Change is one operation of a delta on the record of its class and key.
type Change struct {
	Kind   ChangeKind
	Record knowledge.Record
}

// Delta is a release given as changes to a release in the store.
type Delta struct {
	// Base is the version of the release the changes apply to, and
	// BaseSHA256 the content hash it must have.
	Base       string
	BaseSHA256 string
	// Changes, sorted by (class, key), one per record at most.
	Changes []Change
}

// Applied is the difference ApplyDelta found between the base and the
// release it stored.
type Applied struct {
	// Changed are the records the release adds, or holds with another
	// value than the base (their new values).
	Changed []knowledge.Record
	// Withdrawn are the base's records the release no longer has (class
	// and key only).
	Withdrawn []knowledge.Record
}

// ApplyDelta stores the release m made by applying d.Changes to d.Base
// without anyone holding either release's records in memory: it reads the
// base from Badger once, applies the changes as the base streams, and
// hashes the result against m (counts and content hash) before anything is
// written. A difference from the base's full release of at most a quarter
// of the records is stored as an overlay (package doc, "Overlays"); a
// larger one is stored whole, from the records the merge kept. Storing a
// version stored already is a no-op if its content hash is m's, and
// ErrVersionConflict otherwise. Applied is the release's difference from
// the base (what a compiled index of the base needs to become m's).
//
// The base is not hashed on its own: a damaged base record the changes do
// not replace makes the result miss m's hash. The base is then proven to
// tell the two apart, and a damaged base is ErrCorrupt, a delta that
// does not make m ErrInvalidRelease; changes that contradict the base are
// ErrDeltaBase. In each case nothing is written.
//
// What is stored is the overlay's entries read back and compared with
// what was written, merged with the base that was just read: the Activate
// of m that follows does not prove it again (provenWrite). A base record
// damaged on disk after the read is found by the next Verify, Records or
// Open.
func (s *Store) ApplyDelta(ctx context.Context, m knowledge.Manifest, d Delta) (Applied, error) {
	if err := s.enter(); err != nil {
		return Applied{}, err
	}
	defer s.leave()
	s.dropPrimed()
	fail := func(err error) (Applied, error) {
		return Applied{}, fmt.Errorf("put knowledge release %q as changes to %q: %w", m.Version, d.Base, err)
	}
	if err := validateVersion(m.Version); err != nil {
		return fail(err)
	}
	if err := validateVersion(d.Base); err != nil {
		return fail(err)
	}
	if d.Base == m.Version {
		return fail(fmt.Errorf("%w: it cannot be stored as changes to itself", ErrInvalidRelease))
	}
	if err := checkChanges(d.Changes); err != nil {
		return fail(err)
	}
	s.pin(d.Base)
	defer s.unpin(d.Base)

	var (
		bm    knowledge.Manifest
		ref   baseRef
		isOvl bool
		prior []ovlEntry
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if bm, _, err = s.loadManifest(txn, d.Base); err != nil {
			return err
		}
		if ref, isOvl, err = s.loadBaseRef(txn, d.Base); err != nil || !isOvl {
			ref = baseRef{version: d.Base, sha: bm.ContentSHA256}
			return err
		}
		prior, err = s.readOverlay(ctx, txn, d.Base, true)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return fail(fmt.Errorf("%w: %w", ErrDeltaBase, err))
	}
	if err != nil {
		return fail(fmt.Errorf("read base release: %w", err))
	}
	if bm.ContentSHA256 != d.BaseSHA256 {
		return fail(fmt.Errorf("%w: it is stored with content %s…, the delta is against content %s…", ErrDeltaBase, short(bm.ContentSHA256), short(d.BaseSHA256)))
	}
	s.pin(ref.version) // the base's own base, if the base is an overlay
	defer s.unpin(ref.version)

	start := time.Now()
	entries := composeChanges(prior, d.Changes)
	// An overlay beyond its share is written whole: the merge then keeps
	// the records it proves.
	whole := len(entries)*overlayMaxShare > m.RecordCount
	var (
		records []knowledge.Record
		applied Applied
	)
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		records, applied, err = s.mergeDelta(ctx, txn, m, bm, ref, isOvl, d.Changes, whole)
		return err
	})
	if err != nil {
		return fail(err)
	}
	plan := &overlayPlan{base: ref, entries: entries}
	need, write := plan.diskBytes(), func() error { return s.writeOverlayEntries(ctx, m, plan) }
	stored := []any{"base", ref.version, "delta_base", d.Base, "changes", len(d.Changes), "entries", len(entries)}
	if whole {
		s.log.Info("storing delta release whole", "version", m.Version, "base", d.Base,
			"why", fmt.Sprintf("%d changes against %s is more than 1/%d of %d records", len(entries), ref.version, overlayMaxShare, m.RecordCount))
		need, write = releaseDiskBytes(records), func() error { return s.writeRelease(ctx, m, records) }
		stored = []any{"delta_base", d.Base, "changes", len(d.Changes)}
	}
	wrote, err := s.writeVersion(ctx, m, need, write)
	if err != nil {
		return Applied{}, err
	}
	if wrote {
		s.log.Info("stored knowledge release from a delta", append(stored, "version", m.Version, "records", m.RecordCount,
			"whole", whole, "content_sha256", m.ContentSHA256, "duration", time.Since(start))...)
	}
	return applied, nil
}

// checkChanges refuses changes that are not sorted by (class, key) and
// unique, or that are not well-formed operations.
func checkChanges(changes []Change) error {
	for i := range changes {
		c := &changes[i]
		r := &c.Record
		switch {
		case c.Kind < ChangeAdd || c.Kind > ChangeDelete:
			return fmt.Errorf("%w: change %d (%s %q) has kind %d", ErrInvalidRelease, i, r.Class, r.Key, c.Kind)
		case c.Kind == ChangeDelete && len(r.Value) != 0:
			return fmt.Errorf("%w: change %d removes %s %q and carries a value", ErrInvalidRelease, i, r.Class, r.Key)
		case r.Class == "":
			return fmt.Errorf("%w: change %d (key %q) has an empty class", ErrInvalidRelease, i, r.Key)
		case strings.IndexByte(string(r.Class), 0) >= 0:
			return fmt.Errorf("%w: change %d class %q contains a NUL byte", ErrInvalidRelease, i, r.Class)
		}
		if i > 0 {
			if p := &changes[i-1].Record; compareCK(p.Class, p.Key, r.Class, r.Key) >= 0 {
				return fmt.Errorf("%w: changes not sorted by (class, key) and unique: %s %q at index %d follows %s %q",
					ErrInvalidRelease, r.Class, r.Key, i, p.Class, p.Key)
			}
		}
	}
	return nil
}

// mergeDelta streams the base bm (an overlay on ref if isOvl, else the
// full release ref) with changes applied, proves the result against m and
// returns the difference from the base, and with keep the result's
// records.
func (s *Store) mergeDelta(ctx context.Context, txn *badger.Txn, m, bm knowledge.Manifest, ref baseRef, isOvl bool, changes []Change, keep bool) ([]knowledge.Record, Applied, error) {
	var (
		records []knowledge.Record
		kept    keeper
		applied Applied
		t       = newTally()
		j       int // next change
	)
	emit := func(c, k, v []byte) {
		t.add(c, k, v)
		if keep {
			records = append(records, kept.record(c, k, v))
		}
	}
	emitChange := func(r *knowledge.Record) { emit(bytesOf(string(r.Class)), bytesOf(r.Key), r.Value) }
	// add applies an addition before base record rk (or at the end).
	add := func(ch *Change) error {
		if ch.Kind != ChangeAdd {
			return fmt.Errorf("%w: %s of %s %q, which %s does not have", ErrDeltaBase, kindName(ch.Kind), ch.Record.Class, ch.Record.Key, bm.Version)
		}
		emitChange(&ch.Record)
		applied.Changed = append(applied.Changed, ch.Record)
		return nil
	}
	visit := func(rk, v []byte) error {
		sep := bytes.IndexByte(rk, 0)
		if sep <= 0 {
			return &CorruptError{Dir: s.dir, Version: bm.Version, Reason: fmt.Sprintf("malformed record key %q", rk)}
		}
		c, k := rk[:sep], rk[sep+1:]
		for ; j < len(changes); j++ {
			ch := &changes[j]
			cmp := compareRecordKey(c, k, &ch.Record)
			if cmp < 0 {
				break
			}
			if cmp > 0 {
				if err := add(ch); err != nil {
					return err
				}
				continue
			}
			j++
			switch ch.Kind {
			case ChangeAdd:
				return fmt.Errorf("%w: addition of %s %q, which %s already has", ErrDeltaBase, ch.Record.Class, ch.Record.Key, bm.Version)
			case ChangeReplace:
				emitChange(&ch.Record)
				if !bytes.Equal(v, ch.Record.Value) {
					applied.Changed = append(applied.Changed, ch.Record)
				}
			case ChangeDelete:
				applied.Withdrawn = append(applied.Withdrawn, knowledge.Record{Class: ch.Record.Class, Key: ch.Record.Key})
			}
			return nil
		}
		emit(c, k, v)
		return nil
	}
	var err error
	if isOvl {
		err = s.scanMerged(ctx, txn, bm, &ref, visit)
	} else {
		err = s.scanWhole(ctx, txn, bm.Version, visit)
	}
	for ; err == nil && j < len(changes); j++ {
		err = add(&changes[j])
	}
	if err != nil {
		return nil, Applied{}, err
	}
	if mismatch := t.mismatch(m); mismatch != "" {
		// Either the delta does not make m, or the base read is damaged:
		// only the base's own proof tells which.
		if err := s.prove(ctx, txn, bm, nil); err != nil {
			return nil, Applied{}, fmt.Errorf("base release %q is damaged; fetch the full release %q instead: %w", bm.Version, m.Version, err)
		}
		return nil, Applied{}, fmt.Errorf("%w: the changes applied to %s do not make release %s: %s", ErrInvalidRelease, bm.Version, m.Version, mismatch)
	}
	return records, applied, nil
}

// keeper copies records read from Badger (valid only during the read)
// into memory that outlives it: one string per class, values in shared
// chunks (as readProven).
type keeper struct {
	class knowledge.Class
	chunk []byte
}

func (kp *keeper) record(c, k, v []byte) knowledge.Record {
	if string(c) != string(kp.class) {
		kp.class = knowledge.Class(c)
	}
	if len(v) > cap(kp.chunk)-len(kp.chunk) {
		kp.chunk = make([]byte, 0, max(valueChunk, len(v)))
	}
	n := len(kp.chunk)
	kp.chunk = append(kp.chunk, v...)
	return knowledge.Record{Class: kp.class, Key: string(k), Value: kp.chunk[n:len(kp.chunk):len(kp.chunk)]}
}

// composeChanges is the overlay that sets each changed key to its value in
// the new release, or removes it, over prior (the base's own overlay, in
// key order; nil for a full base). A removal of a key the full release
// never had (added by prior, removed now) is kept: merging skips it.
func composeChanges(prior []ovlEntry, changes []Change) []ovlEntry {
	out := make([]ovlEntry, 0, len(prior)+len(changes))
	i := 0
	for j := range changes {
		ch := &changes[j]
		for i < len(prior) && compareCK(prior[i].class, prior[i].key, ch.Record.Class, ch.Record.Key) < 0 {
			out = append(out, prior[i])
			i++
		}
		if i < len(prior) && prior[i].class == ch.Record.Class && prior[i].key == ch.Record.Key {
			i++
		}
		e := ovlEntry{class: ch.Record.Class, key: ch.Record.Key, value: ch.Record.Value, del: ch.Kind == ChangeDelete}
		out = append(out, e)
	}
	return append(out, prior[i:]...)
}

// writeOverlayEntries writes an overlay whose merged stream mergeDelta
// has proven against m: marker, entries, the entries read back and
// compared with plan's, then manifest and base reference with the
// marker's deletion in one transaction. The proof is remembered for the
// Activate that follows.
func (s *Store) writeOverlayEntries(ctx context.Context, m knowledge.Manifest, plan *overlayPlan) error {
	v := m.Version
	if err := s.writeMarker(v); err != nil {
		return err
	}
	if err := s.putEntries(ctx, v, plan.entries); err != nil {
		return err
	}
	if err := s.readBackEntries(ctx, v, plan.entries); err != nil {
		return fmt.Errorf("read back written overlay on %q: %w", plan.base.version, err)
	}
	if err := s.writeManifest(m, &plan.base); err != nil {
		return err
	}
	s.rememberProven(v)
	return nil
}

func kindName(k ChangeKind) string {
	switch k {
	case ChangeAdd:
		return "addition"
	case ChangeReplace:
		return "replacement"
	case ChangeDelete:
		return "removal"
	}
	return fmt.Sprintf("change kind %d", k)
}

// compareRecordKey compares the record key (class c, key k) read from
// Badger with r's, in the (class, key) order.
func compareRecordKey(c, k []byte, r *knowledge.Record) int {
	if x := bytes.Compare(c, bytesOf(string(r.Class))); x != 0 {
		return x
	}
	return bytes.Compare(k, bytesOf(r.Key))
}

// bytesOf is s's bytes, not copied: only for reading (hashing, comparing).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func short(sha string) string { return sha[:min(len(sha), 12)] }

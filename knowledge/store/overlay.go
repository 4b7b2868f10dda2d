package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

// Overlays: a release stored as its differences from a complete full
// release already in the store (package doc, "Overlays").

const (
	ovlPrefix = "ovl/"

	// Overlay entry values start with one of these tags.
	tagSet = 's' // the record's value follows
	tagDel = 'd' // the record is not in the release (nothing follows)

	// overlayMaxShare: a delta whose difference from the full base has
	// more than 1/overlayMaxShare of the new release's records is written
	// as a full release: the overlay would cost nearly a full write anyway,
	// and every later proof would walk base and overlay both.
	overlayMaxShare = 4
)

func baseKey(v string) []byte       { return []byte(relPrefix + v + "/base") }
func overlayPrefix(v string) []byte { return []byte(ovlPrefix + v + "/") }

// baseRef names the full release an overlay changes, with the content hash
// it had when the overlay was written: a base removed and put again with
// other content must not silently change what the overlay means.
type baseRef struct {
	version string
	sha     string
}

func (r baseRef) encode() []byte { return []byte(r.version + "\x00" + r.sha) }

// loadBaseRef reads rel/<v>/base; ok=false for a full release.
func (s *Store) loadBaseRef(txn *badger.Txn, v string) (baseRef, bool, error) {
	item, err := txn.Get(baseKey(v))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return baseRef{}, false, nil
	}
	if err != nil {
		return baseRef{}, false, fmt.Errorf("read base of %q: %w", v, err)
	}
	var ref baseRef
	err = item.Value(func(b []byte) error {
		ref, err = parseBaseRef(v, b)
		return err
	})
	if err != nil {
		if cerr := (*CorruptError)(nil); errors.As(err, &cerr) {
			cerr.Dir = s.dir
		}
		return baseRef{}, true, err
	}
	return ref, true, nil
}

// parseBaseRef decodes the base reference stored for overlay v.
func parseBaseRef(v string, b []byte) (baseRef, error) {
	bv, sha, ok := strings.Cut(string(b), "\x00")
	if !ok || validateVersion(bv) != nil || bv == v || sha == "" {
		return baseRef{}, &CorruptError{Version: v, Reason: fmt.Sprintf("malformed base reference %.80q", b)}
	}
	return baseRef{version: bv, sha: sha}, nil
}

// ovlEntry is one overlay entry: a record set to value, or removed (del).
type ovlEntry struct {
	class knowledge.Class
	key   string
	value []byte
	del   bool
}

func compareCK(ac knowledge.Class, ak string, bc knowledge.Class, bk string) int {
	if c := strings.Compare(string(ac), string(bc)); c != 0 {
		return c
	}
	return strings.Compare(ak, bk)
}

// diffRecords returns what turns base into records: records added or
// changed, and removals. Both must be sorted by (class, key) and unique;
// records has been checked, base is checked here.
func diffRecords(base, records []knowledge.Record) ([]ovlEntry, error) {
	var out []ovlEntry
	i, j := 0, 0
	for i < len(base) || j < len(records) {
		if i > 0 && i < len(base) && compareCK(base[i-1].Class, base[i-1].Key, base[i].Class, base[i].Key) >= 0 {
			return nil, fmt.Errorf("%w: base records not sorted and unique at index %d (%s %q)", ErrInvalidRelease, i, base[i].Class, base[i].Key)
		}
		var c int
		switch {
		case i == len(base):
			c = 1
		case j == len(records):
			c = -1
		default:
			c = compareCK(base[i].Class, base[i].Key, records[j].Class, records[j].Key)
		}
		switch {
		case c < 0:
			out = append(out, ovlEntry{class: base[i].Class, key: base[i].Key, del: true})
			i++
		case c > 0:
			out = append(out, ovlEntry{class: records[j].Class, key: records[j].Key, value: records[j].Value})
			j++
		default:
			if !bytes.Equal(base[i].Value, records[j].Value) {
				out = append(out, ovlEntry{class: records[j].Class, key: records[j].Key, value: records[j].Value})
			}
			i++
			j++
		}
	}
	return out, nil
}

// composeOverlay is the overlay of records on the full base that prior (an
// overlay on that base) was written against, given diff (records against
// prior's whole release): every key either touched is set to its value in
// records, or removed if records lacks it. A key outside both has prior's
// value, which is the base's, which is records'. A removal of a key the
// base never had (added by prior, removed now) is kept: merging skips it.
func composeOverlay(prior, diff []ovlEntry, records []knowledge.Record) []ovlEntry {
	out := make([]ovlEntry, 0, len(prior)+len(diff))
	i, j, r := 0, 0, 0
	for i < len(prior) || j < len(diff) {
		var e *ovlEntry
		switch {
		case i == len(prior):
			e = &diff[j]
			j++
		case j == len(diff):
			e = &prior[i]
			i++
		default:
			switch c := compareCK(prior[i].class, prior[i].key, diff[j].class, diff[j].key); {
			case c < 0:
				e = &prior[i]
				i++
			case c > 0:
				e = &diff[j]
				j++
			default:
				e = &diff[j]
				i++
				j++
			}
		}
		for r < len(records) && compareCK(records[r].Class, records[r].Key, e.class, e.key) < 0 {
			r++
		}
		if r < len(records) && records[r].Class == e.class && records[r].Key == e.key {
			out = append(out, ovlEntry{class: e.class, key: e.key, value: records[r].Value})
		} else {
			out = append(out, ovlEntry{class: e.class, key: e.key, del: true})
		}
	}
	return out
}

// overlayPlan is what PutDelta writes for an overlay.
type overlayPlan struct {
	base    baseRef
	entries []ovlEntry
	// from is the release the caller's base records are of: base itself,
	// or an overlay on it whose combined difference entries is.
	from        string
	fromRecords []knowledge.Record
}

func (p *overlayPlan) diskBytes() uint64 {
	var n uint64
	for i := range p.entries {
		e := &p.entries[i]
		n += uint64(len(ovlPrefix)+maxVersionLen/4+len(e.class)+len(e.key)+len(e.value)) + 65
	}
	return 2 * n
}

// planOverlay decides how to store records (already checked against their
// manifest) given the records of base: as an overlay on base if base is a
// full release, on base's own base if base is an overlay (the combined
// difference: chains never grow beyond one level), or — nil — as a full
// release if the difference is too large. The caller has pinned base.
func (s *Store) planOverlay(ctx context.Context, base string, baseRecords, records []knowledge.Record) (*overlayPlan, string, error) {
	var (
		bm     knowledge.Manifest
		ref    baseRef
		isOvl  bool
		prior  []ovlEntry
		reason string
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if bm, _, err = s.loadManifest(txn, base); err != nil {
			return err
		}
		if ref, isOvl, err = s.loadBaseRef(txn, base); err != nil || !isOvl {
			return err
		}
		prior, err = s.readOverlay(ctx, txn, base, false)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("read base release %q: %w", base, err)
	}
	if len(baseRecords) != bm.RecordCount {
		return nil, "", fmt.Errorf("%w: %d base records given for %q, its manifest has %d", ErrInvalidRelease, len(baseRecords), base, bm.RecordCount)
	}
	diff, err := diffRecords(baseRecords, records)
	if err != nil {
		return nil, "", err
	}
	plan := &overlayPlan{base: baseRef{version: base, sha: bm.ContentSHA256}, entries: diff}
	if isOvl {
		plan = &overlayPlan{base: ref, entries: composeOverlay(prior, diff, records)}
	}
	plan.from, plan.fromRecords = base, baseRecords
	if len(plan.entries)*overlayMaxShare > len(records) {
		reason = fmt.Sprintf("%d changes against %s is more than 1/%d of %d records", len(plan.entries), plan.base.version, overlayMaxShare, len(records))
		return nil, reason, nil
	}
	return plan, "", nil
}

// readOverlay reads v's overlay entries in key order; values only with
// withValues (a plan needs the keys and removals, not prior values).
func (s *Store) readOverlay(ctx context.Context, txn *badger.Txn, v string, withValues bool) ([]ovlEntry, error) {
	prefix := overlayPrefix(v)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var out []ovlEntry
	var class knowledge.Class
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		if len(out)%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		item := it.Item()
		rk := item.Key()[len(prefix):]
		sep := bytes.IndexByte(rk, 0)
		if sep <= 0 {
			return nil, &CorruptError{Dir: s.dir, Version: v, Reason: fmt.Sprintf("malformed overlay key %q", item.Key())}
		}
		if string(rk[:sep]) != string(class) {
			class = knowledge.Class(rk[:sep])
		}
		e := ovlEntry{class: class, key: string(rk[sep+1:])}
		err := item.Value(func(b []byte) error {
			switch {
			case len(b) == 1 && b[0] == tagDel:
				e.del = true
			case len(b) >= 1 && b[0] == tagSet:
				if withValues {
					e.value = bytes.Clone(b[1:])
				}
			default:
				return &CorruptError{Dir: s.dir, Version: v, Reason: fmt.Sprintf("overlay entry %s %q has no valid tag", rk[:sep], rk[sep+1:])}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// writeOverlay is writeRelease for an overlay: marker; the entries; the
// merged stream proven against m and compared with records; manifest and
// base reference with the marker's deletion in one transaction. The proof
// is remembered for the Activate that follows (provenWrite).
//
// The comparison is what proves records themselves (put does not hash
// them): read back equal to records and hashing to m, records are m.
func (s *Store) writeOverlay(ctx context.Context, m knowledge.Manifest, plan *overlayPlan, records []knowledge.Record) error {
	v := m.Version
	if err := s.writeMarker(v); err != nil {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	prefix := overlayPrefix(v)
	for i := range plan.entries {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("write overlay entries (%d of %d written): %w", i, len(plan.entries), err)
			}
		}
		e := &plan.entries[i]
		val := []byte{tagDel}
		if !e.del {
			val = make([]byte, 1+len(e.value))
			val[0] = tagSet
			copy(val[1:], e.value)
		}
		if err := wb.Set(recordKey(prefix, e.class, e.key), val); err != nil {
			return fmt.Errorf("write overlay entry %s %q: %w", e.class, e.key, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("write overlay entries: %w", err)
	}
	if s.baseRecordsProven(plan) {
		if err := s.proveOverlayWrite(ctx, m, plan, records); err != nil {
			return err
		}
		if err := s.writeManifest(m, &plan.base); err != nil {
			return err
		}
		s.rememberProven(v)
		return nil
	}
	// As for a full release: prove what Badger now returns — the base's
	// records merged with the entries just written — before the manifest
	// declares the release complete.
	i := 0
	same := func(c, k, val []byte) error {
		if i >= len(records) || string(c) != string(records[i].Class) || string(k) != records[i].Key || !bytes.Equal(val, records[i].Value) {
			return &CorruptError{Dir: s.dir, Version: v, Reason: fmt.Sprintf(
				"record %d (%s %q) read back differs from the release put: the base records given are not those stored for %q, or the store is damaged",
				i, c, k, plan.base.version)}
		}
		i++
		return nil
	}
	err := s.db.View(func(txn *badger.Txn) error { return s.proveStream(ctx, txn, m, &plan.base, same) })
	if errors.Is(err, ErrCorrupt) && i == len(records) {
		// Read back exactly as put, so it is records that do not hash out.
		return fmt.Errorf("%w: the records do not match the manifest (%v)", ErrInvalidRelease, err)
	}
	if err != nil {
		return fmt.Errorf("read back written overlay on %q: %w", plan.base.version, err)
	}
	if err := s.writeManifest(m, &plan.base); err != nil {
		return err
	}
	s.rememberProven(v)
	return nil
}

// baseRecordsProven reports whether plan's base records are the ones this
// store's last Records returned and proved, of plan.from as it is stored
// now (readReceipt); the receipt is taken. put has pinned plan.from, so it
// stays as checked here until the write is complete.
func (s *Store) baseRecordsProven(plan *overlayPlan) bool {
	r, ok := s.takeReceipt(plan.from, plan.fromRecords)
	if !ok {
		return false
	}
	var seq uint64
	var fm knowledge.Manifest
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		fm, seq, err = s.loadManifest(txn, plan.from)
		return err
	})
	if err != nil || seq != r.seq || fm.ContentSHA256 != r.sha {
		// Stored again since it was read: prove from disk as before.
		s.log.Debug("base records read before the base was stored again; reading the base to prove the overlay",
			"base", plan.from, "read_commit", r.seq, "commit", seq, "err", err)
		return false
	}
	return true
}

// proveOverlayWrite is writeOverlay's proof when the caller's base
// records are the ones this store's Records returned and proved
// (baseRecordsProven): the base is not read from Badger again. What is stored is the base on disk
// merged with the entries on disk, so it proves
//
//   - the base on disk is plan.fromRecords: the receipt was issued for
//     exactly those records, proven against the manifest stored at a
//     commit version that is still the one stored (a complete
//     release is immutable; removed and put again, it has another commit
//     version). If plan.from is an overlay, its base is plan.base, which
//     cannot have been removed while plan.from was kept (DeleteRelease
//     and collection keep a needed base);
//   - the entries on disk are plan.entries: read back and compared;
//   - plan.fromRecords merged with plan.entries is records, and records
//     hash to m (counts were checked by put).
//
// Damage to a base record on disk after the Records call that proved it
// is not seen here, nor by the Activate that follows (provenWrite): the
// next Verify, Records of the overlay or its base, or Open finds it.
func (s *Store) proveOverlayWrite(ctx context.Context, m knowledge.Manifest, plan *overlayPlan, records []knowledge.Record) error {
	v := m.Version
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Dir: s.dir, Version: v, Reason: fmt.Sprintf(format, args...)}
	}
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := overlayPrefix(v)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		i := 0
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if i%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if i >= len(plan.entries) {
				return corrupt("overlay entry %q read back was not written", it.Item().Key())
			}
			e := &plan.entries[i]
			rk := it.Item().Key()[len(prefix):]
			if len(rk) != len(e.class)+1+len(e.key) || string(rk[:len(e.class)]) != string(e.class) || rk[len(e.class)] != 0 || string(rk[len(e.class)+1:]) != e.key {
				return corrupt("overlay entry %d read back is %q, written %s %q", i, rk, e.class, e.key)
			}
			if err := it.Item().Value(func(b []byte) error {
				if e.del {
					if len(b) != 1 || b[0] != tagDel {
						return corrupt("overlay entry %s %q read back is not the removal written", e.class, e.key)
					}
					return nil
				}
				if len(b) == 0 || b[0] != tagSet || !bytes.Equal(b[1:], e.value) {
					return corrupt("overlay entry %s %q read back differs from the value written", e.class, e.key)
				}
				return nil
			}); err != nil {
				return err
			}
			i++
		}
		if i != len(plan.entries) {
			return corrupt("%d overlay entries read back, %d written", i, len(plan.entries))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read back written overlay on %q: %w", plan.base.version, err)
	}
	return proveMergedInMemory(ctx, m, plan.fromRecords, plan.entries, records)
}

// proveMergedInMemory checks that base merged with entries (both sorted by
// (class, key)) is records, and that records hash to m; a mismatch is
// ErrInvalidRelease: the records put are not the release m describes.
func proveMergedInMemory(ctx context.Context, m knowledge.Manifest, base []knowledge.Record, entries []ovlEntry, records []knowledge.Record) error {
	h := newRecordHasher()
	n := 0
	emit := func(c knowledge.Class, k string, val []byte) error {
		if n >= len(records) || records[n].Class != c || records[n].Key != k || !bytes.Equal(records[n].Value, val) {
			return fmt.Errorf("%w: record %d (%s %q) of the base records with the changes applied is not the release's record there", ErrInvalidRelease, n, c, k)
		}
		h.addRecord(&records[n])
		n++
		yield.Sometimes(n)
		if n%ctxEvery == 0 {
			return ctx.Err()
		}
		return nil
	}
	i, j := 0, 0
	for i < len(base) || j < len(entries) {
		c := -1
		if j < len(entries) {
			c = 1
			if i < len(base) {
				c = compareCK(base[i].Class, base[i].Key, entries[j].class, entries[j].key)
			}
		}
		var err error
		switch {
		case c < 0:
			err = emit(base[i].Class, base[i].Key, base[i].Value)
			i++
		default:
			// The entry replaces (c == 0) or adds to (c > 0) the base; a
			// removal of a key the base lacks is skipped, as scanMerged does.
			if e := &entries[j]; !e.del {
				err = emit(e.class, e.key, e.value)
			}
			j++
			if c == 0 {
				i++
			}
		}
		if err != nil {
			return err
		}
	}
	if n != len(records) {
		return fmt.Errorf("%w: the base records with the changes applied are %d records, the release %d", ErrInvalidRelease, n, len(records))
	}
	if got := h.sum(); got != m.ContentSHA256 {
		return fmt.Errorf("%w: the records do not match the manifest (content_sha256 %s, records hash to %s)", ErrInvalidRelease, m.ContentSHA256, got)
	}
	return nil
}

// scanMerged visits the records of an overlay on ref: the base's records
// with the overlay's entries applied, in key order. rk is class\x00key.
func (s *Store) scanMerged(ctx context.Context, txn *badger.Txn, m knowledge.Manifest, ref *baseRef, visit func(rk, v []byte) error) error {
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Dir: s.dir, Version: m.Version, Reason: fmt.Sprintf(format, args...)}
	}
	bm, _, err := s.loadManifest(txn, ref.version)
	if errors.Is(err, ErrNotFound) {
		return corrupt("it is stored as changes to release %q, which is not in the store", ref.version)
	}
	if err != nil {
		return corrupt("it is stored as changes to release %q, which is unreadable: %v", ref.version, err)
	}
	if bm.ContentSHA256 != ref.sha {
		return corrupt("it is stored as changes to release %q with content %s; that release now has content %s", ref.version, ref.sha, bm.ContentSHA256)
	}
	if _, isOvl, err := s.loadBaseRef(txn, ref.version); err != nil || isOvl {
		return corrupt("its base %q is not a full release (overlay: %t, %v)", ref.version, isOvl, err)
	}

	bp, op := recordPrefix(ref.version), overlayPrefix(m.Version)
	bit := txn.NewIterator(badger.IteratorOptions{Prefix: bp})
	defer bit.Close()
	oit := txn.NewIterator(badger.IteratorOptions{Prefix: op})
	defer oit.Close()
	bit.Seek(bp)
	oit.Seek(op)
	emit := func(it *badger.Iterator, rk []byte, skipTag bool) error {
		return it.Item().Value(func(v []byte) error {
			if skipTag {
				v = v[1:]
			}
			return visit(rk, v)
		})
	}
	for n := 0; ; n++ {
		if n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		bok, ook := bit.ValidForPrefix(bp), oit.ValidForPrefix(op)
		if !bok && !ook {
			return nil
		}
		var brk, ork []byte
		if bok {
			brk = bit.Item().Key()[len(bp):]
		}
		c := -1
		if ook {
			ork = oit.Item().Key()[len(op):]
			c = 1
			if bok {
				c = bytes.Compare(brk, ork)
			}
		}
		if c < 0 {
			if err := emit(bit, brk, false); err != nil {
				return err
			}
			bit.Next()
			continue
		}
		// The overlay entry replaces (c == 0) or adds to (c > 0) the base.
		var tag byte
		if err := oit.Item().Value(func(v []byte) error {
			if len(v) == 0 || (v[0] != tagSet && v[0] != tagDel) || (v[0] == tagDel && len(v) != 1) {
				return corrupt("overlay entry %q has no valid tag", ork)
			}
			tag = v[0]
			return nil
		}); err != nil {
			return err
		}
		if tag == tagSet {
			if err := emit(oit, ork, true); err != nil {
				return err
			}
		}
		oit.Next()
		if c == 0 {
			bit.Next()
		}
	}
}

// provenWrite remembers the release this store last wrote and proved
// (writeOverlay), identified by its manifest's commit version, so that the
// Activate that follows does not read and hash the same records again
// straight after: one proof of what was written, not two. It is taken
// once, and removing that version forgets it.
type provenWrite struct {
	version string
	seq     uint64
	sha     string
}

func (s *Store) rememberProven(v string) {
	var (
		m   knowledge.Manifest
		seq uint64
	)
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		m, seq, err = s.loadManifest(txn, v)
		return err
	}); err != nil {
		return // Activate proves it then
	}
	s.provenMu.Lock()
	s.proven = &provenWrite{version: v, seq: seq, sha: m.ContentSHA256}
	s.provenMu.Unlock()
}

func (s *Store) takeProven(v string, seq uint64, sha string) bool {
	s.provenMu.Lock()
	defer s.provenMu.Unlock()
	p := s.proven
	if p == nil || p.version != v || p.seq != seq || p.sha != sha {
		return false
	}
	s.proven = nil
	return true
}

func (s *Store) forgetProven(v string) {
	s.provenMu.Lock()
	defer s.provenMu.Unlock()
	if s.proven != nil && (v == "" || s.proven.version == v) {
		s.proven = nil
	}
}

// verifyToActivate is Activate's proof: skipped only for the overlay this
// store has just written and proven (provenWrite).
func (s *Store) verifyToActivate(ctx context.Context, version string) error {
	return s.db.View(func(txn *badger.Txn) error {
		m, seq, err := s.loadManifest(txn, version)
		if err != nil {
			return err
		}
		if s.takeProven(version, seq, m.ContentSHA256) {
			return nil
		}
		return s.prove(ctx, txn, m, nil)
	})
}

// overlaysOn lists the releases stored as changes to version.
func overlaysOn(entries []relEntry, version string) []string {
	var out []string
	for _, e := range entries {
		if e.base == version {
			out = append(out, e.version)
		}
	}
	return out
}

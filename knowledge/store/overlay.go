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

// overlayPlan is what ApplyDelta writes for an overlay.
type overlayPlan struct {
	base    baseRef
	entries []ovlEntry
}

func (p *overlayPlan) diskBytes() uint64 {
	var n uint64
	for i := range p.entries {
		e := &p.entries[i]
		n += uint64(len(ovlPrefix)+maxVersionLen/4+len(e.class)+len(e.key)+len(e.value)) + 65
	}
	return 2 * n
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

// putEntries writes overlay entries of v (writeBatched).
func (s *Store) putEntries(ctx context.Context, v string, entries []ovlEntry) error {
	prefix := overlayPrefix(v)
	return s.writeBatched(ctx, "overlay entries", len(entries), func(i int) ([]byte, []byte) {
		e := &entries[i]
		if e.del {
			return recordKey(prefix, e.class, e.key), []byte{tagDel}
		}
		val := make([]byte, 1+len(e.value))
		val[0] = tagSet
		copy(val[1:], e.value)
		return recordKey(prefix, e.class, e.key), val
	})
}

// readBackEntries reads v's overlay entries back and compares them with
// the entries written: anything else is ErrCorrupt.
func (s *Store) readBackEntries(ctx context.Context, v string, entries []ovlEntry) error {
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Dir: s.dir, Version: v, Reason: fmt.Sprintf(format, args...)}
	}
	return s.db.View(func(txn *badger.Txn) error {
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
			yield.Sometimes(i)
			if i >= len(entries) {
				return corrupt("overlay entry %q read back was not written", it.Item().Key())
			}
			e := &entries[i]
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
		if i != len(entries) {
			return corrupt("%d overlay entries read back, %d written", i, len(entries))
		}
		return nil
	})
}

// scanMerged visits the records of an overlay on ref: the base's records
// with the overlay's entries applied, in key order. rk is class\x00key.
func (s *Store) scanMerged(ctx context.Context, txn *badger.Txn, m knowledge.Manifest, ref *baseRef, visit func(rk, v []byte) error) error {
	s.scans.Add(1)
	s.streams.Add(1)
	defer s.streams.Add(-1)
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
// (writeOverlayEntries), identified by its manifest's commit version, so
// that the Activate that follows does not read and hash the same records
// again straight after: one proof of what was written, not two. It is taken
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

package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"unsafe"

	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

// recordHasher computes knowledge.HashRecords incrementally, so that a
// release can be verified while it streams out of Badger instead of being
// materialised first. TestRecordHasherMatchesHashRecords pins the two
// together.
type recordHasher struct {
	h   hash.Hash
	len [8]byte
}

func newRecordHasher() *recordHasher { return &recordHasher{h: sha256.New()} }

func (r *recordHasher) field(b []byte) {
	binary.LittleEndian.PutUint64(r.len[:], uint64(len(b)))
	r.h.Write(r.len[:])
	r.h.Write(b)
}

func (r *recordHasher) add(class, key, value []byte) {
	r.field(class)
	r.field(key)
	r.field(value)
}

func (r *recordHasher) fieldString(s string) {
	binary.LittleEndian.PutUint64(r.len[:], uint64(len(s)))
	r.h.Write(r.len[:])
	// SHA-256's Write only reads its argument, so the string's bytes are
	// passed as they are: a []byte(s) copy would be 3 allocations a record.
	r.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// addRecord is add of a record in memory.
func (r *recordHasher) addRecord(rec *knowledge.Record) {
	r.fieldString(string(rec.Class))
	r.fieldString(rec.Key)
	r.field(rec.Value)
}

func (r *recordHasher) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

// tally hashes and counts a release's records as they stream by, in
// (class, key) order, to prove them against a manifest.
type tally struct {
	h      *recordHasher
	counts map[knowledge.Class]int
	class  []byte // of the current run
	run, n int
}

func newTally() *tally { return &tally{h: newRecordHasher(), counts: map[knowledge.Class]int{}} }

// add counts and hashes one record (yielding now and then: a release's
// pass is long).
func (t *tally) add(c, k, v []byte) {
	if !bytes.Equal(c, t.class) {
		if t.run > 0 {
			t.counts[knowledge.Class(t.class)] += t.run
		}
		t.class, t.run = append(t.class[:0], c...), 0
	}
	t.run++
	t.n++
	yield.Sometimes(t.n)
	t.h.add(c, k, v)
}

// mismatch says how the records added differ from m, or "" if they are
// m's: count, per-class counts, content hash.
func (t *tally) mismatch(m knowledge.Manifest) string {
	if t.run > 0 {
		t.counts[knowledge.Class(t.class)] += t.run
		t.run = 0
	}
	if t.n != m.RecordCount {
		return fmt.Sprintf("%d records, manifest record_count %d", t.n, m.RecordCount)
	}
	if diff := countsDiff(m.Counts, t.counts); diff != "" {
		return "per-class counts differ from the manifest: " + diff
	}
	if got := t.h.sum(); got != m.ContentSHA256 {
		return fmt.Sprintf("records hash to %s, manifest content_sha256 %s", got, m.ContentSHA256)
	}
	return ""
}

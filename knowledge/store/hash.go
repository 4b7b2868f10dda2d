package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"unsafe"

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

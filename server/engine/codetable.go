package engine

import (
	"hash/maphash"
	"math/bits"

	"github.com/rxguard/rxguard/internal/yield"
)

// codeTable is a read-only hash table from code to codeRef that holds no
// pointers: the codes are one byte slice back to back and the slots hold
// offsets into it, so the garbage collector marks two objects instead of
// tracing ≈ 480,000 map keys in every cycle. A Go map of the seeds' scale
// (26.7 MB and a string per code) was a third of a collection's mark work
// over the whole index, and on the sidecar's one core every collection's
// mark phase is time the checks wait (docs/PERFORMANCE.md, sixth pass).
//
// Open addressing with linear probing, at most three quarters full; a
// slot's tag (high bits of the hash, top bit always set) marks it used
// and spares most key comparisons.
type codeTable struct {
	seed  maphash.Seed
	keys  []byte
	slots []codeSlot
	n     int
}

type codeSlot struct {
	off, len uint32 // the code is keys[off : off+len]
	tag      uint32 // 0: empty
	ref      codeRef
}

// newCodeTable is an empty table sized for n codes of keyBytes bytes in
// all.
func newCodeTable(n, keyBytes int) codeTable {
	size := 8
	if want := n + n/3 + 1; want > size {
		size = 1 << bits.Len(uint(want-1))
	}
	return codeTable{seed: maphash.MakeSeed(), keys: make([]byte, 0, keyBytes), slots: make([]codeSlot, size)}
}

func tagOf(h uint64) uint32 { return uint32(h>>32) | 1<<31 }

// get is code's codeRef and whether the table holds code.
func (t *codeTable) get(code string) (codeRef, bool) {
	if t.n == 0 {
		return codeRef{}, false
	}
	h := maphash.String(t.seed, code)
	tag, mask := tagOf(h), uint64(len(t.slots)-1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.tag == 0 {
			return codeRef{}, false
		}
		if s.tag == tag && int(s.len) == len(code) && string(t.keys[s.off:s.off+s.len]) == code {
			return s.ref, true
		}
	}
}

// insert and insertString add a code the table does not hold yet; only
// the builders below call them, before the table is shared.
func (t *codeTable) insert(code []byte, ref codeRef) {
	t.place(maphash.Bytes(t.seed, code), len(code), ref)
	t.keys = append(t.keys, code...)
}

func (t *codeTable) insertString(code string, ref codeRef) {
	t.place(maphash.String(t.seed, code), len(code), ref)
	t.keys = append(t.keys, code...)
}

// place fills the first free slot of hash h with a code of n bytes that
// the caller appends to keys.
func (t *codeTable) place(h uint64, n int, ref codeRef) {
	if t.n >= len(t.slots)-1 {
		panic("engine: codeTable holds more codes than it was sized for")
	}
	tag, mask := tagOf(h), uint64(len(t.slots)-1)
	i := h & mask
	for t.slots[i].tag != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = codeSlot{off: uint32(len(t.keys)), len: uint32(n), tag: tag, ref: ref}
	t.n++
}

// each visits every code with its codeRef, in no order; the code's bytes
// are the table's own and must not be kept or changed.
func (t *codeTable) each(visit func(code []byte, ref codeRef)) {
	for i := range t.slots {
		if s := &t.slots[i]; s.tag != 0 {
			visit(t.keys[s.off:s.off+s.len], s.ref)
		}
	}
}

// codeTableOf is the table of a map Compile built.
func codeTableOf(m map[string]codeRef) codeTable {
	keyBytes := 0
	for code := range m {
		keyBytes += len(code)
	}
	t := newCodeTable(len(m), keyBytes)
	i := 0
	for code, ref := range m {
		yield.Sometimes(i)
		i++
		t.insertString(code, ref)
	}
	return t
}

package engine

import "github.com/rxguard/rxguard/internal/yield"

// codeTable is a read-only table from code to codeRef that holds no
// pointers: a code up to codeInline bytes is the map's key itself (a byte
// array), so the map's memory is not scanned and the garbage collector
// marks one object instead of tracing ≈ 480,000 string keys in every
// cycle. A map[string]codeRef at the seeds' scale (26.7 MB and a string per
// code) was a third of a collection's mark work over the whole index, and
// on the sidecar's one core every collection's mark phase is time the
// checks wait (docs/PERFORMANCE.md, sixth pass). A lookup costs what the
// string map's did (BenchmarkCodeLookup): a hand-written open-addressing
// table over a byte arena, tried first, was 1.5× slower per lookup.
type codeTable struct {
	short map[codeKey]codeRef
	long  map[string]codeRef // codes longer than codeInline (30 of 35,748 in a synthetic release)
}

// codeInline is the longest code held as an array key: the national
// formats' 15, 20 and 23 characters fit.
const codeInline = 23

type codeKey struct {
	n uint8
	b [codeInline]byte
}

func keyOf(code string) (codeKey, bool) {
	var k codeKey
	if len(code) > codeInline {
		return k, false
	}
	k.n = uint8(len(code))
	copy(k.b[:], code)
	return k, true
}

// newCodeTable is an empty table sized for n codes.
func newCodeTable(n int) codeTable {
	return codeTable{short: make(map[codeKey]codeRef, n)}
}

// len is the number of codes the table holds.
func (t *codeTable) len() int { return len(t.short) + len(t.long) }

// get is code's codeRef and whether the table holds code.
func (t *codeTable) get(code string) (codeRef, bool) {
	if k, ok := keyOf(code); ok {
		ref, ok := t.short[k]
		return ref, ok
	}
	ref, ok := t.long[code]
	return ref, ok
}

// insert adds code; only the builders (codeTableOf, copyWithout's
// callers, the physicians' freeze) call it, before the table is shared.
func (t *codeTable) insert(code string, ref codeRef) {
	if k, ok := keyOf(code); ok {
		t.short[k] = ref
		return
	}
	if t.long == nil {
		t.long = map[string]codeRef{}
	}
	t.long[code] = ref
}

// copyWithout is t without the codes drop holds, with room for n codes.
func (t *codeTable) copyWithout(drop map[string]changedRef, n int) codeTable {
	out := newCodeTable(n)
	for k, ref := range t.short {
		if _, ok := drop[string(k.b[:k.n])]; !ok {
			out.short[k] = ref
		}
	}
	for code, ref := range t.long {
		if _, ok := drop[code]; !ok {
			out.insert(code, ref)
		}
	}
	return out
}

// each visits every code with its codeRef, in no order; the code's bytes
// are valid only during the call.
func (t *codeTable) each(visit func(code []byte, ref codeRef)) {
	buf := make([]byte, 0, codeInline)
	for k, ref := range t.short {
		buf = append(buf[:0], k.b[:k.n]...)
		visit(buf, ref)
	}
	for code, ref := range t.long {
		visit([]byte(code), ref)
	}
}

// codeTableOf is the table of a map Compile built.
func codeTableOf(m map[string]codeRef) codeTable {
	t := newCodeTable(len(m))
	i := 0
	for code, ref := range m {
		yield.Sometimes(i)
		i++
		t.insert(code, ref)
	}
	return t
}

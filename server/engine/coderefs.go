package engine

import "maps"

// codeRefs maps every code the release knows to its codeRef. An index
// CompileDelta builds shares its predecessor's map and keeps the codes the
// delta changed beside it: copying the 700,000 codes of the seeds' scale
// for each delta was most of what a delta allocated (docs/PERFORMANCE.md).
// The changes are folded into a new shared map once they outgrow an eighth
// of it, so a lookup costs at most one probe of a small map more.
type codeRefs struct {
	shared  map[string]codeRef // written only while Compile builds it
	changed map[string]changedRef
	n       int // codes known
}

// changedRef is a code's codeRef as a delta left it; known=false: the
// delta withdrew the code.
type changedRef struct {
	ref   codeRef
	known bool
}

func newCodeRefs(size int) codeRefs { return codeRefs{shared: make(map[string]codeRef, size)} }

// get is code's codeRef and whether the release knows code (a zero
// codeRef if not).
func (c *codeRefs) get(code string) (codeRef, bool) {
	if len(c.changed) != 0 {
		if ch, ok := c.changed[code]; ok {
			return ch.ref, ch.known
		}
	}
	ref, ok := c.shared[code]
	return ref, ok
}

// put sets code's codeRef while Compile builds the map.
func (c *codeRefs) put(code string, ref codeRef) {
	if _, ok := c.shared[code]; !ok {
		c.n++
	}
	c.shared[code] = ref
}

// forDelta is a copy of c for CompileDelta to change: the shared map is
// shared, the changes copied.
func (c *codeRefs) forDelta() codeRefs {
	out := codeRefs{shared: c.shared, n: c.n, changed: maps.Clone(c.changed)}
	if out.changed == nil {
		out.changed = map[string]changedRef{}
	}
	return out
}

// change sets code's codeRef in a copy forDelta made, or withdraws the
// code (known=false).
func (c *codeRefs) change(code string, ref codeRef, known bool) {
	if _, had := c.get(code); had != known {
		if known {
			c.n++
		} else {
			c.n--
		}
	}
	if !known {
		ref = codeRef{}
	}
	c.changed[code] = changedRef{ref: ref, known: known}
}

// fold makes the changes part of a new shared map once they outgrow an
// eighth of it.
func (c *codeRefs) fold() {
	if len(c.changed)*8 <= len(c.shared) {
		return
	}
	shared := make(map[string]codeRef, c.n)
	for code, ref := range c.shared {
		if _, ok := c.changed[code]; !ok {
			shared[code] = ref
		}
	}
	for code, ch := range c.changed {
		if ch.known {
			shared[code] = ch.ref
		}
	}
	c.shared, c.changed = shared, nil
}

// all visits every code known with its codeRef, in no order.
func (c *codeRefs) all(visit func(code string, ref codeRef)) {
	for code, ref := range c.shared {
		if _, ok := c.changed[code]; !ok {
			visit(code, ref)
		}
	}
	for code, ch := range c.changed {
		if ch.known {
			visit(code, ch.ref)
		}
	}
}

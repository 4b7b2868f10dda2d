package engine

import "maps"

// codeRefs maps every code the release knows to its codeRef. Compile builds
// it in a Go map and freezes it into a codeTable (no pointers for the
// garbage collector to trace). An index CompileDelta builds shares its
// predecessor's table and keeps the codes the delta changed beside it:
// copying the 700,000 codes of the seeds' scale for each delta was most of
// what a delta allocated (docs/PERFORMANCE.md). The changes are folded
// into a new shared table once they outgrow an eighth of it, so a lookup
// costs at most one probe of a small map more.
type codeRefs struct {
	shared  codeTable
	build   map[string]codeRef // while Compile builds it; nil once frozen
	changed map[string]changedRef
	n       int // codes known
}

// changedRef is a code's codeRef as a delta left it; known=false: the
// delta withdrew the code.
type changedRef struct {
	ref   codeRef
	known bool
}

func newCodeRefs(size int) codeRefs { return codeRefs{build: make(map[string]codeRef, size)} }

// get is code's codeRef and whether the release knows code (a zero
// codeRef if not).
func (c *codeRefs) get(code string) (codeRef, bool) {
	if c.build != nil {
		ref, ok := c.build[code]
		return ref, ok
	}
	if len(c.changed) != 0 {
		if ch, ok := c.changed[code]; ok {
			return ch.ref, ch.known
		}
	}
	return c.shared.get(code)
}

// put sets code's codeRef while Compile builds the map.
func (c *codeRefs) put(code string, ref codeRef) {
	if _, ok := c.build[code]; !ok {
		c.n++
	}
	c.build[code] = ref
}

// freeze ends Compile's building: the map becomes the shared table.
func (c *codeRefs) freeze() {
	if c.build != nil {
		c.shared, c.build = codeTableOf(c.build), nil
	}
}

// forDelta is a copy of c for CompileDelta to change: the shared table is
// shared, the changes copied.
func (c *codeRefs) forDelta() codeRefs {
	if c.build != nil {
		panic("engine: forDelta of an index Compile has not frozen")
	}
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

// fold makes the changes part of a new shared table once they outgrow an
// eighth of it.
func (c *codeRefs) fold() {
	if len(c.changed)*8 <= c.shared.len() {
		return
	}
	shared := c.shared.copyWithout(c.changed, c.n)
	for code, ch := range c.changed {
		if ch.known {
			shared.insert(code, ch.ref)
		}
	}
	c.shared, c.changed = shared, nil
}

// all visits every code known with its codeRef, in no order.
func (c *codeRefs) all(visit func(code string, ref codeRef)) {
	if c.build != nil {
		for code, ref := range c.build {
			visit(code, ref)
		}
		return
	}
	c.shared.each(func(code []byte, ref codeRef) {
		if _, ok := c.changed[string(code)]; !ok {
			visit(string(code), ref)
		}
	})
	for code, ch := range c.changed {
		if ch.known {
			visit(code, ch.ref)
		}
	}
}

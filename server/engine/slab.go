package engine

import rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"

// slabs hand out a check's findings, their fixes and line-id lists from a
// few arrays sized for the order, instead of one allocation each (they
// were a third of a 10-line order's allocations). A slab is never grown in
// place: when one is full the next comes from a fresh array, so a pointer
// or slice handed out keeps pointing at memory nothing else is given. The
// messages themselves are pointed to, never copied (protobuf messages must
// not be), and live as long as the response does, like separate objects.
type slabs struct {
	findings []rxguardv1.Finding
	fixes    []rxguardv1.Fix
	strs     []string
	// one backs the single violation most rule calls return (ev.one).
	one [1]violation
}

// slabSize is how many elements the next slab of a kind holds for an order
// of n lines: one per line and one for the request (the usual count of
// findings is about one per line), at least 4, at most 64.
func slabSize(n int) int { return min(max(n+1, 4), 64) }

// newFinding returns a zero Finding from the check's slab.
func (ev *evaluation) newFinding() *rxguardv1.Finding {
	s := &ev.slabs
	if len(s.findings) == cap(s.findings) {
		s.findings = make([]rxguardv1.Finding, 0, slabSize(len(ev.lines)))
	}
	s.findings = s.findings[:len(s.findings)+1]
	return &s.findings[len(s.findings)-1]
}

// newFix returns a Fix of kind for order line li from the check's slab.
func (ev *evaluation) newFix(kind rxguardv1.FixKind, li int, label string) *rxguardv1.Fix {
	s := &ev.slabs
	if len(s.fixes) == cap(s.fixes) {
		s.fixes = make([]rxguardv1.Fix, 0, 2*slabSize(len(ev.lines)))
	}
	s.fixes = s.fixes[:len(s.fixes)+1]
	f := &s.fixes[len(s.fixes)-1]
	f.Kind, f.LineId, f.Label = kind, ev.lineID(li), label
	return f
}

// lineIDs returns an empty list with room for exactly n line ids, from the
// check's slab (its capacity is n, so appending past it cannot reach the
// next list's elements).
func (ev *evaluation) lineIDs(n int) []string {
	s := &ev.slabs
	if cap(s.strs)-len(s.strs) < n {
		s.strs = make([]string, 0, max(n, 2*slabSize(len(ev.lines))))
	}
	start := len(s.strs)
	s.strs = s.strs[:start+n]
	return s.strs[start : start : start+n]
}

// one returns v as a rule's only violation. The slice is valid until the
// next rule runs: Check ranges over it and records each violation (add
// copies it) before calling any other rule.
func (ev *evaluation) one(v violation) []violation {
	ev.slabs.one[0] = v
	return ev.slabs.one[:]
}

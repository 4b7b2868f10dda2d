package engine

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

// CompileDelta builds the index of release m from prev, the index of the
// release m was made from, and the records that differ: changed holds the
// records m adds or replaces (their new values), withdrawn the records it
// removes (class and key; values are ignored). It returns the index Compile
// would build from all of m's records (TestCompileDeltaDifferential), sharing
// with prev everything the changes do not touch: the product table, the
// catalogue, the interactions, the physicians, the encounter lists.
//
// Only changes to restrictions (the rule base, what the bureau's deltas
// mostly carry) and to import warnings (not compiled) are compiled this way;
// ok is false — compile the whole release instead — when any other class
// changed, when prev's restrictions had codes in a non-canonical form (the
// order of their bounds is then not the records' key order), or when enough
// of prev's entries are dead (withdrawn codes) that a full compile should
// reclaim them. A 10,000-record delta of restrictions costs milliseconds
// instead of compiling 767,000 records again (docs/PERFORMANCE.md).
func CompileDelta(prev *Index, m knowledge.Manifest, changed, withdrawn []knowledge.Record) (idx *Index, ok bool, err error) {
	if prev == nil || prev.copiedCodes || prev.deadEntries*4 > len(prev.entries) {
		return nil, false, nil
	}
	var upserts []knowledge.Record
	gone := map[string]bool{}
	for _, list := range [][]knowledge.Record{changed, withdrawn} {
		for _, r := range list {
			switch r.Class {
			case knowledge.ClassWarning:
			case knowledge.ClassRestriction:
				gone[r.Key] = true
			default:
				return nil, false, nil
			}
		}
	}
	for _, r := range changed {
		if r.Class == knowledge.ClassRestriction {
			upserts = append(upserts, r)
		}
	}
	d := newDelta(prev, m)
	if len(gone) == 0 {
		return d.idx, true, nil
	}
	added, err := knowledge.ContentFromRecords(upserts)
	if err != nil {
		return nil, false, err
	}
	for i := range added.Restrictions {
		r := &added.Restrictions[i]
		spec := specFor(r.Type)
		if spec == nil || canonicalRestriction(r) != r || r.Key() != upserts[i].Key {
			// Compile reports the unknown type; a non-canonical code
			// or a key that is not the record's breaks the key order.
			return nil, false, nil
		}
	}

	// The release's restrictions: prev's (one bound each, in its code's
	// entry), less what the delta replaces or withdraws, plus what it adds.
	kept := make([]bound, 0, len(prev.entries)+len(added.Restrictions))
	affectedCodes := map[string]bool{}
	affectedNames := map[string]bool{}
	touch := func(b bound) {
		affectedCodes[b.r.Code] = true
		if name, ok := boundName(b); ok {
			affectedNames[name] = true
		}
	}
	var key []byte
	for i := range prev.entries {
		yield.Sometimes(i)
		for _, b := range prev.entries[i].checks {
			// The key is built in one buffer: a map index by string(key)
			// does not copy it (61,000 strings a delta at scale otherwise).
			key = appendKey(key[:0], b.r)
			if gone[string(key)] {
				touch(b)
				continue
			}
			kept = append(kept, b)
		}
	}
	for i := range added.Restrictions {
		r := &added.Restrictions[i]
		b := bound{spec: specFor(r.Type), r: r}
		kept = append(kept, b)
		touch(b)
	}

	byCode := map[string][]bound{}
	byName := map[string][]bound{}
	for i, b := range kept {
		yield.Sometimes(i)
		if affectedCodes[b.r.Code] {
			byCode[b.r.Code] = append(byCode[b.r.Code], b)
		}
		if name, ok := boundName(b); ok && affectedNames[name] {
			byName[name] = append(byName[name], b)
		}
	}
	// A code or a name recompiled takes tens of microseconds (a common
	// name's thousands of bounds more): yielding after each keeps the pass
	// from holding a one-core sidecar's checks (internal/yield); a batch
	// of 512 held them up to 15 ms (an execution trace of the sidecar).
	for _, code := range slices.Sorted(maps.Keys(affectedCodes)) {
		yield.Now()
		d.recompileCode(code, byCode[code])
	}
	for _, name := range slices.Sorted(maps.Keys(affectedNames)) {
		yield.Now()
		d.recompileName(name, byName[name])
	}
	d.rebuildHeads()
	if d.byCodeCopied {
		d.idx.byCode.fold()
	}
	return d.idx, true, nil
}

// CompiledFrom is the version of the index CompileDelta built this one
// from, "" for an index Compile built from the whole release.
func (idx *Index) CompiledFrom() string { return idx.compiledFrom }

// boundName is the generic name b is reachable by (bindName), if any.
func boundName(b bound) (string, bool) {
	if !b.spec.byName || !isDrugCode(b.r.Code) {
		return "", false
	}
	name := strings.TrimSpace(b.r.Name)
	return name, utf8.RuneCountInString(name) >= minNameRunes
}

// byKeyOrder orders bounds as Compile meets them: by their records' keys.
func byKeyOrder(a, b bound) int { return compareKeys(a.r, b.r) }

// compareKeys is strings.Compare(a.Key(), b.Key()) without building the
// keys: sorting a code's or a name's bounds would otherwise allocate two
// strings per comparison (TestCompareKeysIsKeyOrder).
func compareKeys(a, b *knowledge.Restriction) int {
	pa, na := keyParts(a)
	pb, nb := keyParts(b)
	i, j, x, y := 0, 0, 0, 0 // part and offset in a, in b
	for {
		for i < na && x == len(pa[i]) {
			i, x = i+1, 0
		}
		for j < nb && y == len(pb[j]) {
			j, y = j+1, 0
		}
		switch {
		case i == na && j == nb:
			return 0
		case i == na:
			return -1
		case j == nb:
			return 1
		}
		if c, d := pa[i][x], pb[j][y]; c != d {
			return cmp.Compare(c, d)
		}
		x, y = x+1, y+1
	}
}

// appendKey appends r.Key() to b.
func appendKey(b []byte, r *knowledge.Restriction) []byte {
	parts, n := keyParts(r)
	for _, p := range parts[:n] {
		b = append(b, p...)
	}
	return b
}

// keyParts is r.Key() as the strings it concatenates.
func keyParts(r *knowledge.Restriction) (parts [7]string, n int) {
	if r.Type == knowledge.RuleDuplicateCharge {
		return [7]string{string(r.Type), "/", r.Code, "/", r.PrimaryCode, "/", string(r.Window)}, 7
	}
	return [7]string{string(r.Type), "/", r.Code}, 3
}

// delta is CompileDelta's new index while it is built: the maps it changes
// are copied from prev on first change, never written in place (checks in
// flight read prev).
type delta struct {
	prev, idx     *Index
	byCodeCopied  bool
	byNameCopied  bool
	plainCopied   bool
	groupsCopied  bool
	entriesCopied bool
	heads         map[string]bool // byNameHead lists to rebuild
}

func newDelta(prev *Index, m knowledge.Manifest) *delta {
	idx := *prev
	idx.Manifest = m
	idx.compiledFrom = prev.Version()
	idx.evidenceSuffix = "（知识库版本 " + m.Version + "）"
	return &delta{prev: prev, idx: &idx, heads: map[string]bool{}}
}

func (d *delta) entries() []codeEntry {
	if !d.entriesCopied {
		d.idx.entries = slices.Clone(d.prev.entries)
		d.entriesCopied = true
	}
	return d.idx.entries
}

func (d *delta) setRef(code string, ref codeRef, keep bool) {
	if !d.byCodeCopied {
		d.idx.byCode = d.prev.byCode.forDelta()
		d.byCodeCopied = true
	}
	d.idx.byCode.change(code, ref, keep)
}

func (d *delta) setPlain(code string, p plainEntry) {
	if !d.plainCopied {
		d.idx.plain = maps.Clone(d.prev.plain)
		if d.idx.plain == nil {
			d.idx.plain = map[string]plainEntry{}
		}
		d.plainCopied = true
	}
	if p == (plainEntry{}) {
		delete(d.idx.plain, code)
	} else {
		d.idx.plain[code] = p
	}
}

func (d *delta) groups() {
	if !d.groupsCopied {
		d.idx.courseGroup = maps.Clone(d.prev.courseGroup)
		d.idx.surgeryGroups = maps.Clone(d.prev.surgeryGroups)
		d.groupsCopied = true
	}
}

// recompileCode makes code's entry what Compile makes of the restrictions
// bs (all the release binds to code, in any order) and of the code's other
// classes, which the delta did not change.
func (d *delta) recompileCode(code string, bs []bound) {
	ref, _ := d.idx.byCode.get(code)
	var was *codeEntry
	if ref.entry != 0 {
		was = &d.idx.entries[ref.entry-1]
	}
	restricted := was != nil && len(was.checks) > 0
	// What the entry is without restrictions.
	var plain plainEntry
	switch {
	case restricted:
		plain = d.idx.plain[code]
	case was != nil:
		plain = plainEntry{name: was.name, exists: true}
	case ref.drug != 0:
		plain = plainEntry{name: d.idx.drugRows[ref.drug-1].generic}
	}

	d.groups()
	delete(d.idx.courseGroup, code)
	delete(d.idx.surgeryGroups, code)
	if len(bs) == 0 {
		if !restricted {
			return
		}
		d.setPlain(code, plainEntry{})
		if plain.exists {
			d.entries()[ref.entry-1] = codeEntry{name: plain.name}
			return
		}
		// The slot stays (positions are references) but binds nothing:
		// the next delta's scan of the entries must not find its checks.
		d.entries()[ref.entry-1] = codeEntry{}
		d.idx.deadEntries++
		ref.entry = 0
		d.setRef(code, ref, ref.drug != 0)
		return
	}

	// Compile names the entry after the first restriction (in key order)
	// with a name, else after the other classes.
	slices.SortFunc(bs, byKeyOrder)
	name := plain.name
	for _, b := range bs {
		if b.r.Name != "" {
			name = b.r.Name
			break
		}
	}
	for _, b := range bs {
		switch b.r.Type {
		case knowledge.RulePaymentCourse:
			d.idx.courseGroup[code] = b.r.Name
		case knowledge.RuleSurgeryGroup:
			d.idx.surgeryGroups[code] = b.r.Groups
		}
	}
	slices.SortStableFunc(bs, func(a, b bound) int { return cmp.Compare(a.spec.order, b.spec.order) })
	e := codeEntry{name: name, checks: bs}
	if ref.entry != 0 {
		d.entries()[ref.entry-1] = e
	} else {
		d.idx.entries = append(d.entries(), e)
		ref.entry = int32(len(d.idx.entries))
		d.setRef(code, ref, true)
	}
	if !restricted {
		d.setPlain(code, plain)
	}
}

// recompileName makes byName[name] what bindName makes of bs (every
// restriction reachable by name, in any order): the first per rule type.
func (d *delta) recompileName(name string, bs []bound) {
	if !d.byNameCopied {
		d.idx.byName = maps.Clone(d.prev.byName)
		if d.idx.byName == nil {
			d.idx.byName = map[string]*codeEntry{}
		}
		d.byNameCopied = true
	}
	d.heads[nameHead(name)] = true
	if len(bs) == 0 {
		delete(d.idx.byName, name)
		return
	}
	// The first bound per rule type in key order: one pass, not a sort of
	// every bound of a name (thousands for a common generic, and one call
	// that would hold a one-core sidecar's checks for milliseconds).
	var checks []bound
	for i, b := range bs {
		yield.Sometimes(i)
		k := slices.IndexFunc(checks, func(have bound) bool { return have.spec == b.spec })
		switch {
		case k < 0:
			checks = append(checks, b)
		case byKeyOrder(b, checks[k]) < 0:
			checks[k] = b
		}
	}
	slices.SortStableFunc(checks, func(a, b bound) int { return cmp.Compare(a.spec.order, b.spec.order) })
	d.idx.byName[name] = &codeEntry{name: name, checks: checks}
}

// rebuildHeads remakes the byNameHead lists of the names recompileName
// touched, in Compile's order: longest name first, then in the order the
// names were first bound (their first restriction's key).
func (d *delta) rebuildHeads() {
	if len(d.heads) == 0 {
		return
	}
	heads := maps.Clone(d.prev.byNameHead)
	if heads == nil {
		heads = map[string][]*codeEntry{}
	}
	lists := map[string][]*codeEntry{}
	for name, e := range d.idx.byName {
		if h := nameHead(name); d.heads[h] {
			lists[h] = append(lists[h], e)
		}
	}
	for h := range d.heads {
		list := lists[h]
		if len(list) == 0 {
			delete(heads, h)
			continue
		}
		first := make(map[*codeEntry]string, len(list))
		for _, e := range list {
			first[e] = slices.MinFunc(e.checks, byKeyOrder).r.Key()
		}
		slices.SortFunc(list, func(a, b *codeEntry) int {
			if c := cmp.Compare(len(b.name), len(a.name)); c != 0 {
				return c
			}
			return strings.Compare(first[a], first[b])
		})
		heads[h] = list
	}
	d.idx.byNameHead = heads
}

// plainNotes collects, while Compile runs, what the other classes say about
// the codes restrictions bind (Index.plain).
type plainNotes struct {
	firstEntries int32 // entries 1..firstEntries are the restrictions' entries
	notes        map[string]plainNote
}

type plainNote struct {
	name       string
	rows       int
	recognized bool
}

// restricted reports whether ref's entry was created by restrictions.
func (p plainNotes) restricted(ref codeRef) bool {
	return ref.entry != 0 && ref.entry <= p.firstEntries
}

// note records a product row (recognition false) or the recognition item
// of a code restrictions bind, with its name: the first non-empty one wins,
// as in entry.
func (p plainNotes) note(code, name string, recognition bool) {
	n := p.notes[code]
	if n.name == "" {
		n.name = name
	}
	if recognition {
		n.recognized = true
	} else {
		n.rows++
	}
	p.notes[code] = n
}

func (p plainNotes) entries() map[string]plainEntry {
	var out map[string]plainEntry
	for code, n := range p.notes {
		e := plainEntry{name: n.name, exists: n.rows >= 2 || n.recognized}
		if e == (plainEntry{}) {
			continue
		}
		if out == nil {
			out = make(map[string]plainEntry, len(p.notes))
		}
		out[code] = e
	}
	return out
}

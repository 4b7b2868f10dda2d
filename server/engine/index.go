package engine

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

// Index is the compiled, read-only form of one knowledge release. A check
// reads exactly one Index for its whole duration, so it never sees a mix of
// releases. Lookups are by national code: the cost of a check grows with its
// lines, not with the size of the rule base.
type Index struct {
	Manifest knowledge.Manifest
	// byCode is every code the release knows (贯标对码), each with its
	// restrictions (entries) and its product-table record (drugRows), by
	// position: a release's ≈ 400,000 products cost one map slot and one
	// row each, not a pointer and a heap object per table.
	byCode  codeRefs
	entries []codeEntry
	// unbound is the entry of a code the release knows but binds no
	// restriction to: a drug line with it is not matched by name.
	unbound codeEntry
	// byName binds drug restrictions (rule types with byName) to their
	// batch's generic name, for order lines whose code is not in byCode.
	byName map[string]*codeEntry
	// byNameHead lists the byName entries by their first two characters,
	// longest name first.
	byNameHead map[string][]*codeEntry
	// courseGroup maps a PAYMENT_COURSE drug code to the generic name its
	// batch groups it under, so a course counts across manufacturers.
	courseGroup map[string]string
	// surgeryGroups maps a service-item code to its 手术组 (one or more).
	surgeryGroups map[string][]string
	// evidenceSuffix names the release in every finding's evidence.
	evidenceSuffix string

	drugRows []drugInfo // demo/product table records, by codeRef.drug
	// sources interns the cited-source prefix of each batch, file and
	// sheet (citation): products share it and keep only their row.
	sources map[knowledge.Source]string
	// drugLead marks the first bytes of drugs' codes: HistoryNeeds rejects
	// a service code without a lookup in a large drugs table.
	drugLead     [256]bool
	catalogue    map[string][]catalogueCandidate // category code → catalogue entries
	interactions map[drugPair]*knowledge.Interaction
	chronic      []string // ICD-10 prefixes (normalised) counted as chronic
	// physicians is the table folded from the release's registry and
	// status events alone; the engine adds the bureau's feed (withFeed).
	physicians *Physicians
	// enc is the mutual-recognition list and the outpatient-manageable
	// conditions (encounter_index.go).
	enc encounterKnowledge

	// What CompileDelta needs to recompile a code's restrictions alone
	// (delta.go). plain is, for each code restrictions bind that also has
	// a product row or a recognition item, what the code's entry would be
	// without its restrictions. copiedCodes: some restriction's codes
	// were not canonical (canonicalRestriction copied it), so bounds are
	// not in record-key order and only a full compile is exact.
	plain       map[string]plainEntry
	copiedCodes bool
	// deadEntries counts entries no code refers to any more (a delta
	// withdrew their code's restrictions); past a quarter of entries the
	// next delta compiles the whole release.
	deadEntries  int
	compiledFrom string // CompiledFrom
}

// plainEntry is what a code's entry would be without restrictions: its
// name (the first non-empty among its product rows' generic names, then
// its recognition item's), and whether the entry would exist at all (two
// or more product rows, or a recognition item: the other classes create
// an entry only then, see compileDrugs and compileEncounter).
type plainEntry struct {
	name   string
	exists bool
}

// codeRef locates what the release binds to one code: 1 + its position in
// Index.entries and in Index.drugRows, 0 for none.
type codeRef struct {
	entry int32
	drug  int32
}

// codeEntry is everything the release binds to one code, in rule-list order.
type codeEntry struct {
	name   string
	checks []bound
}

// bound is one restriction bound to its rule type. The text a finding
// cites (source, name, description) is written from r when the finding is
// built, in the finding's own evidence string (quoteWith, sourceWith): a
// precomputed copy per restriction cost more heap than findings do.
type bound struct {
	spec *ruleSpec
	r    *knowledge.Restriction
}

// CompileRecords decodes a release's records and compiles them (Compile).
func CompileRecords(m knowledge.Manifest, records []knowledge.Record) (*Index, error) {
	content, err := knowledge.ContentFromRecords(records)
	if err != nil {
		return nil, fmt.Errorf("decode release %s: %w", m.Version, err)
	}
	return Compile(m, content)
}

// Compile builds an index from a release's content. Restrictions whose rule
// type this build does not know are an error: a release must not be served
// by a sidecar that would silently ignore part of it.
func Compile(m knowledge.Manifest, c *knowledge.Content) (*Index, error) {
	idx := &Index{
		Manifest:       m,
		byCode:         newCodeRefs(len(c.Restrictions) + len(c.Drugs) + len(c.Recognition)),
		courseGroup:    map[string]string{},
		surgeryGroups:  map[string][]string{},
		evidenceSuffix: "（知识库版本 " + m.Version + "）",
	}
	for i := range c.Restrictions {
		yield.Sometimes(i)
		r := canonicalRestriction(&c.Restrictions[i])
		if r != &c.Restrictions[i] {
			idx.copiedCodes = true
		}
		spec := specFor(r.Type)
		if spec == nil {
			return nil, fmt.Errorf("release %s: restriction %s has rule type %q this rxguard does not know; upgrade rxguard", m.Version, r.Key(), r.Type)
		}
		e := idx.entry(r.Code, r.Name)
		b := bound{spec: spec, r: r}
		e.checks = append(e.checks, b)
		if spec.byName && isDrugCode(r.Code) {
			idx.bindName(r.Name, b)
		}
		if r.Type == knowledge.RulePaymentCourse {
			idx.courseGroup[r.Code] = r.Name
		}
		if r.Type == knowledge.RuleSurgeryGroup {
			idx.surgeryGroups[r.Code] = r.Groups
		}
	}
	plain := plainNotes{firstEntries: int32(len(idx.entries)), notes: map[string]plainNote{}}
	idx.compileDrugs(c, plain)
	idx.compilePhysicians(c)
	idx.compileEncounter(c, plain)
	idx.plain = plain.entries()
	idx.sources = nil // only compileDrugs interns
	for i := range idx.entries {
		e := &idx.entries[i]
		sort.SliceStable(e.checks, func(a, b int) bool { return e.checks[a].spec.order < e.checks[b].spec.order })
	}
	for _, e := range idx.byName {
		sort.SliceStable(e.checks, func(a, b int) bool { return e.checks[a].spec.order < e.checks[b].spec.order })
	}
	for _, list := range idx.byNameHead {
		// Longest names first, so the longest match wins.
		sort.SliceStable(list, func(a, b int) bool { return len(list[a].name) > len(list[b].name) })
	}
	idx.byCode.freeze()
	return idx, nil
}

// canonicalRestriction returns r, or a copy with its codes in canonical form
// when the release carries them otherwise: requests are looked up by
// canonical code (knowledge.CanonicalCode), so the index must be keyed the
// same way. The importers already write canonical codes; this keeps a
// hand-built or foreign release from silently matching nothing. The
// release's content itself is never changed (its hash is signed).
func canonicalRestriction(r *knowledge.Restriction) *knowledge.Restriction {
	code, c1 := knowledge.CanonicalCode(r.Code)
	primary, c2 := knowledge.CanonicalCode(r.PrimaryCode)
	if !c1 && !c2 {
		return r
	}
	cp := *r
	cp.Code, cp.PrimaryCode = code, primary
	return &cp
}

// bindName makes a drug restriction reachable by the generic name its batch
// lists it under (Sheet1 of batches 1, 3, 4, 5 and 6 names the drug; Sheet2
// lists product codes). An order line whose code the release does not bind
// but whose name starts with that generic name gets the restriction by
// name. Several products of one generic carry the same restriction: the
// first per rule type is kept (release order is deterministic).
func (idx *Index) bindName(name string, b bound) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) < minNameRunes {
		return
	}
	if idx.byName == nil {
		idx.byName = map[string]*codeEntry{}
	}
	e := idx.byName[name]
	if e == nil {
		e = &codeEntry{name: name}
		idx.byName[name] = e
		if idx.byNameHead == nil {
			idx.byNameHead = map[string][]*codeEntry{}
		}
		head := nameHead(name)
		idx.byNameHead[head] = append(idx.byNameHead[head], e)
	}
	for _, have := range e.checks {
		if have.spec == b.spec {
			return
		}
	}
	e.checks = append(e.checks, b)
}

// minNameRunes is the shortest generic name matched by name: one character
// is a prefix of too many names to mean anything.
const minNameRunes = 2

// byDrugName finds the restrictions bound to the longest restricted generic
// name that itemName starts with (艾附暖宫丸 matches "艾附暖宫丸 6g*10袋").
// Most drug lines reach it (few products are in a batch), so it costs one
// map lookup on the name's first two characters, then a prefix compare
// per restricted name sharing them; no allocation.
func (idx *Index) byDrugName(itemName string) *codeEntry {
	if len(idx.byNameHead) == 0 {
		return nil
	}
	name := strings.TrimSpace(itemName)
	for _, e := range idx.byNameHead[nameHead(name)] {
		if strings.HasPrefix(name, e.name) {
			return e
		}
	}
	return nil
}

// nameHead is the first minNameRunes characters of name (all of it when
// shorter).
func nameHead(name string) string {
	i := 0
	for n := 0; n < minNameRunes && i < len(name); n++ {
		_, size := utf8.DecodeRuneInString(name[i:])
		i += size
	}
	return name[:i]
}

// entry returns code's entry, creating it; name is the code's name unless
// an earlier class named it (restrictions, then product tables, then the
// recognition list: the first non-empty name wins). The pointer is valid
// until the next entry call creates one (entries grows).
func (idx *Index) entry(code, name string) *codeEntry {
	ref, _ := idx.byCode.get(code)
	if ref.entry == 0 {
		first := ""
		if ref.drug != 0 {
			first = idx.drugRows[ref.drug-1].generic
		}
		idx.entries = append(idx.entries, codeEntry{name: first})
		ref.entry = int32(len(idx.entries))
		idx.byCode.put(code, ref)
	}
	e := &idx.entries[ref.entry-1]
	if e.name == "" {
		e.name = name
	}
	return e
}

// lookup returns the restrictions bound to code and whether the release
// knows code at all; e is nil for an unknown code, and &idx.unbound (no
// checks) for a known one no restriction binds. Check and HistoryNeeds
// fall back to the drug name only when the code is unknown.
func (idx *Index) lookup(code string) (e *codeEntry, known bool) {
	ref, ok := idx.byCode.get(code)
	switch {
	case !ok:
		return nil, false
	case ref.entry == 0:
		return &idx.unbound, true
	}
	return &idx.entries[ref.entry-1], true
}

// Version is the release version the index was compiled from.
func (idx *Index) Version() string { return idx.Manifest.Version }

// Name returns the name the release gives code, or "".
func (idx *Index) Name(code string) string {
	ref, _ := idx.byCode.get(code)
	switch {
	case ref.entry != 0:
		return idx.entries[ref.entry-1].name
	case ref.drug != 0:
		return idx.drugRows[ref.drug-1].generic
	}
	return ""
}

// Codes is the number of distinct codes the index knows.
func (idx *Index) Codes() int { return idx.byCode.n }

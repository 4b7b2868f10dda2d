package engine

import (
	"encoding/binary"
	"sort"
	"strings"

	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

// drugInfo is what the release says about one drug, whichever table it
// came from: the demo/product table (bound to a product code) or the
// national catalogue (bound to a category and a generic name).
type drugInfo struct {
	generic string
	// *drugTerms is shared by every product of the same payment terms and
	// sheet (a generic's products repeat them): a product row is 32 bytes.
	*drugTerms
	row int32 // the source's row (citation), 0 if sourcePrefix is all of it
}

// drugTerms is what a drug record says about payment, and the sheet it
// says it in.
type drugTerms struct {
	sourcePrefix string // citation.prefix: cited in evidence (cite, sourceText)
	class        string // 甲 / 乙; "" = not covered
	restriction  string // 限定支付范围 text, "" if none
	icd          []string
	secondLine   bool
	// textOnly: the restriction limits payment to conditions the release
	// gives no ICD-10 prefixes for; shown as INFO, never judged.
	textOnly bool
}

// termsKey identifies drugTerms for sharing; icd is the shared list's
// first element (icdLists hands out one slice per distinct list).
type termsKey struct {
	class, restriction   string
	sourcePrefix         string
	icd                  *string
	icdLen               int
	secondLine, textOnly bool
}

// catalogueCandidate is a catalogue entry reachable from a category code,
// with the name it is matched by.
type catalogueCandidate struct {
	name string // generic name without the parenthesised other forms
	info *drugInfo
}

func (idx *Index) compileDrugs(c *knowledge.Content, plain plainNotes) {
	// The product table is one slice of rows by value, found through
	// byCode: no heap object, pointer or source string per product.
	idx.drugRows = make([]drugInfo, 0, len(c.Drugs))
	var icds icdLists
	shared := map[termsKey]*drugTerms{}
	for i := range c.Drugs {
		yield.Sometimes(i)
		d := &c.Drugs[i]
		icd := icds.share(d.IndicationICD)
		src := idx.cite(d.Source)
		key := termsKey{class: d.Class, restriction: d.RestrictionText, sourcePrefix: src.prefix, icdLen: len(icd), secondLine: d.SecondLine,
			textOnly: d.RestrictionText != "" && len(icd) == 0}
		if len(icd) > 0 {
			key.icd = &icd[0]
		}
		terms := shared[key]
		if terms == nil {
			terms = &drugTerms{sourcePrefix: key.sourcePrefix, class: key.class, restriction: key.restriction, icd: icd,
				secondLine: key.secondLine, textOnly: key.textOnly}
			shared[key] = terms
		}
		info := drugInfo{generic: d.GenericName, drugTerms: terms, row: src.row}
		code, _ := knowledge.CanonicalCode(d.Code)
		ref, _ := idx.byCode.get(code)
		if plain.restricted(ref) {
			plain.note(code, d.GenericName, false)
		}
		if ref.entry != 0 || ref.drug != 0 {
			// Bound by a restriction, or a second row for the code: the
			// entry keeps the first name, as for every other class.
			idx.entry(code, d.GenericName)
			ref, _ = idx.byCode.get(code)
		}
		idx.drugRows = append(idx.drugRows, info)
		ref.drug = int32(len(idx.drugRows))
		idx.byCode.put(code, ref)
		if code != "" {
			idx.drugLead[code[0]] = true
		}
	}
	idx.catalogue = map[string][]catalogueCandidate{}
	for i := range c.Catalogue {
		yield.Sometimes(i)
		e := &c.Catalogue[i]
		info := &drugInfo{
			generic: baseName(e.Name),
			drugTerms: &drugTerms{
				sourcePrefix: e.Source.String() + "（" + e.Sheet + " " + e.Category + " 编号" + e.Number + "）",
				class:        e.Class,
				icd:          normalisedPrefixes(e.Structured.ICDPrefixes),
				secondLine:   e.Structured.SecondLine,
			},
		}
		if len(info.icd) > 0 || e.Structured.DiagnosisRestricted || e.Structured.SecondLine {
			info.restriction = e.Remark
		}
		info.textOnly = e.Structured.DiagnosisRestricted && len(info.icd) == 0
		// A cell may list several products (二甲双胍、二甲双胍Ⅱ): each name
		// is a way to the same entry.
		for _, n := range strings.Split(e.Name, "、") {
			if n = baseName(strings.TrimSpace(n)); n != "" {
				idx.catalogue[e.Category] = append(idx.catalogue[e.Category], catalogueCandidate{name: n, info: info})
			}
		}
	}
	// Longest names first, so 复方氨基酸(18AA-II) is not taken for 复方氨基酸.
	for _, list := range idx.catalogue {
		sort.SliceStable(list, func(a, b int) bool { return len(list[a].name) > len(list[b].name) })
	}
	idx.interactions = make(map[drugPair]*knowledge.Interaction, len(c.Interactions))
	for i := range c.Interactions {
		it := &c.Interactions[i]
		idx.interactions[orderedPair(it.DrugA, it.DrugB)] = it
	}
	for _, cd := range c.ChronicDiagnoses {
		idx.chronic = append(idx.chronic, normaliseICD(cd.Prefix))
	}
}

func pairKey(a, b string) string {
	p := orderedPair(a, b)
	return p.a + "+" + p.b
}

// drugPair is two generic names in order (a ≤ b): the interaction table's
// key, looked up without building a string.
type drugPair struct{ a, b string }

func orderedPair(a, b string) drugPair {
	if b < a {
		a, b = b, a
	}
	return drugPair{a, b}
}

// baseName drops a trailing parenthesised list of other forms:
// 九味羌活丸(颗粒) → 九味羌活丸. Parentheses inside a name are part of it:
// ω-3甘油三酯(2%)中/长链脂肪乳… stays whole.
func baseName(name string) string {
	if !strings.HasSuffix(name, ")") && !strings.HasSuffix(name, "）") {
		return name
	}
	i := max(strings.LastIndex(name, "("), strings.LastIndex(name, "（"))
	if i <= 0 {
		return name
	}
	return strings.TrimSpace(name[:i])
}

// normaliseICD makes "J18.900" and "J18900" compare alike.
func normaliseICD(code string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), ".", ""))
}

// icdLists shares identical normalised ICD-10 prefix lists between the
// products that carry them (a generic's products repeat its list).
type icdLists struct {
	byKey   map[string][]string
	scratch []string
	key     []byte
}

// share returns ps normalised (normalisedPrefixes), the same slice for
// the same list. The rows that share it only read it.
func (l *icdLists) share(ps []string) []string {
	if len(ps) == 0 {
		return nil
	}
	l.scratch, l.key = l.scratch[:0], l.key[:0]
	for _, p := range ps {
		if p = normaliseICD(p); p != "" {
			l.scratch = append(l.scratch, p)
			// Length-prefixed: no choice of prefixes makes two lists one key.
			l.key = append(binary.AppendUvarint(l.key, uint64(len(p))), p...)
		}
	}
	if len(l.scratch) == 0 {
		return []string{} // as normalisedPrefixes: empty, not nil
	}
	if have, ok := l.byKey[string(l.key)]; ok {
		return have
	}
	if l.byKey == nil {
		l.byKey = map[string][]string{}
	}
	list := append([]string(nil), l.scratch...)
	l.byKey[string(l.key)] = list
	return list
}

func normalisedPrefixes(ps []string) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p = normaliseICD(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// drugFor resolves what the release knows about a drug code, using name
// (the order's item name or the batch's name) to pick a catalogue entry in
// the code's category. nil: the release has no drug record for it.
func (idx *Index) drugFor(code, name string) *drugInfo {
	ref, _ := idx.byCode.get(code)
	if ref.drug != 0 {
		return &idx.drugRows[ref.drug-1]
	}
	if name == "" && ref.entry != 0 {
		name = idx.entries[ref.entry-1].name // Name(code): the code has no drug row
	}
	// The catalogue path reads the code's category prefix, so it needs a
	// well-formed drug code: a name never makes a malformed code known.
	if name == "" || !isDrugCode(code) {
		return nil
	}
	// The national drug code starts with the catalogue's category code
	// (X/Z + ATC-like levels); try the deepest category first.
	for n := 7; n >= 3; n-- {
		if n > len(code) {
			continue
		}
		for _, cand := range idx.catalogue[code[:n]] {
			if strings.HasPrefix(name, cand.name) {
				return cand.info
			}
		}
	}
	return nil
}

// knows reports whether any class of the release knows the code (贯标对码):
// the code itself is bound (batches, product tables), or it is a
// well-formed drug code whose catalogue category lists a drug of this name.
// A malformed code is never known through its name.
func (idx *Index) knows(code, name string) bool {
	if _, ok := idx.byCode.get(code); ok {
		return true
	}
	return idx.drugFor(code, name) != nil
}

// isDrugCode: the national drug code shape (X/Z/T, 20–23 characters).
func isDrugCode(code string) bool {
	return len(code) >= 20 && len(code) <= 23 && WellFormedCode(code)
}

package engine

import (
	"sort"

	"github.com/rxguard/rxguard/knowledge"
)

// encounterKnowledge is what the encounter-level and repeat-examination
// rules read from a release: the mutual-recognition list (检查检验结果互认)
// by canonical item code, and the conditions normally treated as
// outpatients (低标入院) by ICD-10 prefix.
type encounterKnowledge struct {
	recognition map[string]*knowledge.RecognitionItem
	// outpatient is sorted longest prefix first, so the first match is the
	// longest; prefixes are normalised (upper case, no dots, trimmed).
	outpatient []outpatientPrefix
}

type outpatientPrefix struct {
	prefix string
	cond   *knowledge.OutpatientCondition
}

// compileEncounter indexes the two classes. Codes are canonicalised like
// every other class (requests are looked up by canonical code); an item on
// the recognition list is also a code the release knows (贯标对码), so it is
// bound in byCode and UNKNOWN_ITEM does not fire on it.
func (idx *Index) compileEncounter(c *knowledge.Content, plain plainNotes) {
	if len(c.Recognition) > 0 {
		idx.enc.recognition = make(map[string]*knowledge.RecognitionItem, len(c.Recognition))
	}
	for i := range c.Recognition {
		r := &c.Recognition[i]
		code, _ := knowledge.CanonicalCode(r.Code)
		idx.enc.recognition[code] = r
		if ref, _ := idx.byCode.get(code); plain.restricted(ref) {
			plain.note(code, r.Name, true)
		}
		idx.entry(code, r.Name)
	}
	for i := range c.OutpatientConditions {
		oc := &c.OutpatientConditions[i]
		if p := normaliseICD(oc.Prefix); p != "" {
			idx.enc.outpatient = append(idx.enc.outpatient, outpatientPrefix{prefix: p, cond: oc})
		}
	}
	// Longest prefix first; equal lengths keep release order (deterministic).
	sort.SliceStable(idx.enc.outpatient, func(a, b int) bool {
		return len(idx.enc.outpatient[a].prefix) > len(idx.enc.outpatient[b].prefix)
	})
}

// Recognition returns the mutual-recognition entry of a (canonical) service-item code.
func (idx *Index) Recognition(code string) (*knowledge.RecognitionItem, bool) {
	r, ok := idx.enc.recognition[code]
	return r, ok
}

// OutpatientManageable returns the listed condition whose ICD-10 prefix is the longest prefix of icd (normalised like chronic prefixes: see normaliseICD).
func (idx *Index) OutpatientManageable(icd string) (*knowledge.OutpatientCondition, bool) {
	for i := range idx.enc.outpatient {
		if hasICDPrefix(icd, idx.enc.outpatient[i].prefix) {
			return idx.enc.outpatient[i].cond, true
		}
	}
	return nil, false
}

// hasICDPrefix reports whether normaliseICD(icd) starts with prefix (already
// normalised), without building the normalised string: the check path does
// not allocate.
func hasICDPrefix(icd, prefix string) bool {
	// Trim surrounding ASCII white space like normaliseICD's TrimSpace;
	// ICD-10 codes are ASCII, so a non-ASCII byte simply fails to match.
	lo, hi := 0, len(icd)
	for lo < hi && isASCIISpace(icd[lo]) {
		lo++
	}
	for hi > lo && isASCIISpace(icd[hi-1]) {
		hi--
	}
	j := 0
	for i := lo; i < hi && j < len(prefix); i++ {
		c := icd[i]
		if c == '.' {
			continue
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != prefix[j] {
			return false
		}
		j++
	}
	return j == len(prefix)
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

package engine

import (
	"slices"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// HistoryNeeds says which recorded history entries the rules could read
// for one request, so a caller holding a long-stay patient's thousands of
// entries converts only those (issue 14: history cost grows with the
// entries that matter to the order, not with all of them). It is derived
// from the rules themselves: each history-reading rule type declares, in
// its ruleSpec.needs, the keys it reads for a line and a restriction bound
// to it. It is a superset — a kept entry may still not matter — never a
// subset: dropping the entries it rejects changes no finding (pinned by
// TestHistoryNeedsDifferential).
//
// The needs belong to the index they were computed from: pass them back
// in Input.Needs, and Check judges against that index, not a newer one
// swapped in meanwhile.
type HistoryNeeds struct {
	idx *Index
	// codes are item codes whose entries a rule reads (the lines' own,
	// restrictions' codes, DUPLICATE_CHARGE 主项 codes), sorted, each once:
	// a few dozen, searched by bisection, in codeBuf for a usual order
	// (a map cost a check three allocations).
	codes   []string
	codeBuf [32]string
	// courseGroups are PAYMENT_COURSE generic groups (Index.courseGroup).
	courseGroups []string
	// surgeryGroups are 手术组 a SURGERY_GROUP restriction names.
	surgeryGroups []string
	// drugs: an entry whose code resolves to a drug record is needed
	// (DRUG_INTERACTION, DUPLICATE_THERAPY).
	drugs bool
	// all: every entry is needed (a rule whose key cannot be narrowed).
	all bool
}

// HistoryNeeds computes the needs of req (validated, codes canonical)
// against the active index; nil before the first Swap. Entries filtered
// with it must be judged with Input.Needs set to it.
func (e *Engine) HistoryNeeds(req *rxguardv1.CheckOrdersRequest) *HistoryNeeds {
	idx := e.active.Load()
	if idx == nil {
		return nil
	}
	return idx.historyNeeds(req, nil)
}

// historyNeeds collects the needs of every rule type, or of only one (the
// tests prove each rule type's declaration on its own).
func (idx *Index) historyNeeds(req *rxguardv1.CheckOrdersRequest, only *ruleSpec) *HistoryNeeds {
	n := &HistoryNeeds{idx: idx}
	n.codes = n.codeBuf[:0]
	for _, o := range req.Orders {
		for _, s := range lineRules {
			if s.needs != nil && (only == nil || s == only) {
				s.needs(n, o, nil)
			}
		}
		// The same lookup as Check: by code, else a drug line by name.
		entry, known := idx.lookup(o.ItemCode)
		if !known && isDrug(o.Kind) {
			entry = idx.byDrugName(o.ItemName)
		}
		if entry == nil {
			continue
		}
		for bi := range entry.checks {
			b := &entry.checks[bi]
			if b.spec.needs != nil && (only == nil || b.spec == only) {
				b.spec.needs(n, o, b)
			}
		}
	}
	slices.Sort(n.codes)
	n.codes = slices.Compact(n.codes)
	return n
}

// Keep reports whether a recorded entry with this (canonical) item code
// could be read by a rule for the request. It does not lock, log or
// allocate.
func (n *HistoryNeeds) Keep(code string) bool {
	if n.all {
		return true
	}
	if _, ok := slices.BinarySearch(n.codes, code); ok {
		return true
	}
	if len(n.courseGroups) > 0 {
		if g, ok := n.idx.courseGroup[code]; ok && containsString(n.courseGroups, g) {
			return true
		}
	}
	if len(n.surgeryGroups) > 0 && sharedGroup(n.surgeryGroups, n.idx.surgeryGroups[code]) != "" {
		return true
	}
	if !n.drugs {
		return false
	}
	// historyRunning resolves a history entry, which has no name: drugFor(code, ""),
	// which finds a code in drugs or, through the catalogue, a drug code
	// (isDrugCode). Rejecting the rest first spares a long-stay patient's
	// service codes two lookups in a large release's tables.
	if code == "" || (!n.idx.drugLead[code[0]] && !isDrugCode(code)) {
		return false // neither in drugs nor a code the catalogue path reads
	}
	return n.idx.drugFor(code, "") != nil
}

func (n *HistoryNeeds) addCode(code string) {
	if code != "" {
		n.codes = append(n.codes, code) // sorted and made unique once all are added
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The needs of each history-reading rule type: the keys of history its
// check reads for order line o and restriction b (nil for line rules).

// needsCode: ITEM_COURSE, ITEM_FREQUENCY, ITEM_PERIOD_FREQUENCY count the
// restriction's own code.
func needsCode(n *HistoryNeeds, _ *rxguardv1.OrderLine, b *bound) { n.addCode(b.r.Code) }

// needsPrimary: DUPLICATE_CHARGE looks for the 主项.
func needsPrimary(n *HistoryNeeds, _ *rxguardv1.OrderLine, b *bound) { n.addCode(b.r.PrimaryCode) }

// needsCourseGroup: PAYMENT_COURSE sums the days of every code of the
// restriction's generic group; the group of a code no PAYMENT_COURSE
// names is "", so a restriction whose group is "" would count those too.
func needsCourseGroup(n *HistoryNeeds, _ *rxguardv1.OrderLine, b *bound) {
	g := n.idx.courseGroup[b.r.Code]
	if g == "" {
		n.all = true
		return
	}
	if !containsString(n.courseGroups, g) {
		n.courseGroups = append(n.courseGroups, g)
	}
}

// needsSurgeryGroup: SURGERY_GROUP looks for another item of a shared 手术组.
func needsSurgeryGroup(n *HistoryNeeds, _ *rxguardv1.OrderLine, b *bound) {
	for _, g := range b.r.Groups {
		if !containsString(n.surgeryGroups, g) {
			n.surgeryGroups = append(n.surgeryGroups, g)
		}
	}
}

// needsDrugs: DRUG_INTERACTION and DUPLICATE_THERAPY, on a drug line,
// resolve every running history entry's drug.
func needsDrugs(n *HistoryNeeds, o *rxguardv1.OrderLine, _ *bound) {
	if isDrug(o.Kind) {
		n.drugs = true
	}
}

// needsLineCode: REPEAT_EXAM looks for the line's own item.
func needsLineCode(n *HistoryNeeds, o *rxguardv1.OrderLine, _ *bound) { n.addCode(o.ItemCode) }

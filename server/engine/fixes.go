package engine

import (
	"slices"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Structured suggestions (Finding.fixes). A fix is the machine-readable
// form of something the finding's suggestion text already offers, and it is
// offered only where applying it alone (server/fix.Apply) provably makes the
// rule type stop firing on that line: a button that does not clear the
// finding is worse than none. Fixes are built only when a rule fires, so a
// passing check allocates nothing for them.

// fixOffer is one rule type's entry in the inventory: the kinds of fix its
// findings may carry, or, for a rule type with none, why not.
type fixOffer struct {
	kinds []rxguardv1.FixKind
	none  string
}

// fixesOffered is the inventory of structured suggestions: every rule type
// of ruleList has an entry (a test enforces it, so a rule type added later
// needs a decision here). A finding of a type may carry a subset of its
// kinds, depending on the case (see each rule file).
var fixesOffered = map[knowledge.RuleType]fixOffer{
	knowledge.RulePhysicianQualification: {kinds: kinds(fixSelfPay)}, // SUSPENDED/TERMINATED lines, not in a rescue
	knowledge.RuleDrugGender:             {kinds: kinds(fixSelfPay)},
	knowledge.RuleItemGender:             {kinds: kinds(fixSelfPay)},
	knowledge.RuleDrugAge:                {kinds: kinds(fixSelfPay)},
	knowledge.RuleItemAge:                {kinds: kinds(fixSelfPay)},
	knowledge.RuleInsuranceType:          {kinds: kinds(fixSelfPay)},
	knowledge.RuleEncounterType:          {kinds: kinds(fixSelfPay)},
	knowledge.RuleHospitalLevel:          {kinds: kinds(fixSelfPay)},
	knowledge.RulePaymentCourse:          {kinds: kinds(fixReduceDays, fixRemoveLine, fixSelfPay)},
	knowledge.RuleItemFrequency:          {kinds: kinds(fixReduceQuantity, fixRemoveLine, fixSelfPay)},
	knowledge.RuleItemPeriodFrequency:    {kinds: kinds(fixReduceQuantity, fixRemoveLine, fixSelfPay)},
	knowledge.RuleItemCourse:             {kinds: kinds(fixRemoveLine, fixSelfPay)},
	knowledge.RuleDuplicateCharge:        {kinds: kinds(fixRemoveLine, fixSelfPay)},
	knowledge.RuleSurgeryGroup: {none: "the fix is to charge the later operation at the discounted rate (折价计收), " +
		"a price change no FixKind expresses"},
	knowledge.RuleUnknownItem:      {kinds: kinds(fixSelfPay)}, // well-formed codes; a malformed one needs 对码, not a click
	knowledge.RuleNotCovered:       {kinds: kinds(fixSelfPay)}, // the release names no covered replacement (CHANGE_ITEM)
	knowledge.RuleDrugIndication:   {kinds: kinds(fixAttest, fixSelfPay)},
	knowledge.RuleSecondLine:       {kinds: kinds(fixAttest, fixSelfPay)}, // the release names no first-line drug (CHANGE_ITEM)
	knowledge.RuleQuantityLimit:    {kinds: kinds(fixReduceDays, fixSelfPay)},
	knowledge.RuleDrugInteraction:  {kinds: kinds(fixRemoveLine)}, // 禁忌 only; 慎用 asks for monitoring, not removal
	knowledge.RuleDuplicateTherapy: {kinds: kinds(fixRemoveLine)},
	knowledge.RuleRepeatExam:       {kinds: kinds(fixRemoveLine)}, // view and recognise the earlier result instead
	knowledge.RuleReadmission: {none: "an encounter-level finding: the fix is to record a planned readmission " +
		"(previous_encounters[].planned) or to judge it a new illness, which only the physician can attest"},
	knowledge.RuleLowStandardAdmission: {none: "an encounter-level finding: treat as an outpatient or record the " +
		"rescue/severity that needs admission, a clinical judgement"},
	knowledge.RuleDiagnosisGender: {none: "the finding is on a diagnosis, not an order line: the gender or the " +
		"diagnosis code is wrong, and only the physician can say which"},
}

const (
	fixReduceQuantity = rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY
	fixReduceDays     = rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS
	fixSelfPay        = rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY
	fixAttest         = rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION
	fixRemoveLine     = rxguardv1.FixKind_FIX_KIND_REMOVE_LINE
)

func kinds(k ...rxguardv1.FixKind) []rxguardv1.FixKind { return k }

// Button labels (Chinese, short). The numeric ones are built per finding.
const (
	labelSelfPay = "标记为自费（需患者知情同意）"
	labelAttest  = "确认符合限定支付范围"
	labelRemove  = "删除本行"
)

// lineID is the line_id a fix for order line li names.
func (ev *evaluation) lineID(li int) string { return ev.req.Orders[li].LineId }

// selfPayFix: a payment rule never fires on a self-pay line (RULES.md).
func (ev *evaluation) selfPayFix(li int) *rxguardv1.Fix {
	return ev.newFix(fixSelfPay, li, labelSelfPay)
}

// attestFix: DRUG_INDICATION and SECOND_LINE never fire on an attested line.
func (ev *evaluation) attestFix(li int) *rxguardv1.Fix {
	return ev.newFix(fixAttest, li, labelAttest)
}

// removeFix removes line li; nil when it is the order's only line (an empty
// order is a cancellation, not something to re-check: fix.Apply refuses it).
func (ev *evaluation) removeFix(li int) *rxguardv1.Fix {
	if len(ev.req.Orders) < 2 {
		return nil
	}
	return ev.newFix(fixRemoveLine, li, labelRemove)
}

func (ev *evaluation) reduceQuantityFix(li int, q float64) *rxguardv1.Fix {
	f := ev.newFix(fixReduceQuantity, li, ev.cat("数量改为 ", formatQty(q)))
	f.Quantity = q
	return f
}

func (ev *evaluation) reduceDaysFix(li int, days int) *rxguardv1.Fix {
	f := ev.newFix(fixReduceDays, li, ev.cat("天数改为 ", ev.itoa(days)))
	f.Days = int32(days)
	return f
}

// fixList collects fixes, dropping the nil ones (a fix that does not apply
// in this case, e.g. removing the only line).
func fixList(fs ...*rxguardv1.Fix) []*rxguardv1.Fix {
	out := fs[:0]
	for _, f := range fs {
		if f != nil {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// mergeFixes combines the fixes of two restrictions of one rule type that
// both fire on a line, so that each fix left clears both: a reduction is
// kept at the smaller value when both offer it (each restriction passes at
// or below its own value) and dropped when only one does; removing the line
// and self-pay clear every restriction of a type, so either side's counts.
// Changes of the order come first, self-pay (the patient pays) last.
func mergeFixes(fs, other []*rxguardv1.Fix) []*rxguardv1.Fix {
	var out []*rxguardv1.Fix
	for _, f := range fs {
		if f.Kind == fixReduceQuantity || f.Kind == fixReduceDays {
			o := kindIn(other, f.Kind)
			if o == nil {
				continue
			}
			if o.Quantity < f.Quantity || o.Days < f.Days {
				f = o
			}
		}
		out = append(out, f)
	}
	for _, o := range other {
		if (o.Kind == fixRemoveLine || o.Kind == fixSelfPay) && kindIn(out, o.Kind) == nil {
			out = append(out, o)
		}
	}
	slices.SortStableFunc(out, func(a, b *rxguardv1.Fix) int { return fixRank(a.Kind) - fixRank(b.Kind) })
	return out
}

func kindIn(fs []*rxguardv1.Fix, k rxguardv1.FixKind) *rxguardv1.Fix {
	for _, f := range fs {
		if f.Kind == k {
			return f
		}
	}
	return nil
}

// fixRank orders a finding's fixes: what changes the order, then self-pay.
func fixRank(k rxguardv1.FixKind) int {
	if k == fixSelfPay {
		return 1
	}
	return 0
}

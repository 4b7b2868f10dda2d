package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// ruleSpec describes one built-in rule type: whether it concerns payment
// only (then it never fires on a self-pay line), its default action, and
// how it judges one order line against one restriction of its type bound
// to the line's code.
type ruleSpec struct {
	typ     knowledge.RuleType
	payment bool
	action  rxguardv1.Action
	// title is the short Chinese name used in messages and explanations.
	title string
	// Exactly one of check, checkLine and checkRequest is set.
	//
	// check judges one line against one restriction of this type bound to
	// the line's code (the batch rules); ok=false means it does not fire.
	check func(ev *evaluation, line int, b *bound) (v violation, ok bool)
	// checkLine judges one line against drug knowledge or policy; it
	// returns nothing in the common case (no allocation).
	checkLine func(ev *evaluation, line int) []violation
	// checkRequest judges the request as a whole (diagnoses).
	checkRequest func(ev *evaluation) []violation
	// describe summarises a restriction's parameters for ExplainItem.
	describe func(r *knowledge.Restriction) string
	// byName: a drug batch rule whose restrictions also apply, matched by
	// the batch's generic name, to a drug line whose code the release does
	// not bind (Index.byDrugName).
	byName bool
	// needs, set on every rule type that reads ev.history, adds to n the
	// keys of history it reads for order line o and restriction b (nil
	// for line rules): HistoryNeeds filters recorded history with them.
	// A rule type that reads history without declaring them would judge
	// a filtered history; TestHistoryNeedsDifferential catches it.
	needs func(n *HistoryNeeds, o *rxguardv1.OrderLine, b *bound)
	order int
}

// violation is what a rule says when it fires.
type violation struct {
	message    string
	evidence   string
	suggestion string
	// otherLines are further order lines the finding names (pair rules).
	otherLines []int
	// action overrides the rule's default when the rule itself grades
	// (zero = default).
	action rxguardv1.Action
	// ruleID names the knowledge that fired for rules not bound to a
	// restriction (a drug record, an interaction pair, a policy limit).
	ruleID string
	// noLine: a request-level finding that names no order line.
	noLine bool
	// fixes are the structured suggestions: each alone, applied to the
	// request, makes the finding pass (Finding.fixes).
	fixes []*rxguardv1.Fix
}

// ruleList is the set of built-in rule types, in the order their findings
// are reported within a line. "Which rules exist" is answered here.
var ruleList = []*ruleSpec{
	physicianQualificationRule,
	drugGenderRule,
	itemGenderRule,
	drugAgeRule,
	itemAgeRule,
	insuranceTypeRule,
	encounterTypeRule,
	hospitalLevelRule,
	paymentCourseRule,
	itemFrequencyRule,
	itemPeriodFrequencyRule,
	itemCourseRule,
	duplicateChargeRule,
	surgeryGroupRule,
	unknownItemRule,
	notCoveredRule,
	drugIndicationRule,
	secondLineRule,
	quantityLimitRule,
	drugInteractionRule,
	duplicateTherapyRule,
	repeatExamRule,
	diagnosisGenderRule,
	readmissionRule,
	lowStandardAdmissionRule,
}

// lineRules and requestRules are the subsets of ruleList by shape, kept in
// ruleList order.
var lineRules, requestRules = func() (line, req []*ruleSpec) {
	for _, s := range ruleList {
		if s.checkLine != nil {
			line = append(line, s)
		}
		if s.checkRequest != nil {
			req = append(req, s)
		}
	}
	return line, req
}()

var ruleByType = func() map[knowledge.RuleType]*ruleSpec {
	m := make(map[knowledge.RuleType]*ruleSpec, len(ruleList))
	for i, s := range ruleList {
		s.order = i
		m[s.typ] = s
	}
	return m
}()

func specFor(t knowledge.RuleType) *ruleSpec { return ruleByType[t] }

// RuleTypes lists the built-in rule types in report order.
func RuleTypes() []knowledge.RuleType {
	out := make([]knowledge.RuleType, len(ruleList))
	for i, s := range ruleList {
		out[i] = s.typ
	}
	return out
}

// DefaultAction is the action a rule type takes unless configured otherwise.
func DefaultAction(t knowledge.RuleType) (rxguardv1.Action, bool) {
	s := ruleByType[t]
	if s == nil {
		return rxguardv1.Action_ACTION_UNSPECIFIED, false
	}
	return s.action, true
}

// selfPaySuggestion is appended to every BLOCK suggestion of a payment rule
// (RULES.md): the physician may always keep the order as self-pay.
const selfPaySuggestion = "或在患者知情同意后将本项标记为自费（self_pay）。"

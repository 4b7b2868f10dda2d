package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// DRUG_INTERACTION (配伍禁忌, a safety rule: fires on self-pay lines too): two
// drugs of an interaction pair (by generic name) in this order, or one in
// this order and one in history whose supply still runs on the line's day.
// 禁忌 → BLOCK, 慎用 → WARN. The finding is on the later line and names both
// lines when both are in this order.
var drugInteractionRule = &ruleSpec{
	typ: knowledge.RuleDrugInteraction, action: rxguardv1.Action_ACTION_BLOCK,
	title: "配伍禁忌", checkLine: checkDrugInteraction, needs: needsDrugs,
}

func checkDrugInteraction(ev *evaluation, line int) []violation {
	if len(ev.idx.interactions) == 0 || !isDrug(ev.req.Orders[line].Kind) {
		return nil
	}
	d := ev.lineDrug(line)
	if d == nil {
		return nil
	}
	var out []violation
	var reported []string // partner generics already reported for this line
	for i := 0; i < line; i++ {
		if p := ev.lineDrug(i); p != nil && isDrug(ev.req.Orders[i].Kind) {
			if it := ev.idx.interactions[orderedPair(d.generic, p.generic)]; it != nil && !contains(reported, p.generic) {
				reported = append(reported, p.generic)
				v := interactionViolation(ev, line, it, d.generic, p.generic, "本处方同时开具")
				v.otherLines = []int{i}
				out = append(out, v)
			}
		}
	}
	day := ev.lines[line].day
	for _, r := range ev.historyRunning(day) {
		h := &ev.history[r.at]
		if !running(h, day) {
			continue
		}
		if p := r.drug; p != nil {
			if it := ev.idx.interactions[orderedPair(d.generic, p.generic)]; it != nil && !contains(reported, p.generic) {
				reported = append(reported, p.generic)
				out = append(out, interactionViolation(ev, line, it, d.generic, p.generic, ev.cat(h.time().In(Shanghai).Format("2006-01-02"), "开具、仍在用药期内的")))
			}
		}
	}
	return out
}

// interactionViolation is the finding on the later line; for 禁忌 dropping
// that line clears every pair it is in (one fix, whatever the partner).
func interactionViolation(ev *evaluation, line int, it *knowledge.Interaction, this, other, where string) violation {
	v := violation{
		ruleID:   ev.pairRuleID(it),
		message:  ev.cat(this, " 与", where, other, " 存在配伍", it.Severity, "：", it.Reason, "。"),
		evidence: ev.cat(it.Source.String(), "：", it.DrugA, " + ", it.DrugB, "，", it.Severity, "，", it.Reason),
	}
	if it.Severity == "禁忌" {
		v.action = rxguardv1.Action_ACTION_BLOCK
		v.suggestion = "禁止合用：停用其中一种药品或更换为无相互作用的替代药品。"
		v.fixes = fixList(ev.removeFix(line))
	} else {
		v.action = rxguardv1.Action_ACTION_WARN
		v.suggestion = "慎用：确需合用请调整剂量、加强监测并填写理由。"
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pairRuleID is "DRUG_INTERACTION/" + pairKey of the pair, in the check's
// arena.
func (ev *evaluation) pairRuleID(it *knowledge.Interaction) string {
	p := orderedPair(it.DrugA, it.DrugB)
	return ev.cat("DRUG_INTERACTION/", p.a, "+", p.b)
}

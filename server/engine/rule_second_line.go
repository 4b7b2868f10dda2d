package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// SECOND_LINE: an insured line for a drug marked second-line (二线, from the
// catalogue text or the product table) without the physician attesting the
// restriction (first-line treatment failed or was not tolerated).
var secondLineRule = &ruleSpec{
	typ: knowledge.RuleSecondLine, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "二线用药", checkLine: checkSecondLine,
}

func checkSecondLine(ev *evaluation, line int) []violation {
	o := ev.req.Orders[line]
	if !isDrug(o.Kind) || o.RestrictionAttested {
		return nil
	}
	d := ev.lineDrug(line)
	if d == nil || !d.secondLine {
		return nil
	}
	evidence := d.cite(ev, "：", d.generic, " 为二线用药")
	if d.restriction != "" {
		evidence = ev.cat(evidence, "，限定支付范围：“", d.restriction, "”")
	}
	return ev.one(violation{
		ruleID:     ev.cat("SECOND_LINE/", o.ItemCode),
		message:    ev.cat(d.generic, " 为医保二线用药，需一线药物治疗无效或不耐受后方可支付。"),
		evidence:   evidence,
		suggestion: ev.cat("如一线治疗无效或不耐受，请确认符合限定支付范围（restriction_attested）；否则改用一线药物，", selfPaySuggestion),
		fixes:      fixList(ev.attestFix(line), ev.selfPayFix(line)),
	})
}

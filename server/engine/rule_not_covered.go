package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// NOT_COVERED: an insured line for a drug the release marks as not covered
// (a record with no 甲/乙 class: 丙类, 自费, outside the catalogue).
var notCoveredRule = &ruleSpec{
	typ: knowledge.RuleNotCovered, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "非医保目录", checkLine: checkNotCovered,
}

func checkNotCovered(ev *evaluation, line int) []violation {
	o := ev.req.Orders[line]
	if !isDrug(o.Kind) {
		return nil
	}
	d := ev.lineDrug(line)
	if d == nil || d.class == "甲" || d.class == "乙" {
		return nil
	}
	return ev.one(violation{
		ruleID:     ev.cat("NOT_COVERED/", o.ItemCode),
		message:    ev.cat(d.generic, " 不在医保支付范围（非甲/乙类目录药品），医保不予支付。"),
		evidence:   d.cite(ev, "：", d.generic, "，医保类别：无（非目录）"),
		suggestion: ev.cat("更换为医保目录内药品，", selfPaySuggestion),
		fixes:      fixList(ev.selfPayFix(line)),
	})
}

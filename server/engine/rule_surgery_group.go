package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// SURGERY_GROUP (第二批 限定主次操作): two or more different operations of the
// same surgery group on the same day are one incision; the second and later
// must be charged at the discounted rate. The finding is on each later line.
var surgeryGroupRule = &ruleSpec{
	typ: knowledge.RuleSurgeryGroup, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "限定主次操作", check: checkSurgeryGroup,
	describe: func(r *knowledge.Restriction) string { return "手术组：" + r.Group },
}

func checkSurgeryGroup(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	day := ev.lines[line].day
	sameGroup := func(e *event) bool {
		return e.code != r.Code && e.day == day && ev.idx.surgeryGroup[e.code] == r.Group
	}
	firstName := ""
	for i := range ev.history {
		if sameGroup(&ev.history[i]) {
			firstName = ev.idx.Name(ev.history[i].code)
			break
		}
	}
	if firstName == "" {
		for j := 0; j < line; j++ {
			if sameGroup(&ev.lines[j]) {
				firstName = ev.idx.Name(ev.lines[j].code)
				break
			}
		}
	}
	if firstName == "" {
		return violation{}, false
	}
	return violation{
		message:    r.Name + " 与同日 " + firstName + " 同属" + r.Group + "，第二及以后的手术应按规定折价计收。",
		evidence:   b.quote + "；限定值域：" + r.Group,
		suggestion: "按主次手术规定折价计收本项目（或确认为不同切口并填写理由）。",
	}, true
}

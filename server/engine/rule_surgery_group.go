package engine

import (
	"strings"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// SURGERY_GROUP (第二批 限定主次操作): two or more different operations of the
// same surgery group on the same day are one incision; the second and later
// must be charged at the discounted rate. The finding is on each later line.
// Some items are listed in several groups; sharing any one is enough.
var surgeryGroupRule = &ruleSpec{
	typ: knowledge.RuleSurgeryGroup, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "限定主次操作", check: checkSurgeryGroup, needs: needsSurgeryGroup,
	describe: func(r *knowledge.Restriction) string { return "手术组：" + strings.Join(r.Groups, "、") },
}

// sharedGroup returns a group both lists contain, or "".
func sharedGroup(a, b []string) string {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return x
			}
		}
	}
	return ""
}

func checkSurgeryGroup(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	day := ev.lines[line].day
	var first *event
	group := ""
	consider := func(e *event) bool {
		if e.code == r.Code || e.day != day {
			return false
		}
		if g := sharedGroup(r.Groups, ev.idx.surgeryGroups[e.code]); g != "" {
			first, group = e, g
			return true
		}
		return false
	}
	for _, i := range ev.historyOnDay(day) {
		if consider(&ev.history[i]) {
			break
		}
	}
	if first == nil {
		for j := 0; j < line; j++ {
			if consider(&ev.lines[j]) {
				break
			}
		}
	}
	if first == nil {
		return violation{}, false
	}
	firstName := ev.idx.Name(first.code)
	return violation{
		message:    ev.cat(r.Name, " 与同日 ", firstName, " 同属", group, "，第二及以后的手术应按规定折价计收。"),
		evidence:   b.quoteWith(ev, "；限定值域：", group),
		suggestion: "按主次手术规定折价计收本项目（或确认为不同切口并填写理由）。",
	}, true
}

package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// PAYMENT_COURSE (第六批 限定支付疗程: N天): fires when the supply days of the
// drug in this encounter, history and this order together, exceed N. The
// batch lists a drug's product codes under one generic name; days count
// across them, so switching manufacturer does not restart the course.
var paymentCourseRule = &ruleSpec{
	typ: knowledge.RulePaymentCourse, payment: true, byName: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "限定支付疗程", check: checkPaymentCourse, needs: needsCourseGroup,
	describe: func(r *knowledge.Restriction) string {
		if r.CourseDays > 0 {
			return "支付不超过" + strconv.Itoa(r.CourseDays) + "天"
		}
		return "支付疗程：" + r.Text
	},
}

func checkPaymentCourse(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	if r.CourseDays <= 0 {
		return violation{}, false
	}
	group := ev.idx.courseGroup[r.Code]
	sameDrug := func(code string) bool { return ev.idx.courseGroup[code] == group }
	before := 0
	for _, c := range ev.historyCourse() {
		if h := &ev.history[c.at]; h.encounter && c.group == group {
			before += supplyDays(h.days)
		}
	}
	for j := 0; j < line; j++ {
		if l := &ev.lines[j]; l.insured && sameDrug(l.code) {
			before += supplyDays(l.days)
		}
	}
	this := supplyDays(ev.lines[line].days)
	if before+this <= r.CourseDays {
		return violation{}, false
	}
	left := r.CourseDays - before
	if left < 0 {
		left = 0
	}
	// Reducing this line's days to what is left clears the course (later
	// lines of the drug only get fewer days before them); with nothing
	// left, only dropping the line or self-pay does.
	suggestion := ev.cat("本次就诊医保剩余可支付", ev.itoa(left), "天，请将用药天数减至", ev.itoa(left), "天以内，")
	change := ev.reduceDaysFix(line, left)
	if left == 0 {
		suggestion = "本次就诊医保支付疗程已用完，请停用或更换药品，"
		change = ev.removeFix(line)
	}
	return violation{
		message:    ev.cat(r.Name, " 医保支付不超过", ev.itoa(r.CourseDays), "天，本次就诊已用", ev.itoa(before), "天，加本医嘱", ev.itoa(this), "天共", ev.itoa(before+this), "天。"),
		evidence:   b.quoteWith(ev, "；限定支付疗程：", ev.itoa(r.CourseDays), "天"),
		suggestion: suggestion + selfPaySuggestion,
		fixes:      fixList(change, ev.selfPayFix(line)),
	}, true
}

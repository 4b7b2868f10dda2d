package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// ITEM_COURSE (第八批-3 限定疗程, limits in words): fires when the days since
// the first such item in this encounter exceed D (总时间/支付不超过D天), or
// the days since the last one are fewer than I (间隔不短于I天). The interval
// looks at the patient's whole history: outpatient rehabilitation is a new
// encounter every visit.
var itemCourseRule = &ruleSpec{
	typ: knowledge.RuleItemCourse, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "限定支付疗程（项目）", check: checkItemCourse, needs: needsCode,
	describe: func(r *knowledge.Restriction) string {
		s := ""
		if r.CourseDays > 0 {
			s = "支付不超过" + strconv.Itoa(r.CourseDays) + "天"
		}
		if r.IntervalDays > 0 {
			if s != "" {
				s += "，"
			}
			s += "间隔不短于" + strconv.Itoa(r.IntervalDays) + "天"
		}
		if r.Text != "" {
			if s != "" {
				s += "；"
			}
			s += "未结构化：" + r.Text
		}
		return s
	},
}

func checkItemCourse(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	if r.CourseDays <= 0 && r.IntervalDays <= 0 {
		return violation{}, false
	}
	day := ev.lines[line].day
	first, hasFirst := 0, false
	last, hasLast := 0, false
	note := func(e *event) {
		if e.code != r.Code || e.day > day {
			return
		}
		if e.encounter && (!hasFirst || e.day < first) {
			first, hasFirst = e.day, true
		}
		if !hasLast || e.day > last {
			last, hasLast = e.day, true
		}
	}
	for _, i := range ev.historyOf(r.Code) {
		note(&ev.history[i])
	}
	for j := 0; j < line; j++ {
		if ev.lines[j].insured {
			note(&ev.lines[j])
		}
	}
	if r.CourseDays > 0 && hasFirst && day-first > r.CourseDays {
		return violation{
			message:    ev.cat(r.Name, " 医保支付不超过", ev.itoa(r.CourseDays), "天，本次就诊首次于", ev.dayText(first), "，至今已", ev.itoa(day-first), "天。"),
			evidence:   b.quoteWith(ev),
			suggestion: ev.cat("疗程已超出医保支付期限，请评估是否继续；继续执行请填写理由，", selfPaySuggestion),
			fixes:      fixList(ev.removeFix(line), ev.selfPayFix(line)),
		}, true
	}
	if r.IntervalDays > 0 && hasLast && day-last < r.IntervalDays {
		return violation{
			message:    ev.cat(r.Name, " 医保要求间隔不短于", ev.itoa(r.IntervalDays), "天，上次于", ev.dayText(last), "，间隔", ev.itoa(day-last), "天。"),
			evidence:   b.quoteWith(ev),
			suggestion: ev.cat("请于", ev.dayText(last+r.IntervalDays), "及以后再行本项目；确需本次执行请填写理由，", selfPaySuggestion),
			fixes:      fixList(ev.removeFix(line), ev.selfPayFix(line)),
		}, true
	}
	return violation{}, false
}

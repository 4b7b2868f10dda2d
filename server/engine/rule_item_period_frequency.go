package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// ITEM_PERIOD_FREQUENCY (第八批-4 频次上限 per 疗程周期): fires when the item
// occurs more than N times within the last M days, this order included.
// "Within the last M days" of day D is days D-M+1 … D: with 1 per 14 days,
// a repeat on day 13 fires and one on day 14 passes.
var itemPeriodFrequencyRule = &ruleSpec{
	typ: knowledge.RuleItemPeriodFrequency, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "周期超频次", check: checkItemPeriodFrequency, needs: needsCode,
	describe: func(r *knowledge.Restriction) string {
		return strconv.Itoa(r.PeriodDays) + "天内最多" + strconv.Itoa(r.PeriodCount) + "次"
	},
}

func checkItemPeriodFrequency(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	if r.PeriodCount <= 0 || r.PeriodDays <= 0 {
		return violation{}, false
	}
	day := ev.lines[line].day
	inWindow := func(d int) bool { return d <= day && day-d < r.PeriodDays }
	n := count(ev.lines[line].quantity)
	last, hasLast := 0, false
	note := func(e *event) {
		if e.code != r.Code || !inWindow(e.day) {
			return
		}
		n += count(e.quantity)
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
	if n <= r.PeriodCount || !hasLast {
		return violation{}, false
	}
	next := last + r.PeriodDays
	// The others in the window stay; this line may count what is left of
	// the limit (a whole number: count rounds), or nothing: drop it.
	change := ev.removeFix(line)
	if others := n - count(ev.lines[line].quantity); others < r.PeriodCount {
		change = ev.reduceQuantityFix(line, float64(r.PeriodCount-others))
	}
	return violation{
		message:    ev.cat(r.Name, " ", ev.itoa(r.PeriodDays), "天内医保限", ev.itoa(r.PeriodCount), "次，含本医嘱已", ev.itoa(n), "次（上次", ev.dayText(last), "）。"),
		evidence:   b.quoteWith(ev, "；频次上限", ev.itoa(r.PeriodCount), "，疗程周期", ev.itoa(r.PeriodDays), "天；上次：", ev.dayText(last)),
		suggestion: ev.cat("如非必要请于", ev.dayText(next), "及以后再行本项目；确需本次执行请填写理由，", selfPaySuggestion),
		fixes:      fixList(change, ev.selfPayFix(line)),
	}, true
}

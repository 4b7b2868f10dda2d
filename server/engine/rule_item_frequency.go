package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// ITEM_FREQUENCY (第八批-1 限定频次, per 日): fires when the quantity of the
// item on the line's calendar day, history and this order together,
// exceeds the daily limit (1 per day, or 24 hours per day).
var itemFrequencyRule = &ruleSpec{
	typ: knowledge.RuleItemFrequency, payment: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "限定频次", check: checkItemFrequency, needs: needsCode,
	describe: func(r *knowledge.Restriction) string {
		return "每日限" + formatQty(r.DailyLimit) + r.Unit
	},
}

func formatQty(q float64) string { return strconv.FormatFloat(q, 'f', -1, 64) }

// quantityOrOne: an entry without a quantity still happened once.
func quantityOrOne(q float64) float64 {
	if q <= 0 {
		return 1
	}
	return q
}

func checkItemFrequency(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	if r.DailyLimit <= 0 {
		return violation{}, false
	}
	day := ev.lines[line].day
	var before float64
	for _, i := range ev.historyOf(r.Code) {
		if h := &ev.history[i]; h.code == r.Code && h.day == day {
			before += quantityOrOne(h.quantity)
		}
	}
	for j := 0; j < line; j++ {
		if l := &ev.lines[j]; l.insured && l.code == r.Code && l.day == day {
			before += quantityOrOne(l.quantity)
		}
	}
	this := quantityOrOne(ev.lines[line].quantity)
	if before+this <= r.DailyLimit {
		return violation{}, false
	}
	left := r.DailyLimit - before
	if left < 0 {
		left = 0
	}
	// A line with quantity q counts q (at least once if q is missing), so
	// quantity = left passes exactly; with nothing left the line must go.
	suggestion := ev.cat("当日医保剩余可支付数量", formatQty(left), "，请将数量减至", formatQty(left), "以内，")
	change := ev.reduceQuantityFix(line, left)
	if left == 0 {
		suggestion = "当日已达限定数量，请删除本项目，"
		change = ev.removeFix(line)
	}
	return violation{
		message: ev.cat(r.Name, " 医保每日限", formatQty(r.DailyLimit), r.Unit, "，当日已有", formatQty(before),
			"，加本医嘱", formatQty(this), "共", formatQty(before+this), "。"),
		evidence:   b.sourceWith(ev, "：", r.Name, "，限制数量", formatQty(r.DailyLimit), "，数量单位", r.Unit),
		suggestion: suggestion + selfPaySuggestion,
		fixes:      fixList(change, ev.selfPayFix(line)),
	}, true
}

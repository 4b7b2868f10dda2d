package engine

import (
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// DUPLICATE_CHARGE (第七批 重复收费): the 从项 is included in the 主项 and may
// not be charged beside it within the window (单日: same calendar day;
// 单次就诊: same encounter; 6小时: less than six hours apart; 同一小时: less
// than 60 minutes apart — a rolling window like 6小时, not the clock hour, so
// 09:55 and 10:05 fire as 10:05 and 10:55 do). The finding is on the 从项
// line; when the 主项 is in this order too, it names both lines.
var duplicateChargeRule = &ruleSpec{
	typ: knowledge.RuleDuplicateCharge, payment: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "重复收费", check: checkDuplicateCharge, needs: needsPrimary,
	describe: func(r *knowledge.Restriction) string {
		w := string(r.Window)
		if w == "" {
			w = r.Text
		}
		return "与主项 " + r.PrimaryName + "（" + r.PrimaryCode + "）" + w + "内不得同时收费"
	},
}

func withinWindow(w knowledge.Window, secondary, primary *event) bool {
	switch w {
	case knowledge.WindowSameDay:
		return secondary.day == primary.day
	case knowledge.WindowSameEncounter:
		return primary.encounter
	case knowledge.WindowSixHours:
		return apart(secondary, primary) < 6*time.Hour
	case knowledge.WindowSameHour:
		return apart(secondary, primary) < time.Hour
	}
	return false // a 频度 kept as text cannot be judged
}

// apart is the time between two occurrences, either way round.
func apart(a, b *event) time.Duration {
	d := a.time().Sub(b.time())
	if d < 0 {
		d = -d
	}
	return d
}

func checkDuplicateCharge(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	sec := &ev.lines[line]
	for j := range ev.lines {
		if p := &ev.lines[j]; j != line && p.insured && p.code == r.PrimaryCode && withinWindow(r.Window, sec, p) {
			v := duplicateChargeViolation(ev, line, b, "本医嘱同时开具")
			v.otherLines = []int{j}
			return v, true
		}
	}
	for _, i := range ev.historyOf(r.PrimaryCode) {
		if p := &ev.history[i]; p.code == r.PrimaryCode && withinWindow(r.Window, sec, p) {
			return duplicateChargeViolation(ev, line, b, ev.cat(p.time().In(Shanghai).Format("2006-01-02 15:04"), "已收取")), true
		}
	}
	return violation{}, false
}

// duplicateChargeViolation is the finding on the 从项 line; dropping that
// line (whatever 主项 it is included in) or self-pay clears it.
func duplicateChargeViolation(ev *evaluation, line int, b *bound, when string) violation {
	r := b.r
	v := violation{
		message: ev.cat(r.Name, " 已包含在主项 ", r.PrimaryName, " 内（", when, "主项，频度：", string(r.Window),
			"），不得重复收费。"),
		evidence:   b.sourceWith(ev, "：主项 ", r.PrimaryName, "（", r.PrimaryCode, "）包含从项 ", r.Name, "（", r.Code, "），频度", string(r.Window)),
		suggestion: ev.cat("删除从项 ", r.Name, "，", selfPaySuggestion),
		fixes:      fixList(ev.removeFix(line), ev.selfPayFix(line)),
	}
	if r.Description != "" {
		v.evidence = ev.cat(v.evidence, "，备注：“", r.Description, "”")
	}
	return v
}

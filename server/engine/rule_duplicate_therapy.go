package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// DUPLICATE_THERAPY (重复用药, a safety rule): the same generic twice in this
// order, or in this order while a history supply of it still runs on the
// line's day. The finding is on the later line and names both lines when
// both are in this order.
var duplicateTherapyRule = &ruleSpec{
	typ: knowledge.RuleDuplicateTherapy, action: rxguardv1.Action_ACTION_WARN,
	title: "重复用药", checkLine: checkDuplicateTherapy, needs: needsDrugs,
}

func checkDuplicateTherapy(ev *evaluation, line int) []violation {
	if !isDrug(ev.req.Orders[line].Kind) {
		return nil
	}
	d := ev.lineDrug(line)
	if d == nil || d.generic == "" {
		return nil
	}
	for i := 0; i < line; i++ {
		if p := ev.lineDrug(i); p != nil && p.generic == d.generic && isDrug(ev.req.Orders[i].Kind) {
			return ev.one(violation{
				ruleID:     ev.cat("DUPLICATE_THERAPY/", d.generic),
				message:    ev.cat(d.generic, " 在本处方中重复开具（第", ev.req.Orders[i].LineId, "行已开具同一通用名药品）。"),
				evidence:   d.cite(ev, "：通用名 ", d.generic),
				suggestion: "删除重复的一行，或合并为一条医嘱。",
				otherLines: []int{i},
				fixes:      fixList(ev.removeFix(line)),
			})
		}
	}
	day := ev.lines[line].day
	for _, r := range ev.historyRunning(day) {
		h := &ev.history[r.at]
		if !running(h, day) {
			continue
		}
		if p := r.drug; p != nil && p.generic == d.generic {
			until := dayString(h.day + supplyDays(h.days) - 1)
			given := h.time().In(Shanghai).Format("2006-01-02")
			return ev.one(violation{
				ruleID:     ev.cat("DUPLICATE_THERAPY/", d.generic),
				message:    ev.cat(d.generic, " 患者", given, "已开具，用药期至", until, "，本次重复开具。"),
				evidence:   ev.cat("既往医嘱：", h.code, "，", given, "，", ev.itoa(int(h.days)), "天"),
				suggestion: ev.cat("原药品用完（", until, "后）再开具；确需调整请填写理由。"),
				fixes:      fixList(ev.removeFix(line)),
			})
		}
	}
	return nil
}

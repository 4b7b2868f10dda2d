package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// REPEAT_EXAM (检查检验结果互认): an order line's item is on the release's
// mutual-recognition list with window W, and the patient's history
// (request or recorded) has the same item on one of the days D−W+1 … D, D
// being the line's day — at this or another hospital. The earlier result
// can be viewed and recognised instead of repeating the examination. It is
// about the patient's burden, not payment: it fires whoever pays.
var repeatExamRule = &ruleSpec{
	typ: knowledge.RuleRepeatExam, action: rxguardv1.Action_ACTION_WARN,
	title: "重复检查检验（互认）", checkLine: checkRepeatExam, needs: needsLineCode,
}

// removeLineLabel is the button text of REPEAT_EXAM's structured fix.
const removeLineLabel = "删除本项，调阅互认结果"

func checkRepeatExam(ev *evaluation, line int) []violation {
	if len(ev.history) == 0 {
		return nil // the common case: no lookup at all
	}
	ln := &ev.lines[line]
	item, ok := ev.idx.Recognition(ln.code)
	if !ok || item.WindowDays <= 0 {
		return nil
	}
	w := item.WindowDays
	earlier := -1
	for _, at := range ev.historyOf(ln.code) {
		i := int(at)
		h := &ev.history[i]
		if h.code != ln.code || h.day > ln.day || ln.day-h.day >= w {
			continue
		}
		// The latest one is the result to view.
		if earlier < 0 || h.after(&ev.history[earlier]) {
			earlier = i
		}
	}
	if earlier < 0 {
		return nil
	}
	h := &ev.history[earlier]
	hospital, report := ev.historyOrigin(earlier)
	where := "本院"
	if hospital != "" && hospital != ev.req.GetHospital().GetCode() {
		where = ev.cat("医院 ", hospital)
	}
	// The time is formatted into a stack buffer: string(when) inside a
	// concatenation does not allocate, so each text below is one
	// allocation (this rule fires on every repeated examination).
	var buf [32]byte
	when := h.time().In(Shanghai).AppendFormat(buf[:0], "2006-01-02 15:04")
	o := ev.req.Orders[line]
	name := o.GetItemName()
	if name == "" {
		name = item.Name
	}
	window := strconv.Itoa(w)
	// Removing the order's only line is a cancellation, not a fix to
	// re-check (fix.Apply refuses it), as for every rule (removeFix).
	var fixes []*rxguardv1.Fix
	if len(ev.req.Orders) > 1 {
		fix := &removeLineFix{fix: rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: o.GetLineId(), Label: removeLineLabel}}
		fix.list[0] = &fix.fix
		fixes = fix.list[:]
	}
	return ev.one(violation{
		ruleID: ev.cat("REPEAT_EXAM/", item.Code),
		message: ev.cat(name, " 已于", string(when), "在", where, "做过（", window, "天互认期内），",
			orNone("报告号 ", report), ifSet(report, "，"), "可调阅互认结果。"),
		evidence: writeCited(ev, &item.Source, false, "", "", []string{"：检查检验结果互认目录 ", item.Code, " ", item.Name, "，互认期", window, "天，范围",
			orDash(item.Scope), "；既往：", where, " ", string(when), orNone("，报告号 ", report)}),
		suggestion: "调阅并互认既往结果，删除本项；确需重复检查的（如病情变化、既往结果不能满足诊疗需要），请填写理由后继续。",
		fixes:      fixes,
	})
}

// removeLineFix holds REPEAT_EXAM's one fix and the slice naming it in one
// allocation.
type removeLineFix struct {
	fix  rxguardv1.Fix
	list [1]*rxguardv1.Fix
}

// ifSet is text when s is not empty, else "".
func ifSet(s, text string) string {
	if s == "" {
		return ""
	}
	return text
}

// orNone is label+s, or "" when s is empty.
func orNone(label, s string) string {
	if s == "" {
		return ""
	}
	return label + s
}

package importer

import (
	"strings"

	"github.com/rxguard/rxguard/knowledge"
)

const (
	dcSeq = iota
	dcWindow
	dcPrimaryName
	dcPrimaryCode
	dcName
	dcCode
	dcNote
)

var duplicateChargeCols = []column{
	{name: "序号", optional: true},
	{name: "频度", aliases: []string{"频次", "时间范围"}},
	{name: "主项名称"},
	{name: "主项编码", aliases: []string{"主项代码"}},
	{name: "从项名称"},
	{name: "从项编码", aliases: []string{"从项代码"}},
	{name: "备注", aliases: []string{"说明"}, optional: true},
}

// parseWindow maps a 频度 cell to its window. Spaces and full-width digits
// ("６小时") are typing variants of the same value and are accepted; any
// other wording is not guessed at.
func parseWindow(raw string) (knowledge.Window, bool) {
	s := toHalfWidth(stripSpace(raw))
	s = strings.Replace(s, "六小时", "6小时", 1)
	switch w := knowledge.Window(s); w {
	case knowledge.WindowSameDay, knowledge.WindowSameEncounter, knowledge.WindowSixHours, knowledge.WindowSameHour:
		return w, true
	}
	return "", false
}

// parseDuplicateCharge reads batch 7 重复收费: the 从项 may not be charged
// beside the 主项 within the 频度 window, because the 主项's price includes
// it. The record is indexed on the 从项, where the finding lands.
func parseDuplicateCharge(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第七批", File: file, Sheet: s.name}, s.rows, duplicateChargeCols)
	if err != nil {
		return parsed{}, err
	}
	t.each(dcCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleDuplicateCharge, t.code(i, dcCode, isItemCode, itemCodeKind), t.text(i, dcName))
		r.PrimaryName = t.text(i, dcPrimaryName)
		r.Description = t.text(i, dcNote)
		r.PrimaryCode = t.code(i, dcPrimaryCode, isItemCode, itemCodeKind)
		if r.PrimaryCode == r.Code && r.Code != "" {
			t.warn(i, wUnknownValue, "主项 and 从项 are the same code %s", r.Code)
		}
		raw := t.text(i, dcWindow)
		if w, ok := parseWindow(raw); ok {
			r.Window = w
		} else {
			r.Text = raw
			t.warn(i, wUnknownWindow, "%s %q is not 单日, 单次就诊, 6小时 or 同一小时; kept as text", cols(t, dcWindow), raw)
		}
		if first, ok := t.add(r); !ok {
			t.warn(i, wDuplicateKey, "从项 %s, 主项 %s, 频度 %q repeat row %d; the first is kept",
				r.Code, r.PrimaryCode, raw, first.Source.Row)
		}
	})
	return t.result(), nil
}

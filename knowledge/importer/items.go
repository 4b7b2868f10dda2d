package importer

import (
	"slices"
	"strings"

	"github.com/rxguard/rxguard/knowledge"
)

// Medical service item batches: one sheet, one record per row, keyed on the
// 15-digit national item code.

var itemCodeAliases = []string{"国标代码", "项目代码", "项目编码", "医疗服务项目代码", "医疗服务项目编码"}

func itemCodeCol() column {
	return column{name: itemCodeAliases[0], aliases: itemCodeAliases[1:]}
}

const (
	iName = iota
	iDesc
	iCode
	iType
	iValue
)

// itemCols is the batch 1/2 layout: 项目名称, 项目说明, 国标代码, 限定类型 and
// the restriction's value column.
func itemCols(value string, aliases ...string) []column {
	return []column{
		{name: "项目名称", aliases: []string{"医疗服务项目名称"}},
		{name: "项目说明", aliases: []string{"说明"}, optional: true},
		itemCodeCol(),
		{name: "限定类型", optional: true},
		{name: value, aliases: aliases},
	}
}

// parseItemGender reads batch 1 项目 限定性别对象.
func parseItemGender(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第一批", File: file, Sheet: s.name}, s.rows, itemCols("限定性别", "限定对象"))
	if err != nil {
		return parsed{}, err
	}
	t.each(iCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleItemGender, t.code(i, iCode, isItemCode, itemCodeKind), t.text(i, iName))
		r.Description = t.text(i, iDesc)
		t.checkType(i, iType, "限定性别对象")
		v := t.text(i, iValue)
		if g, ok := parseGender(v); ok {
			r.Gender = g
		} else {
			r.Text = v
			t.warn(i, wUnknownValue, "%s: %s %q is not 男 or 女; kept as text", r.Name, cols(t, iValue), v)
		}
		t.addOrWarn(i, r)
	})
	return t.result(), nil
}

// parseItemAge reads batch 1 项目 限定年龄对象.
func parseItemAge(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第一批", File: file, Sheet: s.name}, s.rows, itemCols("限定对象", "限定年龄"))
	if err != nil {
		return parsed{}, err
	}
	t.each(iCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleItemAge, t.code(i, iCode, isItemCode, itemCodeKind), t.text(i, iName))
		r.Description = t.text(i, iDesc)
		t.checkType(i, iType, "限定年龄对象")
		v := t.text(i, iValue)
		if a, ok := parseAgeBand(v); ok {
			r.AgeBand = a
		} else {
			r.Text = v
			t.warn(i, wUnknownValue, "%s: %s %q is not 儿童, 婴幼儿 or 新生儿; kept as text", r.Name, cols(t, iValue), v)
		}
		t.addOrWarn(i, r)
	})
	return t.result(), nil
}

// parseSurgeryGroups reads batch 2 限定主次操作: each item and the surgery
// group (限定值域) in which a second operation through the same incision is
// charged at the discounted rate.
//
// The batch lists some items in several groups (肠粘连松解术 in four). A
// release holds one SURGERY_GROUP record per code, so each further listing
// adds its group to the first record (all groups apply) and is noted with a
// warning naming the row it was merged into. A code listed twice in the same
// group is a plain repeat: one record, one warning.
func parseSurgeryGroups(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第二批", File: file, Sheet: s.name}, s.rows, itemCols("限定值域", "手术组"))
	if err != nil {
		return parsed{}, err
	}
	t.each(iCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleSurgeryGroup, t.code(i, iCode, isItemCode, itemCodeKind), t.text(i, iName))
		r.Description = t.text(i, iDesc)
		t.checkType(i, iType, "限定主次操作")
		group := t.text(i, iValue)
		if group != "" {
			r.Groups = []string{group}
		}
		if group == "" {
			t.warn(i, wUnknownValue, "%s: %s is empty; no group to check", r.Name, cols(t, iValue))
		}
		first, ok := t.add(r)
		switch {
		case ok:
		case group == "" || slices.Contains(first.Groups, group):
			t.warn(i, wDuplicateCode, "%s %s repeats row %d in %s; the first is kept", r.Code, r.Name, first.Source.Row, group)
		default:
			first.Groups = append(first.Groups, group)
			t.warn(i, wMultiGroup, "%s %s is also in %s: merged into row %d, which now applies to %s",
				r.Code, r.Name, group, first.Source.Row, strings.Join(first.Groups, "、"))
		}
	})
	return t.result(), nil
}

const (
	fSeq = iota
	fName
	fLimit
	fUnit
	fCode
)

// parseItemFrequency reads batch 8-1 限定频次: the payable quantity of an
// item per calendar day, in the item's charging unit (日/天: once a day;
// 小时: 24 hours a day).
func parseItemFrequency(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第八批-1", File: file, Sheet: s.name}, s.rows, []column{
		{name: "序号", optional: true},
		{name: "项目名称"},
		{name: "限制数量", aliases: []string{"限定数量", "数量"}},
		{name: "数量单位", aliases: []string{"单位"}},
		itemCodeCol(),
	})
	if err != nil {
		return parsed{}, err
	}
	t.each(fCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleItemFrequency, t.code(i, fCode, isItemCode, itemCodeKind), t.text(i, fName))
		r.Unit = t.text(i, fUnit)
		raw := t.text(i, fLimit)
		limit, ok := parseQuantity(raw)
		switch unit := stripSpace(r.Unit); {
		case !ok:
			r.Text = raw
			t.warn(i, wBadNumber, "%s: %s %q is not a positive number; kept as text", r.Name, cols(t, fLimit), raw)
		case unit == "日" || unit == "天" || unit == "小时":
			r.DailyLimit = limit
		default:
			// The limit is per day only in these units; in another one
			// (次, 项) it could mean per encounter, so it is shown, not checked.
			r.Text = raw + r.Unit
			t.warn(i, wUnknownUnit, "%s: %s %q is not 日, 天 or 小时; limit %s kept as text", r.Name, cols(t, fUnit), r.Unit, raw)
		}
		t.addOrWarn(i, r)
	})
	return t.result(), nil
}

const (
	aSeq = iota
	aName
	aNote
	aCode
)

// parseWorkingAgeItems reads batch 8-2 限年龄: the 备注 names the band in
// words ("参保人年龄超出法定就业年龄限制").
func parseWorkingAgeItems(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第八批-2", File: file, Sheet: s.name}, s.rows, []column{
		{name: "序号", optional: true},
		{name: "项目名称"},
		{name: "备注", aliases: []string{"说明", "限定对象"}},
		itemCodeCol(),
	})
	if err != nil {
		return parsed{}, err
	}
	t.each(aCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleItemAge, t.code(i, aCode, isItemCode, itemCodeKind), t.text(i, aName))
		r.Description = t.text(i, aNote)
		if strings.Contains(stripSpace(r.Description), string(knowledge.AgeWorkingAge)) {
			r.AgeBand = knowledge.AgeWorkingAge
		} else {
			r.Text = r.Description
			t.warn(i, wUnstructured, "%s: %s %q names no age band; kept as text", r.Name, cols(t, aNote), r.Description)
		}
		t.addOrWarn(i, r)
	})
	return t.result(), nil
}

const (
	pSeq = iota
	pName
	pCount
	pDays
	pNote
	pCode
)

// parseItemPeriodFrequency reads batch 8-4 周期超频次: at most 频次上限 times
// within 疗程周期 days.
func parseItemPeriodFrequency(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第八批-4", File: file, Sheet: s.name}, s.rows, []column{
		{name: "序号", optional: true},
		{name: "项目名称"},
		{name: "频次上限", aliases: []string{"频次"}},
		{name: "疗程周期", aliases: []string{"周期", "周期天数"}},
		{name: "备注", aliases: []string{"说明"}, optional: true},
		itemCodeCol(),
	})
	if err != nil {
		return parsed{}, err
	}
	t.each(pCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleItemPeriodFrequency, t.code(i, pCode, isItemCode, itemCodeKind), t.text(i, pName))
		r.Description = t.text(i, pNote)
		rawCount, rawDays := t.text(i, pCount), t.text(i, pDays)
		count, okCount := parseCountWithUnit(rawCount, "次")
		if !okCount {
			t.warn(i, wBadNumber, "%s: %s %q is not a positive whole number; kept as text", r.Name, cols(t, pCount), rawCount)
		}
		days, okDays := parseDays(rawDays)
		if !okDays {
			t.warn(i, wBadNumber, "%s: %s %q is not a number of days; kept as text", r.Name, cols(t, pDays), rawDays)
		}
		if okCount && okDays {
			r.PeriodCount, r.PeriodDays = count, days
		} else {
			// Half a limit is no limit: a count without its period (or the
			// reverse) must not be checked as if it were complete, so both
			// are shown as published instead.
			r.Text = cols(t, pCount) + ": " + rawCount + "；" + cols(t, pDays) + ": " + rawDays
		}
		t.addOrWarn(i, r)
	})
	return t.result(), nil
}

// parseCountWithUnit parses "1" or "1次" (the unit is optional).
func parseCountWithUnit(s, unit string) (int, bool) {
	return parseCount(strings.TrimSuffix(toHalfWidth(stripSpace(s)), unit))
}

// parseDays parses a number of days, written bare ("14") or with a unit
// ("14天", "2周", "一个月").
func parseDays(s string) (int, bool) {
	s = toHalfWidth(stripSpace(s))
	if n, ok := parseCount(s); ok {
		return n, true
	}
	for _, unit := range []string{"个月", "星期", "天", "日", "周", "月", "年"} {
		if num, ok := strings.CutSuffix(s, unit); ok {
			n, ok := parseCount(num)
			d, _ := unitDays(unit)
			if !ok || n > maxCount/d {
				return 0, false
			}
			return n * d, true
		}
	}
	return 0, false
}

package importer

import (
	"regexp"
	"strings"

	"github.com/rxguard/rxguard/knowledge"
)

// Batch 8-3 states its limits only in words: "总时间不超过90天，评定间隔时间
// 不短于14天。", "一个疾病过程支付不超过90天。", "支付不超过一年，每周最多支付
// 一次。". Each clause is structured only when the whole clause is one of the
// known forms; anything else stays text for the physician to read, because
// a half-understood clause ("首次治疗后间隔不超过3天") is worse than none.

const cnNum = `[0-9]+|[零〇一二两三四五六七八九十百千]+`

var (
	// A payable span: optional context, an upper bound, a duration.
	courseClause = regexp.MustCompile(`^(?:(?:一个|每个|同一)?疾病过程)?(?:累计)?(?:总时间|总时长|支付|治疗|疗程|支付疗程|治疗时间|总疗程)?(?:应|须|需)?(?:不超过|不得超过|不多于|不大于|不超|最长|最多|≤|<=)(` + cnNum + `)(天|日|周|星期|个月|月|年)(?:以内|内)?$`)
	// A minimum gap between two: "间隔" context, a lower bound, a duration.
	intervalClause = regexp.MustCompile(`^\p{Han}{0,10}?间隔(?:时间)?(?:应|须|需)?(?:不短于|不少于|不低于|不小于|至少|大于等于|≥|>=)(` + cnNum + `)(天|日|周|星期|个月|月|年)$`)
	clauseSep      = regexp.MustCompile(`[，,。；;！!？?\n]+`)
)

// parseCourseText structures a batch 8-3 备注. It returns the payable days
// (0: none stated), the minimum interval days (0: none) and the clauses it
// did not structure, as published.
func parseCourseText(text string) (courseDays, intervalDays int, rest []string) {
	// Clean the whole cell first, as the row parser does: a line break in a
	// cell is an artefact (it becomes a space), not a clause boundary, so
	// the same 备注 structures alike however it reaches here.
	text = cleanText(text)
	for _, clause := range clauseSep.Split(text, -1) {
		c := strings.TrimSpace(cleanText(clause))
		if c == "" {
			continue
		}
		norm := toHalfWidth(stripSpace(c))
		if m := courseClause.FindStringSubmatch(norm); m != nil && courseDays == 0 {
			if d, ok := clauseDays(m[1], m[2]); ok {
				courseDays = d
				continue
			}
		}
		if m := intervalClause.FindStringSubmatch(norm); m != nil && intervalDays == 0 {
			if d, ok := clauseDays(m[1], m[2]); ok {
				intervalDays = d
				continue
			}
		}
		rest = append(rest, c) // unknown wording, a bad number, or a second limit of the same kind
	}
	return courseDays, intervalDays, rest
}

func clauseDays(num, unit string) (int, bool) {
	n, ok := parseCount(num)
	d, okUnit := unitDays(unit)
	if !ok || !okUnit || n > maxCount/d {
		return 0, false
	}
	return n * d, true
}

const (
	cSeq = iota
	cName
	cNote
	cCode
)

// parseItemCourse reads batch 8-3 限支付疗程.
func parseItemCourse(file string, s sheet) (parsed, error) {
	t, err := newTable(knowledge.Source{Batch: "第八批-3", File: file, Sheet: s.name}, s.rows, []column{
		{name: "序号", optional: true},
		{name: "项目名称"},
		{name: "备注", aliases: []string{"说明", "限定支付疗程"}},
		itemCodeCol(),
	})
	if err != nil {
		return parsed{}, err
	}
	t.each(cCode, func(i int) {
		r := t.newRestriction(i, knowledge.RuleItemCourse, t.code(i, cCode, isItemCode, itemCodeKind), t.text(i, cName))
		r.Description = t.text(i, cNote)
		var rest []string
		r.CourseDays, r.IntervalDays, rest = parseCourseText(r.Description)
		switch {
		case r.CourseDays == 0 && r.IntervalDays == 0:
			r.Text = r.Description
			t.warn(i, wUnstructured, "%s: %s %q states no course or interval limit rxguard can read; kept as text",
				r.Name, cols(t, cNote), r.Description)
		case len(rest) > 0:
			r.Text = strings.Join(rest, "，")
			t.warn(i, wUnstructured, "%s: %q is not a course or interval limit and is kept as text (a per-week or per-period count belongs to batch 8-4 周期超频次)",
				r.Name, r.Text)
		}
		t.addOrWarn(i, r)
	})
	return t.result(), nil
}

package importer

import (
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/data"
)

// Fuzz inputs are sheets encoded as one string: rows separated by U+001E
// (record separator), cells by U+001F (unit separator), so that cells can
// still hold line breaks and tabs.
const (
	rowSep  = "\x1e"
	cellSep = "\x1f"
)

func decodeRows(s string) [][]string {
	if s == "" {
		return nil
	}
	var rows [][]string
	for _, r := range strings.Split(s, rowSep) {
		if r == "" {
			rows = append(rows, nil)
			continue
		}
		rows = append(rows, strings.Split(r, cellSep))
	}
	return rows
}

func encodeRows(rows [][]string) string {
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = strings.Join(r, cellSep)
	}
	return strings.Join(lines, rowSep)
}

// realRows returns the header and the first data rows of a real sheet, and
// the last rows (where the footers are) when tail is set, as fuzz seeds.
// Seeds are kept short: the fuzzer minimises every new interesting input,
// and minimising takes time quadratic in its length, during which nothing
// else is explored.
func realRows(f *testing.F, file string, sheetIndex int, tail bool) [][]string {
	f.Helper()
	want := []string{""}
	if sheetIndex == 1 {
		want = []string{"Sheet1", "Sheet2"}
	}
	sheets, err := readXLSX(data.FS, "nhsa/"+file, want)
	if err != nil {
		f.Fatal(err)
	}
	rows := sheets[sheetIndex].rows
	out := append([][]string{}, rows[:min(3, len(rows))]...)
	if tail && len(rows) > 5 {
		out = append(out, rows[len(rows)-2:]...)
	}
	return out
}

var knownCategories = map[string]bool{
	wEmptyRow: true, wFooterRow: true, wNoCode: true, wBadCode: true, wCodeNormalised: true,
	wBadNumber: true, wUnknownValue: true, wTypeMismatch: true, wNoSheet1Row: true, wUnusedSheet1: true,
	wDupSheet1: true, wDuplicateCode: true, wMultiGroup: true, wDuplicateKey: true, wUnknownWindow: true,
	wUnstructured: true, wUnknownUnit: true, wBadDate: true,
}

// checkAccounted asserts the importer's promise on one parsed sheet:
// every non-empty data row is a record or is warned about, the counts add
// up, keys are unique and warnings are categorised.
func checkAccounted(t *testing.T, rows [][]string, sheetName string, res parsed) {
	t.Helper()
	header := len(rows) - res.sourceRows - 1
	if header < 0 || header >= headerScan {
		t.Fatalf("header at index %d of %d rows", header, len(rows))
	}
	if res.sourceRows != len(res.restrictions)+res.skipped {
		t.Fatalf("rows %d != records %d + skipped %d", res.sourceRows, len(res.restrictions), res.skipped)
	}
	recordRows, warnRows := map[int]bool{}, map[int]bool{}
	keys := map[string]bool{}
	for _, r := range res.restrictions {
		if r.Source.Sheet == sheetName {
			recordRows[r.Source.Row] = true
		}
		if keys[r.Key()] {
			t.Fatalf("duplicate key %q", r.Key())
		}
		keys[r.Key()] = true
		if r.Source.File != "f.xlsx" || r.Source.Batch == "" || r.Source.Row < header+2 || r.Source.Row > len(rows) {
			t.Fatalf("record %+v", r)
		}
	}
	firstEmptyWarning := -1
	for _, w := range res.warnings {
		if !knownCategories[warningCategory(w.Message)] {
			t.Fatalf("uncategorised warning %q", w.Message)
		}
		if w.Source.Sheet == sheetName {
			warnRows[w.Source.Row] = true
			if warningCategory(w.Message) == wEmptyRow && firstEmptyWarning < 0 {
				firstEmptyWarning = w.Source.Row
			}
		}
	}
	for i := header + 1; i < len(rows); i++ {
		if rowEmpty(rows[i]) {
			if firstEmptyWarning < 0 || firstEmptyWarning > i+1 {
				t.Fatalf("empty row %d not warned about", i+1)
			}
			continue
		}
		if !recordRows[i+1] && !warnRows[i+1] {
			t.Fatalf("row %d %q produced neither a record nor a warning", i+1, rows[i])
		}
	}
}

func checkError(t *testing.T, err error) {
	t.Helper()
	if !strings.Contains(err.Error(), "f.xlsx") || !strings.Contains(err.Error(), "row ") {
		t.Fatalf("error does not name file and row: %v", err)
	}
}

var fuzzDrugSpecs = []drugSpec{specDrugGender, specDrugAge, specInsuranceType, specEncounterType, specHospitalLevel, specPaymentCourse}

func FuzzDrugSheets(f *testing.F) {
	for i, file := range []string{"batch1-drug-gender.xlsx", "batch1-drug-age.xlsx", "batch3-drug-insurance-type.xlsx",
		"batch4-drug-inpatient-only.xlsx", "batch5-drug-hospital-level.xlsx", "batch6-drug-payment-course.xlsx"} {
		f.Add(uint8(i), encodeRows(realRows(f, file, 0, false)), encodeRows(realRows(f, file, 1, false)))
	}
	f.Fuzz(func(t *testing.T, kind uint8, s1, s2 string) {
		spec := fuzzDrugSpecs[int(kind)%len(fuzzDrugSpecs)]
		rows1, rows2 := decodeRows(s1), decodeRows(s2)
		res, err := parseDrugSheets(spec, "f.xlsx", sheet{name: "Sheet1", rows: rows1}, sheet{name: "Sheet2", rows: rows2})
		if err != nil {
			checkError(t, err)
			return
		}
		checkAccounted(t, rows2, "Sheet2", res)
		for _, r := range res.restrictions {
			if r.Type != spec.rule {
				t.Fatalf("type %s, want %s", r.Type, spec.rule)
			}
		}

		// Sheet1 rows yield no records of their own: each is joined onto a
		// code or warned about.
		t1, err := newTable(knowledge.Source{}, rows1, drugSheet1Cols)
		if err != nil {
			t.Fatalf("Sheet1 accepted by the parser, not by newTable: %v", err)
		}
		names := map[string]bool{}
		for _, r := range res.restrictions {
			names[nameKey(r.Name)] = true
		}
		warned := map[int]bool{}
		joined := 0
		for _, w := range res.warnings {
			if w.Source.Sheet == "Sheet1" {
				warned[w.Source.Row] = true
			}
		}
		for i := t1.header + 1; i < len(rows1); i++ {
			if rowEmpty(rows1[i]) {
				continue
			}
			used := names[nameKey(t1.text(i, d1Name))] && t1.text(i, d1Name) != ""
			if used {
				joined++
			}
			if !used && !warned[i+1] {
				t.Fatalf("Sheet1 row %d %q neither joined nor warned about", i+1, rows1[i])
			}
		}
		if res.joined > joined {
			t.Fatalf("joined %d, but only %d Sheet1 rows match a record", res.joined, joined)
		}
	})
}

func FuzzDuplicateCharge(f *testing.F) {
	f.Add(encodeRows(realRows(f, "batch7-item-duplicate-charge.xlsx", 0, false)))
	f.Add(encodeRows([][]string{
		{"从项编码", "从项名称", "主项编码", "主项名称", "频度"},
		{"001102000030000", "急诊诊查费", "001103000010000", "急诊监护费", "６ 小时"},
		{"001102000030000", "急诊诊查费", "001103000010000", "急诊监护费", "同一周"},
		{},
		{"合计"},
	}))
	f.Fuzz(func(t *testing.T, s string) {
		rows := decodeRows(s)
		res, err := parseDuplicateCharge("f.xlsx", sheet{name: "S", rows: rows})
		if err != nil {
			checkError(t, err)
			return
		}
		checkAccounted(t, rows, "S", res)
		for _, r := range res.restrictions {
			if r.Window != "" && r.Text != "" {
				t.Fatalf("window %q text %q", r.Window, r.Text)
			}
		}
	})
}

func FuzzPeriodFrequency(f *testing.F) {
	f.Add(encodeRows(realRows(f, "batch8-4-item-period-frequency.xlsx", 0, false)))
	f.Add(encodeRows([][]string{
		{"序号", "项目名称", "频次上限", "疗程周期", "备注", "项目代码"},
		{"1", "平衡试验", "1次", "两周", "", "003104010220000"},
		{"2", "平衡试验", "x", "14", "", "00310401022000"},
	}))
	f.Fuzz(func(t *testing.T, s string) {
		rows := decodeRows(s)
		res, err := parseItemPeriodFrequency("f.xlsx", sheet{name: "S", rows: rows})
		if err != nil {
			checkError(t, err)
			return
		}
		checkAccounted(t, rows, "S", res)
		for _, r := range res.restrictions {
			if (r.PeriodCount > 0) != (r.PeriodDays > 0) || (r.PeriodCount == 0) != (r.Text != "") {
				t.Fatalf("half a limit: %+v", r)
			}
		}
	})
}

func FuzzItemFrequency(f *testing.F) {
	f.Add(encodeRows(realRows(f, "batch8-1-item-frequency.xlsx", 0, true)))
	f.Fuzz(func(t *testing.T, s string) {
		rows := decodeRows(s)
		res, err := parseItemFrequency("f.xlsx", sheet{name: "S", rows: rows})
		if err != nil {
			checkError(t, err)
			return
		}
		checkAccounted(t, rows, "S", res)
		for _, r := range res.restrictions {
			if r.DailyLimit > 0 && r.Text != "" {
				t.Fatalf("limit %v text %q", r.DailyLimit, r.Text)
			}
		}
	})
}

func FuzzCourseText(f *testing.F) {
	for _, s := range []string{
		"总时间不超过90天，评定间隔时间不短于14天。",
		"支付不超过30天。",
		"一个疾病过程支付不超过90天。",
		"支付不超过一年，每周最多支付一次。",
		"支付不超过三个月；两次评定间隔时间不少于2周",
		"间隔不短于十天",
		"支付不超过99999999年",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		course, interval, rest := parseCourseText(text)
		if course < 0 || course > maxCount || interval < 0 || interval > maxCount {
			t.Fatalf("course %d interval %d", course, interval)
		}
		// Every clause is either structured or kept.
		clauses := 0
		for _, c := range clauseSep.Split(cleanText(text), -1) {
			if strings.TrimSpace(cleanText(c)) != "" {
				clauses++
			}
		}
		structured := 0
		if course > 0 {
			structured++
		}
		if interval > 0 {
			structured++
		}
		if clauses != structured+len(rest) {
			t.Fatalf("%d clauses, %d structured, rest %q", clauses, structured, rest)
		}

		// And as a row of batch 8-3.
		rows := [][]string{{"序号", "项目名称", "备注", "项目代码"}, {"1", "手功能评定", text, "003402000050000"}}
		res, err := parseItemCourse("f.xlsx", sheet{name: "S", rows: rows})
		if err != nil {
			t.Fatal(err)
		}
		checkAccounted(t, rows, "S", res)
		r := res.restrictions[0]
		if r.Description != cleanText(text) || r.CourseDays != course || r.IntervalDays != interval {
			t.Fatalf("%+v", r)
		}
		if len(rest) > 0 && r.Text == "" {
			t.Fatalf("unstructured %q lost", rest)
		}
	})
}

func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"阿帕他\n胺片", " a \u3000b ", "丘疹性荨麻疹 。", "\xff\n\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := cleanText(s)
		if cleanText(c) != c {
			t.Fatalf("cleanText not idempotent: %q → %q → %q", s, c, cleanText(c))
		}
		if strings.TrimFunc(c, isSpace) != c || strings.ContainsAny(c, "\n\r\u3000\u00a0") || strings.Contains(c, "  ") {
			t.Fatalf("cleanText(%q) = %q", s, c)
		}
	})
}

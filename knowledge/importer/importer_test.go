package importer

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/data"
)

// importOnce runs Import over the embedded data once for all tests that only
// read the result.
var importOnce = sync.OnceValues(func() (struct {
	content *knowledge.Content
	report  Report
}, error) {
	c, r, err := Import(context.Background(), data.FS)
	return struct {
		content *knowledge.Content
		report  Report
	}{c, r}, err
})

func realImport(t testing.TB) (*knowledge.Content, Report) {
	t.Helper()
	res, err := importOnce()
	if err != nil {
		t.Fatalf("Import(data.FS): %v", err)
	}
	return res.content, res.report
}

// warningsByCategory counts warnings per file and category.
func warningsByCategory(c *knowledge.Content, file string) map[string]int {
	m := map[string]int{}
	for _, w := range c.Warnings {
		if w.Source.File == file {
			m[warningCategory(w.Message)]++
		}
	}
	return m
}

func TestImportRealFiles(t *testing.T) {
	c, report := realImport(t)
	tests := []struct {
		file       string
		batch      string
		sheet      string
		sourceRows int
		records    int
		joined     int
		warnings   map[string]int
	}{
		{file: "batch1-drug-gender.xlsx", batch: "第一批", sheet: "Sheet2", sourceRows: 6472, records: 6472, joined: 481},
		{file: "batch1-drug-age.xlsx", batch: "第一批", sheet: "Sheet2", sourceRows: 4398, records: 4398, joined: 282},
		{file: "batch1-item-gender.xlsx", batch: "第一批", sheet: "Sheet1", sourceRows: 390, records: 390},
		{file: "batch1-item-age.xlsx", batch: "第一批", sheet: "Sheet1", sourceRows: 30, records: 30},
		// 378 rows, 368 distinct codes: 7 codes listed in two groups and
		// 肠粘连松解术 in four, each further listing one warning.
		{file: "batch2-item-primary-secondary-surgery.xlsx", batch: "第二批", sheet: "Sheet1", sourceRows: 378, records: 368,
			warnings: map[string]int{wMultiGroup: 10}},
		{file: "batch3-drug-insurance-type.xlsx", batch: "第三批", sheet: "Sheet2", sourceRows: 112, records: 112, joined: 12},
		{file: "batch4-drug-inpatient-only.xlsx", batch: "第四批", sheet: "Sheet2", sourceRows: 736, records: 736, joined: 35},
		{file: "batch5-drug-hospital-level.xlsx", batch: "第五批", sheet: "Sheet2", sourceRows: 962, records: 962, joined: 61},
		{file: "batch6-drug-payment-course.xlsx", batch: "第六批", sheet: "Sheet2", sourceRows: 1147, records: 1147, joined: 30},
		{file: "batch7-item-duplicate-charge.xlsx", batch: "第七批", sheet: "“医疗服务项目重复收费”规则对应知识点明细", sourceRows: 900, records: 900},
		// 67 items, then the footer rows "合计" and "备注：…".
		{file: "batch8-1-item-frequency.xlsx", batch: "第八批-1", sheet: "“医疗服务项目限定频次”规则对应知识点明细", sourceRows: 69, records: 67,
			warnings: map[string]int{wFooterRow: 2}},
		{file: "batch8-2-item-age.xlsx", batch: "第八批-2", sheet: "“医疗服务项目限年龄”规则对应知识点明细", sourceRows: 1, records: 1},
		// 儿童听力障碍语言训练: "每周最多支付一次" stays text.
		{file: "batch8-3-item-course.xlsx", batch: "第八批-3", sheet: "“医疗服务项目限支付疗程”规则对应知识点明细", sourceRows: 11, records: 11,
			warnings: map[string]int{wUnstructured: 1}},
		{file: "batch8-4-item-period-frequency.xlsx", batch: "第八批-4", sheet: "“医疗服务项目周期超频次”规则对应知识点明细", sourceRows: 14, records: 14},

		// Demo drug codes are 24 characters (a 5-character D9nnn segment
		// where real codes have 4), one more than the national format.
		{file: "drugs.csv", batch: "演示数据", sourceRows: 30, records: 30, warnings: map[string]int{wBadCode: 30}},
		{file: "interactions.csv", batch: "演示数据", sourceRows: 14, records: 14},
		{file: "chronic-diagnoses.csv", batch: "演示数据", sourceRows: 19, records: 19},
		{file: "physicians.csv", batch: "演示数据", sourceRows: 7, records: 7},
		{file: "physician-events.csv", batch: "演示数据", sourceRows: 12, records: 12},
		{file: "exam-recognition.csv", batch: "演示数据", sourceRows: 6, records: 6},
		{file: "outpatient-manageable.csv", batch: "演示数据", sourceRows: 9, records: 9},
		{file: "icd10-categories.tsv", batch: "ICD-10", sourceRows: 1586, records: 1586},
		{file: "icd10-blocks.tsv", batch: "ICD-10", sourceRows: 238, records: 238},
	}
	// The drug catalogue is reported per sheet (catalogue_test.go).
	if len(report.Files) != len(tests)+len(catalogueSheets) {
		t.Errorf("report has %d files, want %d:\n%s", len(report.Files), len(tests)+len(catalogueSheets), report)
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fr, ok := report.Lookup(tt.file)
			if !ok {
				t.Fatalf("%s not in report:\n%s", tt.file, report)
			}
			if fr.Batch != tt.batch || fr.Sheet != tt.sheet {
				t.Errorf("batch, sheet = %q, %q; want %q, %q", fr.Batch, fr.Sheet, tt.batch, tt.sheet)
			}
			if fr.SourceRows != tt.sourceRows || fr.Records != tt.records || fr.Joined != tt.joined {
				t.Errorf("rows %d, records %d, joined %d; want %d, %d, %d",
					fr.SourceRows, fr.Records, fr.Joined, tt.sourceRows, tt.records, tt.joined)
			}
			// Nothing dropped silently: every source row is a record or a
			// skipped row, and skipped rows are warned about.
			if fr.SourceRows != fr.Records+fr.Skipped {
				t.Errorf("rows %d != records %d + skipped %d", fr.SourceRows, fr.Records, fr.Skipped)
			}
			got := warningsByCategory(c, tt.file)
			// On the real files each skipped row has its own warning, so
			// records + those warnings == rows (batch 2: 368 + 10 == 378;
			// batch 8-1: 67 + 2 footers == 69).
			skipWarnings := got[wEmptyRow] + got[wFooterRow] + got[wNoCode] + got[wDuplicateCode] + got[wMultiGroup] + got[wDuplicateKey]
			if fr.Records+skipWarnings != tt.sourceRows {
				t.Errorf("records %d + skip warnings %d != rows %d", fr.Records, skipWarnings, tt.sourceRows)
			}
			want := tt.warnings
			if want == nil {
				want = map[string]int{}
			}
			if !mapsEqual(got, want) {
				t.Errorf("warnings %v, want %v", got, want)
			}
			total := 0
			for _, n := range got {
				total += n
			}
			if fr.Warnings != total {
				t.Errorf("report counts %d warnings, content has %d", fr.Warnings, total)
			}
		})
	}

	if got, want := len(c.Restrictions), 6472+4398+390+30+368+112+736+962+1147+900+67+1+11+14; got != want {
		t.Errorf("%d restrictions, want %d", got, want)
	}
	if len(c.Drugs) != 30 || len(c.Interactions) != 14 || len(c.ChronicDiagnoses) != 19 || len(c.Physicians) != 7 ||
		len(c.PhysicianEvents) != 12 || len(c.DiagnosisCategories) != 1586 || len(c.DiagnosisBlocks) != 238 ||
		len(c.Recognition) != 6 || len(c.OutpatientConditions) != 9 {
		t.Errorf("demo/ICD counts: drugs %d interactions %d chronic %d physicians %d events %d categories %d blocks %d recognition %d outpatient %d",
			len(c.Drugs), len(c.Interactions), len(c.ChronicDiagnoses), len(c.Physicians), len(c.PhysicianEvents),
			len(c.DiagnosisCategories), len(c.DiagnosisBlocks), len(c.Recognition), len(c.OutpatientConditions))
	}
	// Catalogue: 3 merged-cell rows, 26 phrases left as text.
	if len(c.Warnings) != 10+2+1+30+3+26 {
		t.Errorf("%d warnings, want 72", len(c.Warnings))
	}
	if s := report.String(); !strings.Contains(s, "batch7-item-duplicate-charge.xlsx") || strings.Count(s, "\n") != len(tests)+len(catalogueSheets)+1 {
		t.Errorf("report table:\n%s", s)
	}
	// The content must be storable: one record per key in every class.
	if _, err := c.Records(); err != nil {
		t.Errorf("Records: %v", err)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func restrictionsByCode(c *knowledge.Content, rule knowledge.RuleType) map[string][]knowledge.Restriction {
	m := map[string][]knowledge.Restriction{}
	for _, r := range c.Restrictions {
		if r.Type == rule {
			m[r.Code] = append(m[r.Code], r)
		}
	}
	return m
}

func TestImportRealFilesSpotChecks(t *testing.T) {
	c, _ := realImport(t)

	t.Run("艾附暖宫丸 female", func(t *testing.T) {
		rs := restrictionsByCode(c, knowledge.RuleDrugGender)["ZD03AAA0043010100166"]
		if len(rs) != 1 {
			t.Fatalf("%d records for ZD03AAA0043010100166", len(rs))
		}
		r := rs[0]
		if r.Name != "艾附暖宫丸" || r.Gender != knowledge.GenderFemale || !strings.HasPrefix(r.Description, "理气补血") {
			t.Errorf("got %+v", r)
		}
		want := knowledge.Source{Batch: "第一批", File: "batch1-drug-gender.xlsx", Sheet: "Sheet2", Row: 5}
		if r.Source != want {
			t.Errorf("source %+v, want %+v", r.Source, want)
		}
	})

	t.Run("every drug-gender record has a gender and a description", func(t *testing.T) {
		for _, r := range c.Restrictions {
			if r.Type == knowledge.RuleDrugGender && (r.Gender == "" || r.Description == "") {
				t.Fatalf("incomplete: %+v", r)
			}
		}
	})

	t.Run("安宫牛黄丸 emergency", func(t *testing.T) {
		n := 0
		for _, r := range c.Restrictions {
			if r.Type != knowledge.RuleEncounterType {
				continue
			}
			if r.Name == "安宫牛黄丸" {
				n++
				if !r.AllowEmergency {
					t.Errorf("%s: AllowEmergency false", r.Code)
				}
			} else if r.AllowEmergency {
				t.Errorf("%s %s: AllowEmergency true, its description %q names no 急诊", r.Code, r.Name, r.Description)
			}
		}
		if n == 0 {
			t.Error("no 安宫牛黄丸 codes")
		}
	})

	t.Run("batch 5 and 6 parameters", func(t *testing.T) {
		levels, days := map[int]int{}, map[int]int{}
		for _, r := range c.Restrictions {
			switch r.Type {
			case knowledge.RuleHospitalLevel:
				levels[r.MinLevel]++
			case knowledge.RulePaymentCourse:
				days[r.CourseDays]++
			}
		}
		if levels[0] != 0 || levels[2]+levels[3] != 962 || levels[3] == 0 {
			t.Errorf("levels %v", levels)
		}
		for d := range days {
			switch d {
			case 3, 10, 14, 15, 20, 21, 365:
			default:
				t.Errorf("course days %d (%v)", d, days)
			}
		}
	})

	t.Run("batch 8-3 手功能评定", func(t *testing.T) {
		r := restrictionsByCode(c, knowledge.RuleItemCourse)["003402000050000"]
		if len(r) != 1 || r[0].CourseDays != 90 || r[0].IntervalDays != 14 || r[0].Text != "" ||
			r[0].Description != "总时间不超过90天，评定间隔时间不短于14天。" {
			t.Errorf("got %+v", r)
		}
	})

	t.Run("batch 8-3 儿童听力障碍语言训练", func(t *testing.T) {
		r := restrictionsByCode(c, knowledge.RuleItemCourse)["003402000350000"]
		if len(r) != 1 || r[0].CourseDays != 365 || r[0].IntervalDays != 0 || r[0].Text != "每周最多支付一次" {
			t.Fatalf("got %+v", r)
		}
		found := false
		for _, w := range c.Warnings {
			if w.Source == r[0].Source && strings.Contains(w.Message, "每周") && warningCategory(w.Message) == wUnstructured {
				found = true
			}
		}
		if !found {
			t.Error("no warning mentioning 每周 on its row")
		}
	})

	t.Run("batch 8-3 all structured", func(t *testing.T) {
		want := map[string][2]int{ // code → course, interval
			"003402000210000": {30, 0}, "003402000240000": {90, 0}, "003402000320000": {90, 0},
		}
		got := restrictionsByCode(c, knowledge.RuleItemCourse)
		for code, w := range want {
			if r := got[code]; len(r) != 1 || r[0].CourseDays != w[0] || r[0].IntervalDays != w[1] {
				t.Errorf("%s: %+v, want course %d interval %d", code, r, w[0], w[1])
			}
		}
	})

	t.Run("batch 8-1 footers", func(t *testing.T) {
		var rows []int
		for _, w := range c.Warnings {
			if w.Source.File == "batch8-1-item-frequency.xlsx" && warningCategory(w.Message) == wFooterRow {
				rows = append(rows, w.Source.Row)
			}
		}
		if len(rows) != 2 || rows[0] != 69 || rows[1] != 70 {
			t.Errorf("footer warnings on rows %v, want [69 70]", rows)
		}
		units := map[string]int{}
		for _, r := range c.Restrictions {
			if r.Type == knowledge.RuleItemFrequency {
				units[r.Unit+"/"+formatLimit(r.DailyLimit)]++
			}
		}
		if units["日/1"] != 32 || units["天/1"] != 2 || units["小时/24"] != 33 || len(units) != 3 {
			t.Errorf("units %v", units)
		}
	})

	t.Run("batch 8-2 working age", func(t *testing.T) {
		r := restrictionsByCode(c, knowledge.RuleItemAge)["003402000320000"]
		if len(r) != 1 || r[0].AgeBand != knowledge.AgeWorkingAge || r[0].Source.Batch != "第八批-2" {
			t.Errorf("got %+v", r)
		}
	})

	t.Run("batch 8-4", func(t *testing.T) {
		r := restrictionsByCode(c, knowledge.RuleItemPeriodFrequency)["003402000350000"]
		if len(r) != 1 || r[0].PeriodCount != 1 || r[0].PeriodDays != 7 || !strings.HasPrefix(r[0].Description, "每周最多支付一次") {
			t.Errorf("got %+v", r)
		}
	})

	t.Run("batch 7 windows", func(t *testing.T) {
		windows := map[knowledge.Window]int{}
		for _, r := range c.Restrictions {
			if r.Type == knowledge.RuleDuplicateCharge {
				windows[r.Window]++
				if r.PrimaryCode == "" || r.Code == "" || r.Text != "" {
					t.Errorf("incomplete: %+v", r)
				}
			}
		}
		want := map[knowledge.Window]int{
			knowledge.WindowSameDay: 446, knowledge.WindowSameEncounter: 429,
			knowledge.WindowSixHours: 18, knowledge.WindowSameHour: 7,
		}
		if len(windows) != len(want) {
			t.Errorf("windows %v", windows)
		}
		for w, n := range want {
			if windows[w] != n {
				t.Errorf("window %s: %d, want %d", w, windows[w], n)
			}
		}
	})

	t.Run("batch 2 item in four groups keeps all four", func(t *testing.T) {
		r := restrictionsByCode(c, knowledge.RuleSurgeryGroup)["003310030080000"]
		if len(r) != 1 || len(r[0].Groups) != 4 || r[0].Groups[0] != "胃肠手术组" || r[0].Source.Row != 58 ||
			!slices.Contains(r[0].Groups, "女性生殖系统手术组") {
			t.Errorf("got %+v", r)
		}
		n := 0
		for _, w := range c.Warnings {
			if strings.Contains(w.Message, "003310030080000") {
				n++
				if !strings.Contains(w.Message, "胃肠手术组") {
					t.Errorf("warning does not name the kept group: %s", w.Message)
				}
			}
		}
		if n != 3 {
			t.Errorf("%d warnings for 肠粘连松解术, want 3", n)
		}
	})

	t.Run("demo and ICD", func(t *testing.T) {
		var 艾普拉唑 *knowledge.Drug
		for i := range c.Drugs {
			if c.Drugs[i].GenericName == "艾普拉唑" {
				艾普拉唑 = &c.Drugs[i]
			}
		}
		if 艾普拉唑 == nil || !艾普拉唑.SecondLine || strings.Join(艾普拉唑.IndicationICD, ";") != "K26;K21" ||
			艾普拉唑.Source.Batch != "演示数据" || 艾普拉唑.Source.Row != 26 {
			t.Errorf("艾普拉唑: %+v", 艾普拉唑)
		}
		for _, cat := range c.DiagnosisCategories {
			if len(cat.Code) != 3 {
				t.Errorf("category %+v", cat)
			}
		}
		levels := map[int]int{}
		for _, b := range c.DiagnosisBlocks {
			levels[b.Level]++
		}
		if levels[1] != 19 || levels[2] != 219 {
			t.Errorf("block levels %v", levels)
		}
		last := c.PhysicianEvents[len(c.PhysicianEvents)-1]
		if last.Seq != 12 || last.Type != "POINTS_REDUCED" || last.Points != 3 || last.Date != "2026-07-01" {
			t.Errorf("last event %+v", last)
		}
	})

	t.Run("sources", func(t *testing.T) {
		for _, r := range c.Restrictions {
			if r.Source.Batch == "" || r.Source.File == "" || r.Source.Sheet == "" || r.Source.Row < 2 {
				t.Fatalf("source of %s: %+v", r.Key(), r.Source)
			}
		}
	})
}

func formatLimit(f float64) string {
	switch f {
	case 1:
		return "1"
	case 24:
		return "24"
	}
	return "other"
}

// flatFS copies the embedded files into a flat directory, as an operator
// would download them.
func flatFS(t testing.TB) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(data.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(data.FS, p)
		if err != nil {
			return err
		}
		m[d.Name()] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImportFlatDirectory(t *testing.T) {
	want, wantReport := realImport(t)
	m := flatFS(t)
	m["README.md"] = &fstest.MapFile{Data: []byte("not a data file")}
	m["other.xlsx"] = &fstest.MapFile{Data: []byte("not a workbook, and not a known name")}
	got, report, err := Import(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Restrictions) != len(want.Restrictions) || len(got.Warnings) != len(want.Warnings) ||
		len(got.DiagnosisCategories) != len(want.DiagnosisCategories) || len(report.Files) != len(wantReport.Files) {
		t.Errorf("flat import differs: %d restrictions, %d warnings; want %d, %d",
			len(got.Restrictions), len(got.Warnings), len(want.Restrictions), len(want.Warnings))
	}
	if report.Files[0].Path != "batch1-drug-gender.xlsx" {
		t.Errorf("path %q", report.Files[0].Path)
	}
}

func TestImportErrors(t *testing.T) {
	m := flatFS(t)
	gender := m["batch1-drug-gender.xlsx"]
	frequency := m["batch8-1-item-frequency.xlsx"]

	tests := []struct {
		name string
		fsys fs.FS
		want []string // substrings of the error
	}{
		{"empty", fstest.MapFS{}, []string{"no known file"}},
		{"only unknown files", fstest.MapFS{"a.xlsx": {Data: []byte("x")}}, []string{"no known file"}},
		{"corrupt workbook", fstest.MapFS{"batch7-item-duplicate-charge.xlsx": {Data: []byte("PK not really")}},
			[]string{"batch7-item-duplicate-charge.xlsx"}},
		{"found twice", fstest.MapFS{"batch1-drug-gender.xlsx": gender, "nhsa/batch1-drug-gender.xlsx": gender},
			[]string{"found twice", "batch1-drug-gender.xlsx"}},
		// A workbook of the wrong kind under a known name: the header
		// check names the file, sheet, row and the missing column.
		{"wrong columns", fstest.MapFS{"batch7-item-duplicate-charge.xlsx": frequency},
			[]string{"batch7-item-duplicate-charge.xlsx", "[“医疗服务项目限定频次”规则对应知识点明细]", "row 1", "missing column", "频度"}},
		{"missing Sheet2", fstest.MapFS{"batch3-drug-insurance-type.xlsx": frequency},
			[]string{"batch3-drug-insurance-type.xlsx", "Sheet2"}},
		{"bad csv", fstest.MapFS{"demo/drugs.csv": {Data: []byte("code,generic_name\n\"unterminated\n")}},
			[]string{"demo/drugs.csv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Import(context.Background(), tt.fsys)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := Import(ctx, data.FS)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func TestImportCrossFileDuplicate(t *testing.T) {
	// batch 1 and batch 8-2 are both ITEM_AGE; a code in both keeps the
	// batch 1 record and warns on the other.
	age := sheetFile(t, "Sheet1", [][]string{
		{"项目名称", "国标代码", "限定类型", "限定对象"},
		{"职业功能训练", "003402000320000", "限定年龄对象", "儿童"},
	})
	working := sheetFile(t, "Sheet1", [][]string{
		{"序号", "项目名称", "备注", "项目代码"},
		{"1", "职业功能训练", "参保人年龄超出法定就业年龄限制", "003402000320000"},
	})
	c, report, err := Import(context.Background(), fstest.MapFS{
		"batch1-item-age.xlsx": {Data: age}, "batch8-2-item-age.xlsx": {Data: working},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Restrictions) != 1 || c.Restrictions[0].AgeBand != knowledge.AgeChild {
		t.Errorf("restrictions %+v", c.Restrictions)
	}
	if len(c.Warnings) != 1 || warningCategory(c.Warnings[0].Message) != wDuplicateKey || c.Warnings[0].Source.Batch != "第八批-2" {
		t.Errorf("warnings %+v", c.Warnings)
	}
	fr, _ := report.Lookup("batch8-2-item-age.xlsx")
	if fr.Records != 0 || fr.Skipped != 1 || fr.Warnings != 1 {
		t.Errorf("report %+v", fr)
	}
	if _, err := c.Records(); err != nil {
		t.Error(err)
	}
}

func BenchmarkImport(b *testing.B) {
	for b.Loop() {
		if _, _, err := Import(context.Background(), data.FS); err != nil {
			b.Fatal(err)
		}
	}
}

package importer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/data"
	"github.com/xuri/excelize/v2"
)

// catalogueCount counts a catalogue sheet the simplest way, independently
// of the importer: with excelize's GetRows (no merged cells filled in), a
// category row has a value in column A, a drug row has column A empty, a
// cell 甲 or 乙 and a value right of it beside the 编号; a ★ row has a cell
// starting with ★.
type catalogueCount struct{ drugs, categories, stars, remarks int }

func countCatalogueSheets(t *testing.T) map[string]catalogueCount {
	t.Helper()
	r, err := data.FS.Open("catalogue/" + catalogueFile)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := excelize.OpenReader(r)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]catalogueCount{}
	for _, name := range f.GetSheetList() {
		rows, err := f.GetRows(name)
		if err != nil {
			t.Fatal(err)
		}
		remarkCol := -1
		for j, h := range rows[1] {
			if strings.TrimSpace(h) == "备注" {
				remarkCol = j
			}
		}
		var c catalogueCount
		for _, row := range rows[2:] {
			if len(row) == 0 {
				continue
			}
			if strings.TrimSpace(row[0]) != "" {
				c.categories++
				continue
			}
			class := -1
			for j, v := range row {
				if v == "甲" || v == "乙" {
					class = j
					break
				}
			}
			named := false
			for j := class + 2; class >= 0 && j < len(row); j++ {
				named = named || strings.TrimSpace(row[j]) != ""
			}
			if class < 0 || !named {
				continue
			}
			c.drugs++
			for _, v := range row {
				if strings.HasPrefix(v, "★") {
					c.stars++
				}
			}
			if remarkCol >= 0 && remarkCol < len(row) && strings.TrimSpace(row[remarkCol]) != "" {
				c.remarks++
			}
		}
		out[name] = c
	}
	return out
}

func TestImportCatalogue(t *testing.T) {
	c, report := realImport(t)
	independent := countCatalogueSheets(t)

	tests := []struct {
		sheet                              string
		rows, records, skipped, categories int
		stars, remarks                     int
	}{
		{sheet: "西药部分", rows: 2386, records: 1957, categories: 429, stars: 559, remarks: 252},
		{sheet: "中成药部分", rows: 1593, records: 1444, categories: 149, stars: 108, remarks: 84},
		// Three rows hold only a remark and a period merged down from the
		// row above (依洛尤单抗, 替雷利珠单抗, 特瑞普利单抗): warned, skipped.
		{sheet: "协议西药", rows: 569, records: 346, skipped: 3, categories: 220, remarks: 291},
		{sheet: "协议中成药", rows: 115, records: 58, categories: 57, remarks: 32},
		{sheet: "竞价药品部分", rows: 70, records: 21, categories: 49, remarks: 14},
	}
	perSheet := map[string][]knowledge.CatalogueDrug{}
	for _, d := range c.Catalogue {
		perSheet[d.Sheet] = append(perSheet[d.Sheet], d)
	}
	total := 0
	for _, tt := range tests {
		t.Run(tt.sheet, func(t *testing.T) {
			fr, ok := report.LookupSheet(catalogueFile, tt.sheet)
			if !ok {
				t.Fatalf("no report for %s:\n%s", tt.sheet, report)
			}
			if fr.Batch != catalogueBatch || fr.Path != "catalogue/"+catalogueFile {
				t.Errorf("batch %q path %q", fr.Batch, fr.Path)
			}
			if fr.SourceRows != tt.rows || fr.Records != tt.records || fr.Skipped != tt.skipped || fr.Categories != tt.categories {
				t.Errorf("rows %d records %d skipped %d categories %d; want %d %d %d %d",
					fr.SourceRows, fr.Records, fr.Skipped, fr.Categories, tt.rows, tt.records, tt.skipped, tt.categories)
			}
			if fr.SourceRows != fr.Records+fr.Skipped+fr.Categories {
				t.Errorf("rows %d != records %d + skipped %d + categories %d", fr.SourceRows, fr.Records, fr.Skipped, fr.Categories)
			}
			ind := independent[tt.sheet]
			entries := perSheet[tt.sheet]
			stars, remarks := 0, 0
			for _, d := range entries {
				if d.RepeatOf != "" {
					stars++
				}
				if strings.HasPrefix(d.Number, "★") != (d.RepeatOf != "") {
					t.Errorf("row %d: number %q, repeat of %q", d.Source.Row, d.Number, d.RepeatOf)
				}
				if d.Remark != "" {
					remarks++
				}
			}
			if got := (catalogueCount{len(entries), fr.Categories, stars, remarks}); got != ind ||
				got != (catalogueCount{tt.records, tt.categories, tt.stars, tt.remarks}) {
				t.Errorf("import %+v, independent count %+v, want %+v", got, ind,
					catalogueCount{tt.records, tt.categories, tt.stars, tt.remarks})
			}
			total += len(entries)
		})
	}
	if len(c.Catalogue) != total || total != 1957+1444+346+58+21 {
		t.Errorf("%d catalogue entries, per sheet %d", len(c.Catalogue), total)
	}

	// Warnings: the three merged rows and the phrases recognised but not
	// structured (kept as text, named for a reader).
	got := warningsByCategory(c, catalogueFile)
	want := map[string]int{wMergedRow: 3, wUnstructured: 26}
	if !mapsEqual(got, want) {
		t.Errorf("warnings %v, want %v", got, want)
	}
	sheetWarnings := 0
	for _, tt := range tests {
		fr, _ := report.LookupSheet(catalogueFile, tt.sheet)
		sheetWarnings += fr.Warnings
	}
	if sheetWarnings != 3+26 {
		t.Errorf("report counts %d warnings", sheetWarnings)
	}

	keys := map[string]bool{}
	for _, d := range c.Catalogue {
		if keys[d.Key()] {
			t.Errorf("duplicate key %s", d.Key())
		}
		keys[d.Key()] = true
		s := d.Source
		if s.Batch != catalogueBatch || s.File != catalogueFile || s.Sheet != d.Sheet || s.Row < 3 ||
			d.Category == "" || d.CategoryName == "" || d.Name == "" || (d.Class != "甲" && d.Class != "乙") {
			t.Fatalf("incomplete entry %+v", d)
		}
		if d.Remark != cleanPDFText(d.RawRemark) || strings.ContainsAny(d.Name+d.Remark+d.DosageForm, "\n\r") {
			t.Fatalf("uncleaned entry %+v", d)
		}
		if want, _ := structureRestriction(d.Remark); !reflect.DeepEqual(want, d.Structured) {
			t.Fatalf("%s: structured %+v, want %+v", d.Name, d.Structured, want)
		}
	}
	if _, err := c.Records(); err != nil {
		t.Errorf("Records: %v", err)
	}
}

func catalogueEntry(t *testing.T, c *knowledge.Content, sheet, name, number string) knowledge.CatalogueDrug {
	t.Helper()
	var found []knowledge.CatalogueDrug
	for _, d := range c.Catalogue {
		if d.Sheet == sheet && d.Name == name && (number == "" || d.Number == number) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d entries %s %s in %s", len(found), name, number, sheet)
	}
	return found[0]
}

func TestImportCatalogueSpotChecks(t *testing.T) {
	c, _ := realImport(t)

	t.Run("苦黄注射液 ★(165)", func(t *testing.T) {
		d := catalogueEntry(t, c, "中成药部分", "苦黄注射液", "")
		if d.Number != "★(165)" || d.RepeatOf != "165" || d.Remark != "限二级及以上医疗机构。" ||
			!reflect.DeepEqual(d.Structured, knowledge.CatalogueRestriction{MinLevel: 2}) || d.Category != "ZA04CC" {
			t.Errorf("got %+v", d)
		}
	})

	t.Run("注射用艾普拉唑钠", func(t *testing.T) {
		d := catalogueEntry(t, c, "协议西药", "注射用艾普拉唑钠", "")
		want := knowledge.CatalogueDrug{
			Sheet: "协议西药", Category: "XA02BC", CategoryName: "质子泵抑制剂", Class: "乙", Number: "1",
			Name:            "注射用艾普拉唑钠",
			Remark:          "限：1.预防重症患者应激性溃疡出血；2.消化性溃疡出血。",
			RawRemark:       "限：  1.预防重症患者应激性溃疡出\n血；  2.消化性溃疡出血。",
			PaymentStandard: "63.00元(10mg/支)",
			ValidPeriod:     "2024年1月1日至2025年12月31日",
			Structured:      knowledge.CatalogueRestriction{DiagnosisRestricted: true},
			Source:          knowledge.Source{Batch: catalogueBatch, File: catalogueFile, Sheet: "协议西药", Row: 7},
		}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("got  %+v\nwant %+v", d, want)
		}
	})

	t.Run("竞价 valid period header", func(t *testing.T) {
		d := catalogueEntry(t, c, "竞价药品部分", "二甲双胍恩格列净片(Ⅲ)", "")
		if d.ValidPeriod != "2025年1月1日至2026年12月31日" || d.PaymentStandard != "1.05元(每片含盐酸二甲双胍850mg和恩格列净5mg)" {
			t.Errorf("got %+v", d)
		}
	})

	t.Run("names", func(t *testing.T) {
		for _, tt := range []struct{ sheet, name, form string }{
			{"西药部分", "二甲双胍、二甲双胍Ⅱ", "缓释控释剂型"},
			{"西药部分", "精蛋白人胰岛素混合(30R)[精蛋白重组人胰岛素混合(30R)]", "注射剂"},
			{"西药部分", "复方氨基酸(18AA)、复方氨基酸(18AA-Ⅰ)、复方氨基酸(18AA-Ⅱ)、复方氨基酸(18AA-Ⅲ)、复方氨基酸(18AA-Ⅴ)", "注射剂"},
			{"中成药部分", "双黄连注射液、注射用双黄连(冻干)", ""},
			{"协议西药", "茚达特罗格隆溴铵吸入粉雾剂用胶囊(茚达特罗格隆溴铵吸入粉雾剂)", ""},
		} {
			found := false
			for _, d := range c.Catalogue {
				found = found || d.Sheet == tt.sheet && d.Name == tt.name && d.DosageForm == tt.form
			}
			if !found {
				t.Errorf("no %s %s in %s", tt.name, tt.form, tt.sheet)
			}
		}
	})

	t.Run("structured", func(t *testing.T) {
		if d := catalogueEntry(t, c, "中成药部分", "安宫牛黄丸", ""); !d.Structured.EmergencyOrInpatient || d.Structured.InpatientOnly {
			t.Errorf("安宫牛黄丸 %+v", d.Structured)
		}
		if d := catalogueEntry(t, c, "竞价药品部分", "他克莫司颗粒", ""); !d.Structured.ChildOnly { // "⼉童" in the PDF text
			t.Errorf("他克莫司颗粒 %+v", d)
		}
		if d := catalogueEntry(t, c, "西药部分", "氢醌", ""); d.Structured.Insurance != "工伤" {
			t.Errorf("氢醌 %+v", d.Structured)
		}
		if d := catalogueEntry(t, c, "西药部分", "帕妥珠单抗注射液", ""); d.Structured.CourseDays != 360 {
			t.Errorf("帕妥珠单抗 %+v", d.Structured)
		}
	})

	t.Run("merged rows warned", func(t *testing.T) {
		var rows []int
		for _, w := range c.Warnings {
			if w.Source.File == catalogueFile && warningCategory(w.Message) == wMergedRow {
				rows = append(rows, w.Source.Row)
				if w.Source.Sheet != "协议西药" {
					t.Errorf("%+v", w)
				}
			}
		}
		if fmt.Sprint(rows) != "[157 343 345]" {
			t.Errorf("merged-row warnings on rows %v", rows)
		}
	})

	t.Run("stats", func(t *testing.T) {
		st := CatalogueStats(c)
		want := CatalogueSheetStatistics{
			Sheet: "total", Entries: 3826, WithRemark: 673,
			ChildOnly: 10, InpatientOnly: 7, EmergencyOrInpatient: 1, MinLevel: 56, CourseDays: 20,
			SecondLine: 28, Insurance: 11, ICDPrefixes: 0, DiagnosisRestricted: 588,
			Structured: 650, TextOnly: 23,
		}
		if st.Total != want {
			t.Errorf("total\n got %+v\nwant %+v\n%s", st.Total, want, st)
		}
		if len(st.Sheets) != 5 || st.Sheets[0].Sheet != "西药部分" || st.Sheets[4].Sheet != "竞价药品部分" {
			t.Errorf("sheets %+v", st.Sheets)
		}
		sum := CatalogueSheetStatistics{Sheet: "total"}
		for _, s := range st.Sheets {
			if s.Structured+s.TextOnly != s.WithRemark {
				t.Errorf("%s: structured %d + text only %d != remarks %d", s.Sheet, s.Structured, s.TextOnly, s.WithRemark)
			}
			sum.Entries += s.Entries
			sum.WithRemark += s.WithRemark
			sum.Structured += s.Structured
			sum.TextOnly += s.TextOnly
		}
		if sum.Entries != want.Entries || sum.WithRemark != want.WithRemark || sum.Structured != want.Structured || sum.TextOnly != want.TextOnly {
			t.Errorf("sheets add up to %+v", sum)
		}
		out := st.String()
		if strings.Count(out, "\n") != 14 || !strings.Contains(out, "text only") || !strings.Contains(out, "竞价药品部分") {
			t.Errorf("table:\n%s", out)
		}
		t.Logf("\n%s", out)
	})
}

func TestCatalogueStats(t *testing.T) {
	c := &knowledge.Content{Catalogue: []knowledge.CatalogueDrug{
		{Sheet: "B", Name: "a"},
		{Sheet: "A", Name: "b", Remark: "限儿童。", Structured: knowledge.CatalogueRestriction{ChildOnly: true}},
		{Sheet: "B", Name: "c", Remark: "◇"},
		{Sheet: "B", Name: "d", Remark: "x", Structured: knowledge.CatalogueRestriction{MinLevel: 2, CourseDays: 14, ICDPrefixes: []string{"C34"}}},
	}}
	st := CatalogueStats(c)
	if len(st.Sheets) != 2 || st.Sheets[0].Sheet != "B" || st.Sheets[1].Sheet != "A" {
		t.Fatalf("sheets %+v", st.Sheets)
	}
	b := st.Sheets[0]
	if b.Entries != 3 || b.WithRemark != 2 || b.Structured != 1 || b.TextOnly != 1 || b.MinLevel != 1 || b.CourseDays != 1 || b.ICDPrefixes != 1 {
		t.Errorf("B %+v", b)
	}
	if st.Total.Entries != 4 || st.Total.ChildOnly != 1 || st.Total.Structured != 2 || st.Total.TextOnly != 1 {
		t.Errorf("total %+v", st.Total)
	}
	if got := CatalogueStats(&knowledge.Content{}); len(got.Sheets) != 0 || got.Total.Entries != 0 || got.String() == "" {
		t.Errorf("empty %+v", got)
	}
}

func TestCatalogueName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"复方硼砂", "复方硼砂"},
		{"精蛋白人胰岛素(精蛋白重组人\n胰岛素)", "精蛋白人胰岛素(精蛋白重组人胰岛素)"},
		{"精蛋白人胰岛素混合\n(30R)(30/70混合重组人胰岛素)", "精蛋白人胰岛素混合(30R)(30/70混合重组人胰岛素)"},
		{"二甲双胍\n二甲双胍Ⅱ", "二甲双胍、二甲双胍Ⅱ"},
		{"补液盐 Ⅰ\n补液盐Ⅱ\n补液盐Ⅲ", "补液盐Ⅰ、补液盐Ⅱ、补液盐Ⅲ"},
		{"茶碱\n茶碱Ⅱ", "茶碱、茶碱Ⅱ"},
		{"雷公藤片\n雷公藤多苷[甙]片", "雷公藤片、雷公藤多苷[甙]片"},
		{"双黄连注射液\n注射用双黄连(冻干)", "双黄连注射液、注射用双黄连(冻干)"},
		// Wrapped lines that happen to repeat the stem inside brackets or
		// after a bracket that is still open.
		{"牛碱性成纤维细胞生长因子(重\n组牛碱性成纤维细胞生长因子)", "牛碱性成纤维细胞生长因子(重组牛碱性成纤维细胞生长因子)"},
		{"茚达特罗格隆溴铵吸入粉雾剂\n用胶囊(茚达特罗格隆溴铵吸\n入粉雾剂)", "茚达特罗格隆溴铵吸入粉雾剂用胶囊(茚达特罗格隆溴铵吸入粉雾剂)"},
		{"注射用头孢地嗪钠/5%葡萄糖\n注射液", "注射用头孢地嗪钠/5%葡萄糖注射液"},
		{"重组人Ⅱ型肿瘤坏死因子受体-\n抗体融合蛋白", "重组人Ⅱ型肿瘤坏死因子受体-抗体融合蛋白"},
		{"消癌平丸、  消癌平颗粒(通关藤颗粒) 、  消癌平片\n(通关藤片)、  消癌平胶囊(通关藤胶囊)、  消癌平\n口服液(通关藤口服液)",
			"消癌平丸、消癌平颗粒(通关藤颗粒)、消癌平片(通关藤片)、消癌平胶囊(通关藤胶囊)、消癌平口服液(通关藤口服液)"},
		{" \n 二甲双胍 \n\n", "二甲双胍"},
		{"\n \n", ""},
	}
	for _, tt := range tests {
		if got := catalogueName(tt.in); got != tt.want {
			t.Errorf("catalogueName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// catalogueHeader is the header of the negotiated sheets, as published.
var catalogueHeader = []string{"药品分\n类代码", "药品分类", "", "", "", "", "", "", "", "", "编号", "", "药品名称", "", "医保支付标准", "", "", "备注", "协议有效期"}

// drugRow is a negotiated-sheet drug row.
func drugRow(class, number, name, price, remark string) []string {
	r := make([]string, len(catalogueHeader))
	r[8], r[10], r[12], r[14], r[17], r[18] = class, number, name, price, remark, "2025年1月1日至\n2026年12月31日"
	return r
}

func TestParseCatalogueSheet(t *testing.T) {
	rows := [][]string{
		{"协议西药"},
		catalogueHeader,
		drugRow("乙", "1 ", "先于分类的药", "*", ""),    // row 3: no category yet
		{"XA", "消化道和代谢方面的药物"},                    // row 4
		{"XA02BC", "", "", "", "", "", "质子泵抑制剂"}, // row 5
		drugRow("乙", "2 ", "注射用艾普拉唑钠", "63.00元(10mg/支)", "限：  1.预防重症患者应激性溃疡出\n血；  2.消化性溃疡出血。"),
		drugRow("乙", "★(2)", "艾普拉唑肠溶片", "*", "限二线用药。"),                                                            // row 7
		drugRow("乙", "★(99)", "无主之药", "*", ""),                                                                    // row 8: ★ of no entry
		drugRow("", "3", "无类别之药", "*", ""),                                                                        // row 9: no class
		drugRow("丙", "4", "丙类之药", "*", ""),                                                                        // row 10
		drugRow("乙", "五", "编号不明之药", "*", ""),                                                                      // row 11
		drugRow("乙", "2 ", "注射用艾普拉唑钠", "*", ""),                                                                   // row 12: repeated key
		{"", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "限二线用药。", "2025年1月1日至\n2026年12月31日"}, // row 13: merged overflow of row 12? no: differs
		nil, nil, // rows 14–15
		{"x1", "坏代码"}, // row 16: malformed code
		{"XB01", "血液", "", "", "", "", "", "", "", "", "", "", "夹带的药名"},                                              // row 17: category with a drug name
		drugRow("甲", "6", "阿司匹林", "*", "限急诊或住院患者。"),                                                                  // row 18
		{"", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "限急诊或住院患者。", "2025年1月1日至\n2026年12月31日"}, // row 19: merged overflow
		{"注：本表为摘录"}, // row 20
	}
	res, err := parseCatalogueSheet("f.xlsx", sheet{name: "协议西药", rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	checkCatalogueAccounted(t, rows, res)
	fr := res.report
	if fr.SourceRows != 18 || fr.Records != 8 || fr.Categories != 4 || fr.Skipped != 6 || fr.Warnings != len(res.warnings) {
		t.Errorf("report %+v", fr)
	}
	byRow := map[int][]string{}
	for _, w := range res.warnings {
		byRow[w.Source.Row] = append(byRow[w.Source.Row], warningCategory(w.Message))
	}
	want := map[int][]string{
		3: {wNoCategory}, 8: {wUnknownValue}, 9: {wNoClass}, 10: {wNoClass}, 11: {wBadNumber}, 12: {wDuplicateKey},
		13: {wNoName}, 14: {wEmptyRow}, 16: {wBadCode}, 17: {wUnknownValue}, 19: {wMergedRow}, 20: {wFooterRow},
	}
	if !reflect.DeepEqual(byRow, want) {
		t.Errorf("warnings by row %v\nwant %v", byRow, want)
	}
	first := res.entries[1]
	if first.Category != "XA02BC" || first.CategoryName != "质子泵抑制剂" || first.Remark != "限：1.预防重症患者应激性溃疡出血；2.消化性溃疡出血。" ||
		first.PaymentStandard != "63.00元(10mg/支)" || first.ValidPeriod != "2025年1月1日至2026年12月31日" || first.Source.Row != 6 {
		t.Errorf("entry %+v", first)
	}
	if star := res.entries[2]; star.RepeatOf != "2" || !star.Structured.SecondLine {
		t.Errorf("★ entry %+v", star)
	}
	if last := res.entries[len(res.entries)-1]; last.Category != "XB01" || last.Class != "甲" || !last.Structured.EmergencyOrInpatient {
		t.Errorf("last entry %+v", last)
	}

	t.Run("missing column", func(t *testing.T) {
		_, err := parseCatalogueSheet("f.xlsx", sheet{name: "S", rows: [][]string{{"title"}, {"药品分类代码", "药品名称"}}})
		if !errors.Is(err, errMissingColumn) || !strings.Contains(err.Error(), "编号") {
			t.Errorf("err = %v", err)
		}
		checkError(t, err)
	})
}

// catalogueWorkbook builds a small workbook in the catalogue's layout: the
// five sheets, each a title, a header, a category and a drug row.
func catalogueWorkbook(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, name := range catalogueSheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for r, row := range [][]any{
			{name},
			{"药品分类代码", "药品分类", "", "编号", "药品名称", "备注"},
			{"XA", "消化道和代谢方面的药物"},
			{"", "", "乙", fmt.Sprint(i + 1), "药" + name, "限二线用药。"},
		} {
			if err := f.SetSheetRow(name, fmt.Sprintf("A%d", r+1), &row); err != nil {
				t.Fatal(err)
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportCatalogueOnly(t *testing.T) {
	c, report, err := Import(context.Background(), fstest.MapFS{catalogueFile: {Data: catalogueWorkbook(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Files) != 5 || len(c.Catalogue) != 5 || len(c.Restrictions) != 0 || len(c.Warnings) != 0 {
		t.Fatalf("content %+v, report:\n%s", c, report)
	}
	for i, name := range catalogueSheets {
		fr, ok := report.LookupSheet(catalogueFile, name)
		want := FileReport{File: catalogueFile, Path: catalogueFile, Batch: catalogueBatch, Sheet: name, SourceRows: 2, Records: 1, Categories: 1}
		if !ok || fr != want {
			t.Errorf("report %+v, want %+v", fr, want)
		}
		d := c.Catalogue[i]
		if d.Sheet != name || d.Category != "XA" || d.Class != "乙" || !d.Structured.SecondLine || d.Source.Row != 4 {
			t.Errorf("entry %+v", d)
		}
	}
	if fr, ok := report.Lookup(catalogueFile); !ok || fr.Sheet != catalogueSheets[0] {
		t.Errorf("Lookup: %+v", fr)
	}
	if s := report.String(); !strings.Contains(s, "categories") || strings.Count(s, catalogueFile) != 5 {
		t.Errorf("report table:\n%s", s)
	}

	// A workbook of the wrong kind under the catalogue's name: the error
	// names the file.
	other := sheetFile(t, "Sheet1", [][]string{{"序号", "项目名称"}, {"1", "x"}})
	_, _, err = Import(context.Background(), fstest.MapFS{"catalogue/" + catalogueFile: {Data: other}})
	if err == nil || !strings.Contains(err.Error(), "catalogue/"+catalogueFile) {
		t.Errorf("err = %v", err)
	}
	// Found twice.
	b := catalogueWorkbook(t)
	_, _, err = Import(context.Background(), fstest.MapFS{catalogueFile: {Data: b}, "catalogue/" + catalogueFile: {Data: b}})
	if err == nil || !strings.Contains(err.Error(), "found twice") {
		t.Errorf("err = %v", err)
	}
}

// checkCatalogueAccounted asserts the importer's promise on a parsed
// catalogue sheet: every non-empty data row is an entry, a category row or
// warned about, the counts add up, keys are unique, warnings categorised.
func checkCatalogueAccounted(t *testing.T, rows [][]string, res catalogueSheetResult) {
	t.Helper()
	fr := res.report
	if fr.SourceRows != len(rows)-res.header-1 || fr.SourceRows != fr.Records+fr.Skipped+fr.Categories ||
		fr.Records != len(res.entries) || fr.Warnings != len(res.warnings) {
		t.Fatalf("report %+v for %d rows, header at %d, %d entries, %d warnings", fr, len(rows), res.header, len(res.entries), len(res.warnings))
	}
	recordRows, warnRows, footers := map[int]bool{}, map[int]bool{}, map[int]bool{}
	keys := map[string]bool{}
	for _, d := range res.entries {
		recordRows[d.Source.Row] = true
		if keys[d.Key()] {
			t.Fatalf("duplicate key %q", d.Key())
		}
		keys[d.Key()] = true
		if d.Source.File != "f.xlsx" || d.Source.Batch != catalogueBatch || d.Source.Row < res.header+2 || d.Source.Row > len(rows) || d.Name == "" {
			t.Fatalf("entry %+v", d)
		}
		if d.Remark != cleanPDFText(d.RawRemark) {
			t.Fatalf("remark %q of raw %q", d.Remark, d.RawRemark)
		}
		if want, _ := structureRestriction(d.Remark); !reflect.DeepEqual(want, d.Structured) {
			t.Fatalf("structured %+v, want %+v", d.Structured, want)
		}
	}
	for _, w := range res.warnings {
		cat := warningCategory(w.Message)
		if !knownCategories[cat] && cat != wNoName && cat != wMergedRow && cat != wNoCategory && cat != wNoClass {
			t.Fatalf("uncategorised warning %q", w.Message)
		}
		warnRows[w.Source.Row] = true
		if cat == wFooterRow {
			footers[w.Source.Row] = true
		}
	}
	codeCol := -1
	if tab, err := newTable(knowledge.Source{}, rows, catalogueCols); err == nil {
		codeCol = tab.idx[kCode]
	}
	categories := 0
	for i := res.header + 1; i < len(rows); i++ {
		if rowEmpty(rows[i]) {
			if !warnRows[i+1] && (i == res.header+1 || !rowEmpty(rows[i-1])) {
				t.Fatalf("empty row %d starts a run without a warning", i+1)
			}
			continue
		}
		isCategory := false
		if codeCol >= 0 && codeCol < len(rows[i]) {
			code, _ := cleanCode(rows[i][codeCol])
			isCategory = code != "" && !footers[i+1]
		}
		if isCategory {
			categories++
			if recordRows[i+1] {
				t.Fatalf("category row %d is also an entry", i+1)
			}
			continue
		}
		if !recordRows[i+1] && !warnRows[i+1] {
			t.Fatalf("row %d %q is neither an entry, a category nor warned about", i+1, rows[i])
		}
	}
	if categories != fr.Categories {
		t.Fatalf("%d category rows, report says %d", categories, fr.Categories)
	}
}

// catalogueRealRows returns rows of a real catalogue sheet as a fuzz seed:
// the title, the header and rows [from, to). Only the small sheets are
// read: the big ones take a second to unzip, in every fuzz worker.
func catalogueRealRows(f *testing.F, name string, from, to int) [][]string {
	f.Helper()
	sheets, err := readXLSX(data.FS, "catalogue/"+catalogueFile, []string{name})
	if err != nil || sheets[0].name != name {
		f.Fatal(name, err)
	}
	rows := sheets[0].rows
	return append(append([][]string{}, rows[:2]...), rows[from:min(to, len(rows))]...)
}

func FuzzCatalogueRows(f *testing.F) {
	// Seeds are kept short, as in fuzz_test.go: minimising a long new
	// input stalls the fuzzer. The western-medicine layout and a merged-cell
	// row are in testdata/fuzz/FuzzCatalogueRows.
	f.Add(encodeRows(catalogueRealRows(f, "协议西药", 2, 7)))
	f.Add(encodeRows(catalogueRealRows(f, "竞价药品部分", 2, 6)))
	f.Add(encodeRows([][]string{
		{"竞价药品部分"},
		{"药品分\n类代码", "药品分类", "", "编号", "药品名称", "剂型", "备注", "支付标准有效期"},
		{"XA1", "x"},
		{"", "", "乙", "★（1）", "a\nb", "", "支付不超过2周；限儿童"},
		{"", "", "乙", "1", "a\na", "", ""},
		{"", "", "", "", "", "", "支付不超过2周；限儿童"},
		{},
		{"合计"},
	}))
	f.Fuzz(func(t *testing.T, s string) {
		rows := decodeRows(s)
		res, err := parseCatalogueSheet("f.xlsx", sheet{name: "S", rows: rows})
		if err != nil {
			checkError(t, err)
			return
		}
		checkCatalogueAccounted(t, rows, res)
	})
}

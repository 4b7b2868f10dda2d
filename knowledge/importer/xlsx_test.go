package importer

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/xuri/excelize/v2"
)

// sheetFile builds a one-sheet workbook; rows[i] goes to spreadsheet row
// i+1, nil rows are left empty.
func sheetFile(t testing.TB, name string, rows [][]string, edit ...func(f *excelize.File)) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if name != "Sheet1" {
		if err := f.SetSheetName("Sheet1", name); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range rows {
		if r == nil {
			continue
		}
		cells := make([]any, len(r))
		for j, c := range r {
			cells[j] = c
		}
		if err := f.SetSheetRow(name, fmt.Sprintf("A%d", i+1), &cells); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range edit {
		e(f)
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadXLSXLayout(t *testing.T) {
	const name = "重复收费"
	b := sheetFile(t, name, [][]string{
		{"序号", "频度", "主项名称", "主项编码", "从项名称", "从项编码", "备注"},
		{"1", "单日", "急诊监护费", "001103000010000", "急诊诊查费", "001102000030000", "含监护"},
		{"2", "", "", "", "普通病房床位费", "001109000010000", ""}, // 频度 and 主项 merged down from row 2
		nil, // an empty row between data
		{"3", "单次就诊", "A", "001103000010001", "B", "001102000030001"}, // trailing empty cell dropped by excelize
		{"合计"}, // footer merged across A:G
		nil,
	}, func(f *excelize.File) {
		for _, m := range [][2]string{{"B2", "B3"}, {"C2", "C3"}, {"D2", "D3"}, {"A6", "G6"}, {"B7", "G7"}} {
			if err := f.MergeCell(name, m[0], m[1]); err != nil {
				t.Fatal(err)
			}
		}
	})
	sheets, err := readXLSX(fstest.MapFS{"x.xlsx": {Data: b}}, "x.xlsx", []string{""})
	if err != nil {
		t.Fatal(err)
	}
	rows := sheets[0].rows
	if sheets[0].name != name || len(rows) != 6 {
		t.Fatalf("sheet %q, %d rows: %q", sheets[0].name, len(rows), rows)
	}
	for i, r := range rows {
		if len(r) != 7 {
			t.Errorf("row %d has %d cells, want 7 (padded)", i+1, len(r))
		}
	}
	if got := rows[2][:4]; !slices.Equal(got, []string{"2", "单日", "急诊监护费", "001103000010000"}) {
		t.Errorf("vertical merges not filled: %q", got)
	}
	if !rowEmpty(rows[3]) {
		t.Errorf("row 4 %q, want empty", rows[3])
	}
	if got := rows[5]; got[0] != "合计" || got[1] != "" {
		t.Errorf("horizontal merge must not be copied: %q", got)
	}

	res, err := parseDuplicateCharge("x.xlsx", sheets[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(res.restrictions) != 3 || res.sourceRows != 5 || res.skipped != 2 {
		t.Errorf("records %d, rows %d, skipped %d", len(res.restrictions), res.sourceRows, res.skipped)
	}
	if r := res.restrictions[1]; r.Window != knowledge.WindowSameDay || r.PrimaryCode != "001103000010000" || r.Source.Row != 3 {
		t.Errorf("merged row: %+v", r)
	}
	cats := map[string]int{}
	for _, w := range res.warnings {
		cats[warningCategory(w.Message)]++
	}
	if cats[wEmptyRow] != 1 || cats[wFooterRow] != 1 || len(cats) != 2 {
		t.Errorf("warnings %v", res.warnings)
	}
}

func TestReadXLSXSheetFallback(t *testing.T) {
	// Drug batches are looked up as Sheet1/Sheet2, but a renamed sheet is
	// found by position.
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", "说明")
	f.NewSheet("代码")
	f.SetSheetRow("说明", "A1", &[]any{"药品通用名", "药品说明", "限定类型", "限定对象"})
	f.SetSheetRow("说明", "A2", &[]any{"甲药", "说明", "限定性别对象", "男"})
	f.SetSheetRow("代码", "A1", &[]any{"药品通用名", "序号", "药品代码", "限定类型"})
	f.SetSheetRow("代码", "A2", &[]any{"甲药", "1", "XL02BBA326A001010102180", "限定性别对象"})
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	c, report, err := Import(context.Background(), fstest.MapFS{"batch1-drug-gender.xlsx": {Data: buf.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Restrictions) != 1 || c.Restrictions[0].Gender != knowledge.GenderMale || report.Files[0].Sheet != "代码" {
		t.Errorf("%+v %+v", c.Restrictions, report)
	}
}

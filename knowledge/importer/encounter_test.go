package importer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rxguard/rxguard/knowledge"
)

func TestImportRecognitionAndOutpatientDemo(t *testing.T) {
	c, _ := realImport(t)
	byCode := map[string]knowledge.RecognitionItem{}
	for _, r := range c.Recognition {
		byCode[r.Code] = r
	}
	ct := byCode["002103000010000"]
	want := knowledge.RecognitionItem{Code: "002103000010000", Name: "X线计算机体层(CT)平扫", WindowDays: 30, Scope: "省内互认",
		Source: knowledge.Source{Batch: "演示数据", File: "exam-recognition.csv", Row: 5}}
	if ct != want {
		t.Errorf("CT entry %+v, want %+v", ct, want)
	}
	prefixes := map[string]string{}
	for _, o := range c.OutpatientConditions {
		prefixes[o.Prefix] = o.Name
	}
	if prefixes["J06"] != "多部位和未特指部位的急性上呼吸道感染" || prefixes["R51"] != "头痛" {
		t.Errorf("outpatient conditions %v", prefixes)
	}
}

func TestParseDemoRecognitionRows(t *testing.T) {
	header := []string{"item_code", "item_name", "window_days", "scope"}
	tests := []struct {
		name     string
		row      []string
		records  int
		window   int
		code     string
		warnings map[string]int
	}{
		{"valid", []string{"002103000010000", "CT平扫", "30", "省内互认"}, 1, 30, "002103000010000", nil},
		{"window 1", []string{"002103000010000", "CT平扫", "1", "省内互认"}, 1, 1, "002103000010000", nil},
		{"window max", []string{"002103000010000", "CT平扫", "3660", "省内互认"}, 1, 3660, "002103000010000", nil},
		{"window padded", []string{"002103000010000", "CT平扫", " 7 ", "省内互认"}, 1, 7, "002103000010000", nil},
		{"window zero", []string{"002103000010000", "CT平扫", "0", "省内互认"}, 0, 0, "", map[string]int{wBadNumber: 1}},
		{"window negative", []string{"002103000010000", "CT平扫", "-3", "省内互认"}, 0, 0, "", map[string]int{wBadNumber: 1}},
		{"window over max", []string{"002103000010000", "CT平扫", "3661", "省内互认"}, 0, 0, "", map[string]int{wBadNumber: 1}},
		{"window fraction", []string{"002103000010000", "CT平扫", "7.5", "省内互认"}, 0, 0, "", map[string]int{wBadNumber: 1}},
		{"window empty", []string{"002103000010000", "CT平扫", "", "省内互认"}, 0, 0, "", map[string]int{wBadNumber: 1}},
		{"code 14 digits", []string{"00210300001000", "CT平扫", "30", "省内互认"}, 1, 30, "00210300001000", map[string]int{wBadCode: 1}},
		{"drug code", []string{"XJ01MAD9026B002010199926", "莫西沙星", "30", "省内互认"}, 1, 30, "XJ01MAD9026B002010199926", map[string]int{wBadCode: 1}},
		{"code full-width", []string{"００２１０３００００１００００", "CT平扫", "30", "省内互认"}, 1, 30, "002103000010000", map[string]int{wCodeNormalised: 1}},
		// Surrounding padding is trimmed silently, as for every other file.
		{"code padded", []string{" 002103000010000\u200b", "CT平扫", "30", "省内互认"}, 1, 30, "002103000010000", nil},
		{"no scope", []string{"002103000010000", "CT平扫", "30", ""}, 1, 30, "002103000010000", map[string]int{wUnknownValue: 1}},
		{"no code", []string{"", "CT平扫", "30", "省内互认"}, 0, 0, "", map[string]int{wNoCode: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := parseDemoRecognition("exam-recognition.csv", [][]string{header, tt.row})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != tt.records || res.sourceRows != 1 || res.skipped != 1-tt.records {
				t.Fatalf("records %d skipped %d rows %d, want %d records", len(out), res.skipped, res.sourceRows, tt.records)
			}
			if tt.records == 1 && (out[0].WindowDays != tt.window || out[0].Code != tt.code || out[0].Source.Row != 2) {
				t.Errorf("got %+v", out[0])
			}
			got := map[string]int{}
			for _, w := range res.warnings {
				got[warningCategory(w.Message)]++
				if w.Source.File != "exam-recognition.csv" || w.Source.Row != 2 {
					t.Errorf("warning %+v does not name file and line 2", w)
				}
			}
			want := tt.warnings
			if want == nil {
				want = map[string]int{}
			}
			if !mapsEqual(got, want) {
				t.Errorf("warnings %v, want %v (%v)", got, want, res.warnings)
			}
		})
	}
}

func TestParseDemoRecognitionDuplicateAndHeader(t *testing.T) {
	out, res, err := parseDemoRecognition("r.csv", [][]string{
		{"\ufeffitem_code", "item_name", "window_days", "scope"},
		{"002103000010000", "CT平扫", "30", "省内互认"},
		{"002103000010000", "CT平扫", "14", "市内互认"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].WindowDays != 30 || res.skipped != 1 || len(res.warnings) != 1 ||
		warningCategory(res.warnings[0].Message) != wDuplicateCode || res.warnings[0].Source.Row != 3 {
		t.Errorf("duplicate: out %+v res %+v", out, res)
	}
	_, _, err = parseDemoRecognition("r.csv", [][]string{{"item_code", "item_name", "scope"}, {"002103000010000", "CT", "x"}})
	if !errors.Is(err, errMissingColumn) || !strings.Contains(err.Error(), "r.csv row 1") || !strings.Contains(err.Error(), "window_days") {
		t.Errorf("missing window_days column: %v", err)
	}
}

func TestParseDemoOutpatientRows(t *testing.T) {
	header := []string{"icd_prefix", "name"}
	tests := []struct {
		name     string
		row      []string
		prefix   string
		warnings map[string]int
	}{
		{"category", []string{"J06", "上感"}, "J06", nil},
		{"subcategory", []string{"J06.9", "上感"}, "J06.9", nil},
		{"lower case", []string{"j06", "上感"}, "J06", map[string]int{wCodeNormalised: 1}},
		{"full-width", []string{"Ｊ０６", "上感"}, "J06", map[string]int{wCodeNormalised: 1}},
		{"not ICD", []string{"06J", "上感"}, "06J", map[string]int{wBadCode: 1}},
		{"too long", []string{"J06.90000", "上感"}, "J06.90000", map[string]int{wBadCode: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := parseDemoOutpatient("o.csv", [][]string{header, tt.row})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].Prefix != tt.prefix || out[0].Source.Row != 2 || out[0].Source.File != "o.csv" {
				t.Fatalf("got %+v", out)
			}
			got := map[string]int{}
			for _, w := range res.warnings {
				got[warningCategory(w.Message)]++
			}
			want := tt.warnings
			if want == nil {
				want = map[string]int{}
			}
			if !mapsEqual(got, want) {
				t.Errorf("warnings %v, want %v", got, want)
			}
		})
	}
	// "j06" and "J06" are one key once canonical: the second is a duplicate.
	out, res, err := parseDemoOutpatient("o.csv", [][]string{header, {"J06", "a"}, {"j06", "b"}})
	if err != nil || len(out) != 1 || res.skipped != 1 {
		t.Errorf("case-folded duplicate: %+v %+v %v", out, res, err)
	}
}

// A directory holding only the two files imports them (kb import DIR).
func TestImportDirectoryWithEncounterLists(t *testing.T) {
	fsys := fstest.MapFS{
		"exam-recognition.csv":      {Data: []byte("\xef\xbb\xbfitem_code,item_name,window_days,scope\n002103000010000,CT平扫,30,省内互认\n")},
		"outpatient-manageable.csv": {Data: []byte("icd_prefix,name\nJ06,上感\nM54,背痛\n")},
	}
	c, report, err := Import(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Recognition) != 1 || len(c.OutpatientConditions) != 2 {
		t.Fatalf("recognition %d outpatient %d", len(c.Recognition), len(c.OutpatientConditions))
	}
	if fr, ok := report.Lookup("exam-recognition.csv"); !ok || fr.Records != 1 || fr.SourceRows != 1 {
		t.Errorf("report %+v", report)
	}
	if fr, ok := report.Lookup("outpatient-manageable.csv"); !ok || fr.Records != 2 {
		t.Errorf("report %+v", report)
	}
	records, err := c.Records()
	if err != nil {
		t.Fatal(err)
	}
	back, err := knowledge.ContentFromRecords(records)
	if err != nil || len(back.Recognition) != 1 || back.Recognition[0] != c.Recognition[0] || len(back.OutpatientConditions) != 2 {
		t.Errorf("round trip: %+v %v", back, err)
	}
}

// checkEncounterAccounted: every non-empty data row is a record or warned
// about, counts add up, keys are unique and warnings categorised.
func checkEncounterAccounted(t *testing.T, rows [][]string, res parsed, records int, recordRows []int, keys []string) {
	t.Helper()
	if res.sourceRows != records+res.skipped {
		t.Fatalf("rows %d != records %d + skipped %d", res.sourceRows, records, res.skipped)
	}
	header := len(rows) - res.sourceRows - 1
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
	covered := map[int]bool{}
	for _, r := range recordRows {
		covered[r] = true
	}
	firstEmpty := -1
	for _, w := range res.warnings {
		if !knownCategories[warningCategory(w.Message)] {
			t.Fatalf("uncategorised warning %q", w.Message)
		}
		covered[w.Source.Row] = true
		if warningCategory(w.Message) == wEmptyRow && firstEmpty < 0 {
			firstEmpty = w.Source.Row
		}
	}
	for i := header + 1; i < len(rows); i++ {
		if rowEmpty(rows[i]) {
			if firstEmpty < 0 || firstEmpty > i+1 {
				t.Fatalf("empty row %d not warned about", i+1)
			}
			continue
		}
		if !covered[i+1] {
			t.Fatalf("row %d %q produced neither a record nor a warning", i+1, rows[i])
		}
	}
}

func FuzzRecognitionRows(f *testing.F) {
	f.Add(encodeRows([][]string{
		{"item_code", "item_name", "window_days", "scope"},
		{"002501010150000", "血细胞分析(血常规)", "7", "医联体内互认"},
		{"002103000010000", "CT", "0", ""},
		{},
		{"00210300001000x", "CT", "99999", "省内互认"},
		{"002501010150000", "dup", "7", "x"},
	}))
	f.Add(encodeRows([][]string{{"code", "name", "window_days", "scope"}, {"ｘ", "a", "+3", "b"}}))
	f.Fuzz(func(t *testing.T, s string) {
		rows := decodeRows(s)
		out, res, err := parseDemoRecognition("f.csv", rows)
		if err != nil {
			if !strings.Contains(err.Error(), "f.csv row ") {
				t.Fatalf("error does not name file and row: %v", err)
			}
			return
		}
		var recRows []int
		var keys []string
		for _, r := range out {
			if r.WindowDays < 1 || r.WindowDays > maxWindowDays {
				t.Fatalf("window %d kept", r.WindowDays)
			}
			if c, changed := knowledge.CanonicalCode(r.Code); changed || c != r.Code {
				t.Fatalf("code %q not canonical", r.Code)
			}
			recRows = append(recRows, r.Source.Row)
			keys = append(keys, r.Code)
		}
		checkEncounterAccounted(t, rows, res, len(out), recRows, keys)
	})
}

func FuzzOutpatientRows(f *testing.F) {
	f.Add(encodeRows([][]string{
		{"icd_prefix", "name"},
		{"J06", "上感"},
		{"j06", "dup"},
		{"", "no code"},
		{"Z", "bad"},
	}))
	f.Fuzz(func(t *testing.T, s string) {
		rows := decodeRows(s)
		out, res, err := parseDemoOutpatient("f.csv", rows)
		if err != nil {
			if !strings.Contains(err.Error(), "f.csv row ") {
				t.Fatalf("error does not name file and row: %v", err)
			}
			return
		}
		var recRows []int
		var keys []string
		for _, o := range out {
			recRows = append(recRows, o.Source.Row)
			keys = append(keys, o.Prefix)
		}
		checkEncounterAccounted(t, rows, res, len(out), recRows, keys)
	})
}

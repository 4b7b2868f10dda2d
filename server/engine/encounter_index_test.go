package engine

import (
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

func encounterTestIndex(t testing.TB) *Index {
	t.Helper()
	src := knowledge.Source{Batch: "演示数据", File: "exam-recognition.csv", Row: 2}
	c := &knowledge.Content{
		Recognition: []knowledge.RecognitionItem{
			{Code: "002103000010000", Name: "X线计算机体层(CT)平扫", WindowDays: 30, Scope: "省内互认", Source: src},
			// A release that carries a padded code is still looked up canonically.
			{Code: " 002501010150000\u200b", Name: "血细胞分析(血常规)", WindowDays: 7, Scope: "医联体内互认", Source: src},
		},
		OutpatientConditions: []knowledge.OutpatientCondition{
			{Prefix: "J06", Name: "急性上呼吸道感染"},
			{Prefix: "j06.9", Name: "急性上呼吸道感染，未特指"}, // longer, lower case, dotted
			{Prefix: "M54", Name: "背痛"},
			{Prefix: "  ", Name: "空前缀（忽略）"},
		},
	}
	idx, err := Compile(knowledge.Manifest{Version: "enc-1"}, c)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestRecognition(t *testing.T) {
	idx := encounterTestIndex(t)
	cases := []struct {
		code   string
		ok     bool
		window int
		scope  string
	}{
		{"002103000010000", true, 30, "省内互认"},
		{"002501010150000", true, 7, "医联体内互认"},
		{"002104000010000", false, 0, ""}, // not on this release's list
		{"", false, 0, ""},
	}
	for _, tc := range cases {
		r, ok := idx.Recognition(tc.code)
		if ok != tc.ok {
			t.Fatalf("Recognition(%q) ok = %v, want %v", tc.code, ok, tc.ok)
		}
		if !ok {
			if r != nil {
				t.Errorf("Recognition(%q) = %+v with ok=false", tc.code, r)
			}
			continue
		}
		if r.WindowDays != tc.window || r.Scope != tc.scope {
			t.Errorf("Recognition(%q) = %d days %q, want %d %q", tc.code, r.WindowDays, r.Scope, tc.window, tc.scope)
		}
	}
	// A listed item is a code the release knows: UNKNOWN_ITEM must not fire.
	if !idx.knows("002501010150000", "") || idx.Name("002103000010000") != "X线计算机体层(CT)平扫" {
		t.Errorf("recognition items are not bound in byCode")
	}
}

func TestOutpatientManageable(t *testing.T) {
	idx := encounterTestIndex(t)
	cases := []struct {
		icd    string
		prefix string // "" = not listed
	}{
		{"J06.900", "j06.9"}, // longest prefix wins
		{"J06900", "j06.9"},
		{" j06.9 ", "j06.9"},
		{"J06.800", "J06"},
		{"J06", "J06"},
		{"J0", ""}, // shorter than every prefix
		{"J18.900", ""},
		{"M54.500", "M54"},
		{"", ""},
		{"ＪＪ06", ""}, // non-ASCII never matches
	}
	for _, tc := range cases {
		c, ok := idx.OutpatientManageable(tc.icd)
		if ok != (tc.prefix != "") {
			t.Fatalf("OutpatientManageable(%q) ok = %v, want %v", tc.icd, ok, tc.prefix != "")
		}
		if ok && c.Prefix != tc.prefix {
			t.Errorf("OutpatientManageable(%q) = %q, want %q", tc.icd, c.Prefix, tc.prefix)
		}
	}
}

func TestEncounterLookupsDoNotAllocate(t *testing.T) {
	idx := encounterTestIndex(t)
	n := testing.AllocsPerRun(100, func() {
		idx.Recognition("002103000010000")
		idx.OutpatientManageable("J06.900")
		idx.OutpatientManageable("K30.100")
	})
	if n != 0 {
		t.Errorf("lookups allocate %v times per run", n)
	}
}

func TestEmptyReleaseHasNoEncounterKnowledge(t *testing.T) {
	idx, err := Compile(knowledge.Manifest{Version: "empty"}, &knowledge.Content{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := idx.Recognition("002103000010000"); ok {
		t.Error("empty release recognises an item")
	}
	if _, ok := idx.OutpatientManageable("J06.900"); ok {
		t.Error("empty release lists an outpatient condition")
	}
}

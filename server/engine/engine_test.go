package engine

import (
	"errors"
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func TestVerdictAndOrdering(t *testing.T) {
	e := testEngine(t, Config{})
	req := baseRequest()
	// line 1: period frequency (WARN) ; line 2: female-only drug (BLOCK); line 3: nothing.
	req.History = []*rxguardv1.HistoryOrder{hist(periodItem, "2026-11-20T09:00:00+08:00", "E0", 1, 0)}
	req.Orders = []*rxguardv1.OrderLine{line("w", periodItem, 1, 0), line("b", femaleDrug, 1, 7), line("ok", "XA10BAD9029A001010199929", 1, 7)}
	res := e.Check(input(t, req))
	if res.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
		t.Fatalf("verdict %v, want BLOCK", res.Verdict)
	}
	if len(res.Findings) != 2 || res.Findings[0].RuleType != "DRUG_GENDER" || res.Findings[1].RuleType != "ITEM_PERIOD_FREQUENCY" {
		t.Fatalf("findings not ranked BLOCK first: %v", res.Findings)
	}
	if res.Findings[0].Overridable || !res.Findings[1].Overridable {
		t.Errorf("BLOCK must not be overridable, WARN must")
	}
	if res.Version != "test-1" {
		t.Errorf("version %q", res.Version)
	}

	req.Orders = req.Orders[:1]
	if v := e.Check(input(t, req)).Verdict; v != rxguardv1.Verdict_VERDICT_WARN {
		t.Errorf("verdict %v, want WARN", v)
	}
	req.Orders = []*rxguardv1.OrderLine{line("ok", "XA10BAD9029A001010199929", 1, 7)}
	req.History = nil
	if res := e.Check(input(t, req)); res.Verdict != rxguardv1.Verdict_VERDICT_PASS || len(res.Findings) != 0 {
		t.Errorf("clean order: %v %v", res.Verdict, res.Findings)
	}
}

func TestSameLevelOrderedByLine(t *testing.T) {
	e := testEngine(t, Config{})
	req := baseRequest()
	req.Hospital.Level = 1
	req.Orders = []*rxguardv1.OrderLine{line("1", level2Drug, 1, 1), line("2", femaleDrug, 1, 1), line("3", injuryDrug, 1, 1)}
	res := e.Check(input(t, req))
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.LineIds[0])
	}
	if !equalStrings(got, []string{"1", "2", "3"}) {
		t.Errorf("BLOCK findings should follow line order, got %v", got)
	}
}

func TestOneFindingPerRuleAndLine(t *testing.T) {
	// Two 主项 rows bind the same 从项: still one DUPLICATE_CHARGE finding.
	c := testContent()
	c.Restrictions = append(c.Restrictions, knowledge.Restriction{Type: knowledge.RuleDuplicateCharge, Code: secondaryDay,
		Name: "急诊诊查费", PrimaryCode: "001103000099999", PrimaryName: "另一主项", Window: knowledge.WindowSameDay, Source: testSource})
	idx, err := Compile(knowledge.Manifest{Version: "t"}, c)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := New(Config{})
	e.Swap(idx)
	req := baseRequest()
	req.Orders = []*rxguardv1.OrderLine{line("p1", primaryItem, 1, 0), line("p2", "001103000099999", 1, 0), line("s", secondaryDay, 1, 0)}
	if n := len(findingsOf(e.Check(input(t, req)), knowledge.RuleDuplicateCharge)); n != 1 {
		t.Errorf("got %d DUPLICATE_CHARGE findings on one line, want 1", n)
	}
}

func TestConfigDisableAndOverride(t *testing.T) {
	req := baseRequest()
	req.Orders = []*rxguardv1.OrderLine{line("1", femaleDrug, 1, 7)}

	off := testEngine(t, Config{Rules: map[knowledge.RuleType]RuleConfig{knowledge.RuleDrugGender: {Disabled: true}}})
	if res := off.Check(input(t, req)); len(res.Findings) != 0 || res.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Errorf("disabled rule fired: %v", res.Findings)
	}
	warn := testEngine(t, Config{Rules: map[knowledge.RuleType]RuleConfig{knowledge.RuleDrugGender: {Action: "WARN"}}})
	res := warn.Check(input(t, req))
	if res.Verdict != rxguardv1.Verdict_VERDICT_WARN || res.Findings[0].Action != rxguardv1.Action_ACTION_WARN || !res.Findings[0].Overridable {
		t.Errorf("override to WARN not applied: %v %v", res.Verdict, res.Findings)
	}

	var unknown *UnknownRuleError
	if _, err := New(Config{Rules: map[knowledge.RuleType]RuleConfig{"NO_SUCH_RULE": {}}}); !errors.As(err, &unknown) {
		t.Errorf("unknown rule type accepted: %v", err)
	}
	var bad *InvalidActionError
	if _, err := New(Config{Rules: map[knowledge.RuleType]RuleConfig{knowledge.RuleDrugAge: {Action: "DENY"}}}); !errors.As(err, &bad) {
		t.Errorf("bad action accepted: %v", err)
	}
}

func TestNoIndexAndUnknownType(t *testing.T) {
	e, _ := New(Config{})
	if e.Check(&Input{Req: baseRequest()}) != nil || e.Explain(femaleDrug, "") != nil {
		t.Error("engine without an index must return nil")
	}
	_, err := Compile(knowledge.Manifest{Version: "x"}, &knowledge.Content{Restrictions: []knowledge.Restriction{{Type: "FUTURE_RULE", Code: "1"}}})
	if err == nil {
		t.Error("a release with an unknown rule type must not compile")
	}
}

func TestExplain(t *testing.T) {
	e := testEngine(t, Config{Rules: map[knowledge.RuleType]RuleConfig{knowledge.RuleItemCourse: {Disabled: true}}})
	resp := e.Explain(courseItem, "")
	if resp.ItemName != "手功能评定" || !resp.CodeWellFormed || len(resp.Entries) != 1 {
		t.Fatalf("explain: %+v", resp)
	}
	en := resp.Entries[0]
	if en.RuleType != "ITEM_COURSE" || en.Enabled || en.Source == "" || en.Summary == "" {
		t.Errorf("entry: %+v", en)
	}
	if r := e.Explain("bad code", ""); r.CodeWellFormed || len(r.Entries) != 1 || r.Entries[0].RuleType != "UNKNOWN_ITEM" {
		t.Errorf("malformed code: %+v", r)
	}
}

func TestWellFormedCode(t *testing.T) {
	for code, want := range map[string]bool{
		"ZD03AAA0043010100166":     true,  // 20 chars
		"XL02BBA326A001010102180":  true,  // 23 chars
		"003402000050000":          true,  // 15 digits
		"00340200005000":           false, // 14
		"YD03AAA0043010100166":     false, // bad prefix
		"xl02bba326a001010102180":  false, // lower case
		"XL02BBA326A0010101021801": false, // 24
		"":                         false,
	} {
		if got := WellFormedCode(code); got != want {
			t.Errorf("WellFormedCode(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestExplainDrug(t *testing.T) {
	e := testEngine(t, Config{})
	types := func(code, name string) map[string]*rxguardv1.KnowledgeEntry {
		m := map[string]*rxguardv1.KnowledgeEntry{}
		for _, en := range e.Explain(code, name).Entries {
			m[en.RuleType+"|"+en.RuleId] = en
		}
		return m
	}
	sim := types(simvastatin, "")
	if en := sim["DRUG_INTERACTION|DRUG_INTERACTION/克拉霉素+辛伐他汀"]; en == nil || en.Action != rxguardv1.Action_ACTION_BLOCK {
		t.Errorf("辛伐他汀 interaction entry: %v", sim)
	}
	if sim["NOT_COVERED|NOT_COVERED/"+simvastatin] == nil || sim["QUANTITY_LIMIT|QUANTITY_LIMIT"] == nil ||
		sim["DUPLICATE_THERAPY|DUPLICATE_THERAPY/辛伐他汀"] == nil {
		t.Errorf("辛伐他汀 entries: %v", sim)
	}
	if en := types(warfarin, "")["DRUG_INTERACTION|DRUG_INTERACTION/华法林+阿司匹林"]; en == nil || en.Action != rxguardv1.Action_ACTION_WARN {
		t.Errorf("华法林 慎用 entry: %v", en)
	}
	ila := types(ilaprazole, "")
	if en := ila["DRUG_INDICATION|DRUG_INDICATION/"+ilaprazole]; en == nil || !strings.Contains(en.Summary, "K26") || en.Text == "" {
		t.Errorf("艾普拉唑 indication entry: %v", en)
	}
	if ila["SECOND_LINE|SECOND_LINE/"+ilaprazole] == nil {
		t.Errorf("艾普拉唑 second-line entry missing")
	}
	// A catalogue entry is found by category and the HIS item name.
	cat := e.Explain("XC07ABD123A001010100002", "美托洛尔缓释片")
	if cat.ItemName != "美托洛尔缓释" || len(cat.Entries) == 0 {
		t.Errorf("catalogue explain: %+v", cat)
	}
	for _, en := range cat.Entries {
		if en.RuleType == "UNKNOWN_ITEM" {
			t.Errorf("a catalogue-known drug is not unknown")
		}
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"九味羌活丸(颗粒)":                     "九味羌活丸",
		"感冒清热颗粒(片、胶囊)":                  "感冒清热颗粒",
		"ω-3甘油三酯(2%)中/长链脂肪乳/氨基酸(16)注射液": "ω-3甘油三酯(2%)中/长链脂肪乳/氨基酸(16)注射液",
		"复方氨基酸(18AA-II)":                "复方氨基酸",
		"美托洛尔":                          "美托洛尔",
	} {
		if got := baseName(in); got != want {
			t.Errorf("baseName(%q) = %q, want %q", in, got, want)
		}
	}
}

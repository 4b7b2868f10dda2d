package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) { sdktest.Main(m) }

// Demo codes (knowledge/data/demo/drugs.csv).
const (
	ceftriaxone  = "XJ01DDD9008B002010199908" // 头孢曲松 限制
	moxifloxacin = "XJ01MAD9026B002010199926" // 莫西沙星 限制
	levofloxacin = "XJ01MAD9030A001010199930" // 左氧氟沙星 限制
	voriconazole = "XJ02ACD9019A001010199919" // 伏立康唑 特殊
	amoxicillin  = "XJ01CAD9028A001010199928" // 阿莫西林 非限制
	warfarin     = "XB01AAD9001A001010199901" // 华法林, not an antibiotic
)

const (
	resident  = rxguardv1.Title_TITLE_RESIDENT
	attending = rxguardv1.Title_TITLE_ATTENDING
	assoc     = rxguardv1.Title_TITLE_ASSOCIATE_CHIEF
	chief     = rxguardv1.Title_TITLE_CHIEF
	noTitle   = rxguardv1.Title_TITLE_UNSPECIFIED
)

func drug(id, code, name string) *rxguardv1.OrderLine {
	return &rxguardv1.OrderLine{LineId: id, ItemCode: code, ItemName: name, Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, UnitPrice: 10}
}

func check(title rxguardv1.Title, rescue bool, lines ...*rxguardv1.OrderLine) *pluginv1.EvaluateRequest {
	return &pluginv1.EvaluateRequest{
		Request: &rxguardv1.CheckOrdersRequest{
			RequestId: "r",
			Scene:     rxguardv1.Scene_SCENE_INPATIENT,
			Encounter: &rxguardv1.Encounter{Id: "e1", Rescue: rescue},
			Physician: &rxguardv1.Physician{Code: "D001", Name: "张医生", Title: title},
			Orders:    lines,
		},
		PhysicianStatus:  &rxguardv1.PhysicianStatus{State: rxguardv1.QualificationState_QUALIFICATION_NORMAL},
		KnowledgeVersion: "demo",
	}
}

// want is the expected finding on one line; contains are substrings of
// message+evidence+suggestion.
type want struct {
	rule     string
	action   rxguardv1.Action
	line     string
	contains []string
}

var (
	block = rxguardv1.Action_ACTION_BLOCK
	warn  = rxguardv1.Action_ACTION_WARN
)

func TestEvaluateDemoTable(t *testing.T) {
	tb, err := loadTable("")
	if err != nil {
		t.Fatal(err)
	}
	c := sdktest.InProcess(t, newPolicy(tb))

	tests := []struct {
		name string
		req  *pluginv1.EvaluateRequest
		want []want
	}{
		{"restricted by attending: ok", check(attending, false, drug("1", ceftriaxone, "注射用头孢曲松钠")), nil},
		{"restricted by chief: ok", check(chief, false, drug("1", moxifloxacin, "盐酸莫西沙星氯化钠注射液")), nil},
		{"restricted by resident: block", check(resident, false, drug("1", ceftriaxone, "注射用头孢曲松钠")),
			[]want{{ruleIDRestricted, block, "1", []string{"注射用头孢曲松钠（头孢曲松）为限制使用级抗菌药物", "需主治医师及以上", "当前开方医师职称：住院医师", "按药品编码 " + ceftriaxone, "第二十四条", "请由主治医师及以上"}}}},
		{"restricted, no title: treated as resident", check(noTitle, false, drug("1", levofloxacin, "左氧氟沙星片")),
			[]want{{ruleIDRestricted, block, "1", []string{"未提供职称（按住院医师处理）"}}}},
		{"restricted, unknown future title: treated as resident", check(rxguardv1.Title(99), false, drug("1", levofloxacin, "")),
			[]want{{ruleIDRestricted, block, "1", []string{"左氧氟沙星为限制使用级", "未提供职称"}}}},
		{"restricted by resident in rescue: warn", check(resident, true, drug("1", ceftriaxone, "头孢曲松")),
			[]want{{ruleIDRestricted, warn, "1", []string{"抢救越级使用：头孢曲松为限制使用级", "第二十八条", "24小时内补办", "详细记录用药指征"}}}},
		{"special by associate chief: ok", check(assoc, false, drug("1", voriconazole, "伏立康唑片")), nil},
		{"special by chief: ok", check(chief, false, drug("1", voriconazole, "伏立康唑片")), nil},
		{"special by attending: block", check(attending, false, drug("1", voriconazole, "伏立康唑片")),
			[]want{{ruleIDSpecial, block, "1", []string{"特殊使用级抗菌药物", "需副主任医师及以上", "当前开方医师职称：主治医师", "会诊"}}}},
		{"special by resident in rescue: warn", check(resident, true, drug("1", voriconazole, "伏立康唑片")),
			[]want{{ruleIDSpecial, warn, "1", []string{"抢救越级使用", "副主任医师及以上医师补签"}}}},
		{"unrestricted by resident: ok", check(resident, false, drug("1", amoxicillin, "阿莫西林胶囊")), nil},
		{"not an antibiotic: nothing", check(resident, false, drug("1", warfarin, "华法林钠片")), nil},
		{"unknown code and name: nothing", check(resident, false, drug("1", "XZ99ZZZ9999Z999999999999", "某某片")), nil},
		{"code is case-insensitive", check(resident, false, drug("1", strings.ToLower(ceftriaxone), "")),
			[]want{{ruleIDRestricted, block, "1", nil}}},
		{"by generic name when the code is not in the table", check(attending, false, drug("7", "XJ01DHM0000B002010100000", "注射用美罗培南")),
			[]want{{ruleIDSpecial, block, "7", []string{"注射用美罗培南（美罗培南）为特殊使用级", "按通用名“美罗培南”", "XJ01DHM0000B002010100000 不在目录中"}}}},
		{"by name across salt words", check(resident, false, drug("1", "HISLOCAL001", "注射用哌拉西林钠他唑巴坦钠 4.5g")),
			[]want{{ruleIDRestricted, block, "1", []string{"哌拉西林他唑巴坦"}}}},
		{"name match only for drug lines", check(resident, false, &rxguardv1.OrderLine{LineId: "1", ItemCode: "121300001000000", ItemName: "万古霉素血药浓度测定", Kind: rxguardv1.ItemKind_ITEM_SERVICE}), nil},
		{"one finding per offending line", check(resident, false,
			drug("1", ceftriaxone, "头孢曲松"), drug("2", amoxicillin, "阿莫西林"), drug("3", voriconazole, "伏立康唑"), drug("4", warfarin, "华法林")),
			[]want{{ruleIDRestricted, block, "1", nil}, {ruleIDSpecial, block, "3", nil}}},
		{"no orders", check(resident, false), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFindings(t, sdktest.Evaluate(t, c, tt.req), tt.want)
		})
	}
}

func assertFindings(t *testing.T, got []*rxguardv1.Finding, want []want) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d findings, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		f := got[i]
		if f.GetRuleId() != w.rule || f.GetAction() != w.action || f.GetRuleType() != ruleType ||
			len(f.GetLineIds()) != 1 || f.GetLineIds()[0] != w.line {
			t.Errorf("finding %d = %s %s %s %v, want %s %s %s [%s]", i, f.GetRuleId(), f.GetRuleType(), f.GetAction(), f.GetLineIds(), w.rule, ruleType, w.action, w.line)
		}
		text := f.GetMessage() + "\n" + f.GetEvidence() + "\n" + f.GetSuggestion()
		for _, s := range w.contains {
			if !strings.Contains(text, s) {
				t.Errorf("finding %d does not contain %q:\n%s", i, s, text)
			}
		}
		if f.GetMessage() == "" || f.GetEvidence() == "" || f.GetSuggestion() == "" {
			t.Errorf("finding %d has an empty message, evidence or suggestion: %v", i, f)
		}
	}
}

func TestLongestNameWins(t *testing.T) {
	tb, err := parseTable([]byte("generic_name,tier\n头孢哌酮,限制使用级\n头孢哌酮舒巴坦,特殊使用级\n"), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	c := sdktest.InProcess(t, newPolicy(tb))
	assertFindings(t, sdktest.Evaluate(t, c, check(attending, false, drug("1", "", "注射用头孢哌酮钠舒巴坦钠"))),
		[]want{{ruleIDSpecial, block, "1", []string{"头孢哌酮舒巴坦"}}})
	assertFindings(t, sdktest.Evaluate(t, c, check(attending, false, drug("1", "", "注射用头孢哌酮钠"))), nil)
	assertFindings(t, sdktest.Evaluate(t, c, check(resident, false, drug("1", "", "注射用头孢哌酮钠"))),
		[]want{{ruleIDRestricted, block, "1", nil}})
}

func TestDemoTableHasDemoAntibiotics(t *testing.T) {
	tb, err := loadTable("")
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]tier{
		ceftriaxone: tierRestricted, moxifloxacin: tierRestricted, levofloxacin: tierRestricted,
		voriconazole: tierSpecial, amoxicillin: tierUnrestricted,
		"XJ01FAD9005A001010199905": tierUnrestricted, // 克拉霉素
		"XJ01XDD9003A001010199903": tierUnrestricted, // 甲硝唑
	} {
		if e, ok := tb.byCode[code]; !ok || e.tier != want {
			t.Errorf("demo table: %s = %v (found %v), want %v", code, e.tier, ok, want)
		}
	}
}

func TestParseTable(t *testing.T) {
	tests := []struct {
		name, csv string
		err       string // substring; "" = ok
		codes     int
		names     int
	}{
		{name: "minimal", csv: "code,generic_name,tier\nA1,甲,限制使用级\n", codes: 1, names: 1},
		{name: "excel BOM, chinese header, extra column, any order",
			csv: "\uFEFF备注,分级,通用名,药品编码\nx,特殊使用级,乙,B1\n,非限制,丙,\n", codes: 1, names: 2},
		{name: "comments and blank rows", csv: "# c\ncode,generic_name,tier\n\n,,\nA1,,限制\n", codes: 1},
		{name: "short tiers", csv: "code,tier\nA,非限制\nB,限制\nC,特殊\n", codes: 3},
		{name: "same name on two codes", csv: "code,generic_name,tier\nA,甲,限制\nB,甲,限制\n", codes: 2, names: 1},
		{name: "bad tier", csv: "code,generic_name,tier\nA1,甲,三级\n", err: `:2: tier "三级"`},
		{name: "no code nor name", csv: "code,generic_name,tier\n,,限制\n", err: ":2: row has neither"},
		{name: "duplicate code", csv: "code,tier\nA1,限制\na1,特殊\n", err: ":3: code A1 already on line 2"},
		{name: "conflicting name", csv: "generic_name,tier\n头孢哌酮钠,限制\n头孢哌酮,特殊\n", err: "on line 2"},
		{name: "no tier column", csv: "code,generic_name\nA,甲\n", err: "no tier column"},
		{name: "no key column", csv: "tier\n限制\n", err: "neither a code nor a generic_name column"},
		{name: "empty", csv: "", err: "empty table"},
		{name: "header only", csv: "code,tier\n", err: "no rows"},
		{name: "GBK", csv: "code,generic_name,tier\nA,\xbc\xd7,\xcf\xde\xd6\xc6\n", err: "not UTF-8"},
		{name: "bad quoting", csv: "code,tier\n\"A,限制\n", err: "t.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := parseTable([]byte(tt.csv), "t.csv")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tb.byCode) != tt.codes || len(tb.byName) != tt.names {
				t.Fatalf("codes %d names %d, want %d %d", len(tb.byCode), len(tb.byName), tt.codes, tt.names)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	tb, err := loadTable("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := sdktest.InProcess(t, newPolicy(tb)).Describe(context.Background(), &pluginv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != "antibiotic-tier" || len(d.GetRuleIds()) != 2 || !strings.Contains(d.GetDescription(), "内置演示目录") {
		t.Fatalf("Describe = %v", d)
	}
}

// The real executable over go-plugin, with the built-in table and with a
// hospital table given by -table.
func TestBinary(t *testing.T) {
	c, _ := sdktest.Binary(t, ".")
	assertFindings(t, sdktest.Evaluate(t, c, check(attending, false, drug("1", voriconazole, "伏立康唑片"))),
		[]want{{ruleIDSpecial, block, "1", []string{"内置演示目录"}}})

	path := filepath.Join(t.TempDir(), "abx.csv")
	if err := os.WriteFile(path, []byte("code,generic_name,tier\n"+voriconazole+",伏立康唑,限制使用级\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, kill := sdktest.Binary(t, ".", "-table", path)
	defer kill()
	// The hospital made voriconazole 限制使用级: an attending may prescribe it,
	// and ceftriaxone is not in this table at all.
	assertFindings(t, sdktest.Evaluate(t, c, check(attending, false, drug("1", voriconazole, ""), drug("2", ceftriaxone, ""))), nil)
	assertFindings(t, sdktest.Evaluate(t, c, check(resident, false, drug("1", voriconazole, ""))),
		[]want{{ruleIDRestricted, block, "1", []string{path}}})
}

// A bad table keeps the plugin from starting: the host sees it at once.
func TestBinaryBadTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(path, []byte("code,tier\nA,三级\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := sdktest.Dial(t, sdktest.Build(t, "."), "-table", path)
	if err == nil {
		t.Fatal("plugin started with a bad table")
	}
	t.Log(err)
}

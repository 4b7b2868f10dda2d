package engine

import (
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Codes used by the hand-made test release.
const (
	femaleDrug    = "ZD03AAA0043010100166" // 艾附暖宫丸 (第一批: 女)
	maleItem      = "002101030280000"      // 阴茎海绵体造影 (男)
	childDrug     = "ZA04CAE0023010100166"
	infantItem    = "001301000010000"
	newbornItem   = "003112020150000"
	workAgeItem   = "003402000320000"
	injuryDrug    = "ZH01AAB0066010100716"
	inpatientDrug = "XB05BAU012B002010102180"
	emergencyDrug = "ZA01AAA0001010100001"
	level2Drug    = "ZC01AAA0042010105549"
	level3Drug    = "XS01LAL328B002010178679"
	courseDrugA   = "XB01AXA223B002010100156" // 奥扎格雷钠注射液, 14 days
	courseDrugB   = "XB01AXA223B002010101157" // same generic, other maker
	dailyItem     = "001109000010000"         // 普通病房床位费, 1/日
	hourlyItem    = "001103000020000"         // 24 小时/日
	periodItem    = "002503020030000"         // 糖化血红蛋白, 1 per 15 days
	courseItem    = "003402000050000"         // 手功能评定 90 days, interval 14
	primaryItem   = "001103000010000"         // 急诊监护费
	secondaryDay  = "001102000030000"         // 急诊诊查费 单日
	secondaryEnc  = "001102000030001"
	secondary6h   = "001102000030002"
	secondaryHour = "001102000030003"
	surgeryA      = "003310010140000"
	surgeryB      = "003310010160000"
	surgeryOther  = "003313030300000"
	surgeryMulti  = "003310030080000" // 肠粘连松解术: 胃肠 and 女性生殖系统
)

var testSource = knowledge.Source{Batch: "测试批", File: "test.xlsx", Sheet: "Sheet1", Row: 2}

// Demo-table drugs of the test release.
const (
	metformin    = "XA10BAD9029A001010199929" // 二甲双胍 甲
	sildenafil   = "XG04BED9012A001010199912" // 西地那非, no class: not covered
	moxifloxacin = "XJ01MAD9026B002010199926" // 莫西沙星, ICD J01;J15;J18…
	ilaprazole   = "XA02BCD9025A001010199925" // 艾普拉唑, second line, ICD K26;K21
	textOnlyDrug = "XB01AFD9027A001010199927" // restriction text, no ICD
	simvastatin  = "XC10AAD9004A001010199904" // 辛伐他汀
	clarithro    = "XJ01FAD9005A001010199905" // 克拉霉素 (禁忌 with 辛伐他汀)
	warfarin     = "XB01AAD9001A001010199901" // 华法林
	aspirin      = "XB01ACD9002A001010199902" // 阿司匹林 (慎用 with 华法林)
	aspirin2     = "XB01ACD9002A001010299902" // 阿司匹林, another product
)

var demoSource = knowledge.Source{Batch: "演示数据", File: "drugs.csv", Row: 2}

func testDrugs() []knowledge.Drug {
	return []knowledge.Drug{
		{Code: metformin, GenericName: "二甲双胍", Class: "甲", Source: demoSource},
		{Code: sildenafil, GenericName: "西地那非", Source: demoSource},
		{Code: moxifloxacin, GenericName: "莫西沙星", Class: "乙", RestrictionText: "限有明确药敏试验证据的如下感染：急性窦炎、下呼吸道感染、社区获得性肺炎。",
			IndicationICD: []string{"J01", "J15", "J18"}, Source: demoSource},
		{Code: ilaprazole, GenericName: "艾普拉唑", Class: "乙", RestrictionText: "限有十二指肠溃疡、反流性食管炎诊断患者的二线用药。",
			IndicationICD: []string{"K26", "K21"}, SecondLine: true, Source: demoSource},
		{Code: textOnlyDrug, GenericName: "艾多沙班", Class: "乙", RestrictionText: "限华法林治疗控制不良的患者。", Source: demoSource},
		{Code: simvastatin, GenericName: "辛伐他汀", Class: "甲", Source: demoSource},
		{Code: clarithro, GenericName: "克拉霉素", Class: "乙", Source: demoSource},
		{Code: warfarin, GenericName: "华法林", Class: "甲", Source: demoSource},
		{Code: aspirin, GenericName: "阿司匹林", Class: "甲", Source: demoSource},
		{Code: aspirin2, GenericName: "阿司匹林", Class: "甲", Source: demoSource},
	}
}

func testContent() *knowledge.Content {
	rs := []knowledge.Restriction{
		{Type: knowledge.RuleDrugGender, Code: femaleDrug, Name: "艾附暖宫丸", Description: "理气补血，暖宫调经。", Gender: knowledge.GenderFemale},
		{Type: knowledge.RuleItemGender, Code: maleItem, Name: "阴茎海绵体造影", Gender: knowledge.GenderMale},
		{Type: knowledge.RuleDrugAge, Code: childDrug, Name: "儿童清肺口服液", AgeBand: knowledge.AgeChild},
		{Type: knowledge.RuleItemAge, Code: infantItem, Name: "婴幼儿健康体检", AgeBand: knowledge.AgeInfant},
		{Type: knowledge.RuleItemAge, Code: newbornItem, Name: "新生儿行为测定", AgeBand: knowledge.AgeNewborn},
		{Type: knowledge.RuleItemAge, Code: workAgeItem, Name: "职业功能训练", AgeBand: knowledge.AgeWorkingAge},
		{Type: knowledge.RuleInsuranceType, Code: injuryDrug, Name: "疤痕止痒软化膏", Insurance: "工伤"},
		{Type: knowledge.RuleEncounterType, Code: inpatientDrug, Name: "脂肪乳注射液"},
		{Type: knowledge.RuleEncounterType, Code: emergencyDrug, Name: "安宫牛黄丸", Description: "限急诊或住院患者。", AllowEmergency: true},
		{Type: knowledge.RuleHospitalLevel, Code: level2Drug, Name: "艾迪注射液", MinLevel: 2},
		{Type: knowledge.RuleHospitalLevel, Code: level3Drug, Name: "雷珠单抗注射液", MinLevel: 3},
		{Type: knowledge.RulePaymentCourse, Code: courseDrugA, Name: "奥扎格雷钠注射液", CourseDays: 14},
		{Type: knowledge.RulePaymentCourse, Code: courseDrugB, Name: "奥扎格雷钠注射液", CourseDays: 14},
		{Type: knowledge.RuleItemFrequency, Code: dailyItem, Name: "普通病房床位费", DailyLimit: 1, Unit: "日"},
		{Type: knowledge.RuleItemFrequency, Code: hourlyItem, Name: "心电监测", DailyLimit: 24, Unit: "小时"},
		{Type: knowledge.RuleItemPeriodFrequency, Code: periodItem, Name: "糖化血红蛋白测定", PeriodCount: 1, PeriodDays: 15},
		{Type: knowledge.RuleItemCourse, Code: courseItem, Name: "手功能评定", CourseDays: 90, IntervalDays: 14},
		{Type: knowledge.RuleDuplicateCharge, Code: secondaryDay, Name: "急诊诊查费", PrimaryCode: primaryItem, PrimaryName: "急诊监护费", Window: knowledge.WindowSameDay},
		{Type: knowledge.RuleDuplicateCharge, Code: secondaryEnc, Name: "床位费", PrimaryCode: primaryItem, PrimaryName: "急诊监护费", Window: knowledge.WindowSameEncounter},
		{Type: knowledge.RuleDuplicateCharge, Code: secondary6h, Name: "护理费", PrimaryCode: primaryItem, PrimaryName: "急诊监护费", Window: knowledge.WindowSixHours},
		{Type: knowledge.RuleDuplicateCharge, Code: secondaryHour, Name: "吸氧", PrimaryCode: primaryItem, PrimaryName: "急诊监护费", Window: knowledge.WindowSameHour},
		{Type: knowledge.RuleSurgeryGroup, Code: surgeryA, Name: "食管癌根治术", Groups: []string{"胃肠手术组"}},
		{Type: knowledge.RuleSurgeryGroup, Code: surgeryB, Name: "食管胃吻合口狭窄切开成形术", Groups: []string{"胃肠手术组"}},
		{Type: knowledge.RuleSurgeryGroup, Code: surgeryMulti, Name: "肠粘连松解术", Groups: []string{"胃肠手术组", "女性生殖系统手术组"}},
		{Type: knowledge.RuleSurgeryGroup, Code: surgeryOther, Name: "宫颈悬吊术", Groups: []string{"女性生殖系统手术组"}},
	}
	for i := range rs {
		rs[i].Source = testSource
	}
	return &knowledge.Content{
		Restrictions: rs,
		Drugs:        testDrugs(),
		Interactions: []knowledge.Interaction{
			{DrugA: "辛伐他汀", DrugB: "克拉霉素", Severity: "禁忌", Reason: "横纹肌溶解风险", Source: demoSource},
			{DrugA: "华法林", DrugB: "阿司匹林", Severity: "慎用", Reason: "出血风险增加", Source: demoSource},
		},
		ChronicDiagnoses: []knowledge.ChronicDiagnosis{{Prefix: "I10", Name: "高血压"}, {Prefix: "E11", Name: "2型糖尿病"}},
		Physicians:       testPhysicians(),
		PhysicianEvents:  testPhysicianEvents(),
		Catalogue: []knowledge.CatalogueDrug{
			{Sheet: "西药部分", Category: "XC07AB", Class: "甲", Number: "200", Name: "美托洛尔", DosageForm: "口服常释剂型", Source: testSource},
			{Sheet: "西药部分", Category: "XA10BA", Class: "甲", Number: "300", Name: "苯乙双胍、丁二胍Ⅱ", DosageForm: "口服常释剂型", Source: testSource},
			{Sheet: "西药部分", Category: "XC07AB", Class: "乙", Number: "201", Name: "美托洛尔缓释", Remark: "限高血压患者的二线治疗。",
				Structured: knowledge.CatalogueRestriction{SecondLine: true, DiagnosisRestricted: true}, Source: testSource},
		},
	}
}

func testEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	idx, err := Compile(knowledge.Manifest{Version: "test-1"}, testContent())
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(idx)
	return e
}

const checkTime = "2026-11-22T10:00:00+08:00"

// baseRequest is an insured adult male outpatient at a level-3 hospital.
func baseRequest() *rxguardv1.CheckOrdersRequest {
	return &rxguardv1.CheckOrdersRequest{
		RequestId: "r1",
		Scene:     rxguardv1.Scene_SCENE_OUTPATIENT,
		Hospital:  &rxguardv1.Hospital{Code: "H1", Level: 3},
		Patient: &rxguardv1.Patient{Id: "P1", Gender: rxguardv1.Gender_GENDER_MALE, BirthDate: "1980-05-01",
			InsuranceType: rxguardv1.InsuranceType_INSURANCE_EMPLOYEE},
		Encounter: &rxguardv1.Encounter{Id: "E1", Type: rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT},
		Physician: &rxguardv1.Physician{Code: "D370800000001"},
		CheckTime: checkTime,
	}
}

func line(id, code string, qty float64, days int32) *rxguardv1.OrderLine {
	return &rxguardv1.OrderLine{LineId: id, ItemCode: code, Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: qty, Days: days}
}

func hist(code, at, enc string, qty float64, days int32) *rxguardv1.HistoryOrder {
	return &rxguardv1.HistoryOrder{ItemCode: code, Time: at, EncounterId: enc, Quantity: qty, Days: days}
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// input parses the request's times the way the validator does.
func input(t testing.TB, req *rxguardv1.CheckOrdersRequest) *Input {
	t.Helper()
	in := &Input{Req: req, CheckTime: mustTime(t, req.CheckTime)}
	if b := req.GetPatient().GetBirthDate(); b != "" {
		bd, err := time.ParseInLocation("2006-01-02", b, Shanghai)
		if err != nil {
			t.Fatal(err)
		}
		in.BirthDate = bd
	}
	for _, o := range req.Orders {
		var tm time.Time
		if o.StartTime != "" {
			tm = mustTime(t, o.StartTime)
		}
		in.OrderTimes = append(in.OrderTimes, tm)
	}
	for _, h := range req.History {
		in.HistoryTimes = append(in.HistoryTimes, mustTime(t, h.Time))
	}
	return in
}

// findingsOf returns the findings of one rule type.
func findingsOf(res *Result, typ knowledge.RuleType) []*rxguardv1.Finding {
	var out []*rxguardv1.Finding
	for _, f := range res.Findings {
		if f.RuleType == string(typ) {
			out = append(out, f)
		}
	}
	return out
}

// ruleCase is one row of a rule type's table test: a request mutation and
// the lines (in order) the rule type must name, nil for "does not fire".
type ruleCase struct {
	name   string
	mutate func(r *rxguardv1.CheckOrdersRequest)
	lines  [][]string // line_ids of each expected finding
	action rxguardv1.Action
}

func runRuleCases(t *testing.T, typ knowledge.RuleType, cases []ruleCase) {
	t.Helper()
	runRuleCasesOn(t, testEngine(t, Config{}), typ, cases)
}

// runRuleCasesOn is runRuleCases on an engine of the test's own making
// (another configuration or release).
func runRuleCasesOn(t *testing.T, e *Engine, typ knowledge.RuleType, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := baseRequest()
			c.mutate(req)
			res := e.Check(input(t, req))
			got := findingsOf(res, typ)
			if len(got) != len(c.lines) {
				for _, f := range res.Findings {
					t.Logf("finding %s %v %s", f.RuleType, f.LineIds, f.Message)
				}
				t.Fatalf("%s findings: got %d, want %d", typ, len(got), len(c.lines))
			}
			for i, f := range got {
				if !equalStrings(f.LineIds, c.lines[i]) {
					t.Errorf("finding %d lines = %v, want %v", i, f.LineIds, c.lines[i])
				}
				want := c.action
				if want == rxguardv1.Action_ACTION_UNSPECIFIED {
					want, _ = DefaultAction(typ)
				}
				if f.Action != want {
					t.Errorf("finding %d action = %v, want %v", i, f.Action, want)
				}
				if f.Message == "" || f.Evidence == "" || f.Suggestion == "" {
					t.Errorf("finding %d lacks message/evidence/suggestion: %+v", i, f)
				}
				if f.RuleId == "" || f.Source != "builtin" {
					t.Errorf("finding %d rule_id %q source %q", i, f.RuleId, f.Source)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func orders(ls ...*rxguardv1.OrderLine) func(r *rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) { r.Orders = ls }
}

func selfPay(l *rxguardv1.OrderLine) *rxguardv1.OrderLine { l.SelfPay = true; return l }

func one(id string) [][]string { return [][]string{{id}} }

// The demo registry and status feed (shared/data/demo), as the rules see them.
func testPhysicians() []knowledge.PhysicianRecord {
	var out []knowledge.PhysicianRecord
	for i, name := range []string{"张明", "李华", "王强", "赵丽", "陈静", "刘洋", "孙伟"} {
		out = append(out, knowledge.PhysicianRecord{Code: "D37080000000" + string(rune('1'+i)), Name: name})
	}
	return out
}

func testPhysicianEvents() []knowledge.PhysicianEvent {
	e := func(seq int64, code, typ, date string, points int, until string) knowledge.PhysicianEvent {
		return knowledge.PhysicianEvent{Seq: seq, PhysicianCode: "D37080000000" + code, Type: typ, Date: date, Points: points, Until: until}
	}
	return []knowledge.PhysicianEvent{
		e(1, "7", "POINTS_ADDED", "2025-08-12", 6, ""),
		e(2, "7", "POINTS_ADDED", "2025-11-03", 4, ""),
		e(3, "2", "POINTS_ADDED", "2026-04-18", 4, ""),
		e(4, "2", "POINTS_ADDED", "2026-09-02", 3, ""),
		e(5, "3", "POINTS_ADDED", "2026-06-10", 5, ""),
		e(6, "3", "POINTS_ADDED", "2026-09-20", 4, ""),
		e(7, "3", "SUSPENDED", "2026-10-01", 0, "2027-01-31"),
		e(8, "4", "POINTS_ADDED", "2026-06-01", 12, ""),
		e(9, "4", "TERMINATED", "2026-06-01", 0, "2029-06-01"),
		e(10, "5", "POINTS_ADDED", "2026-01-15", 9, ""),
		e(11, "5", "SUSPENDED", "2026-03-01", 0, "2026-05-31"),
		e(12, "5", "POINTS_REDUCED", "2026-07-01", 3, ""),
	}
}

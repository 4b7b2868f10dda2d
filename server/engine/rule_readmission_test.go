package engine

import (
	"errors"
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Items of the test release's mutual-recognition list (the demo list's
// windows).
const (
	ctItem  = "002103000010000" // X线计算机体层(CT)平扫, 30 days, 省内互认
	cbcItem = "002501010150000" // 血细胞分析(血常规), 7 days, 医联体内互认
)

var (
	recognitionSource = knowledge.Source{Batch: "演示数据", File: "exam-recognition.csv", Row: 5}
	outpatientSource  = knowledge.Source{Batch: "演示数据", File: "outpatient-manageable.csv", Row: 5}
)

// encounterEngine is testEngine with the two encounter classes in the
// release.
func encounterEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	c := testContent()
	c.Recognition = []knowledge.RecognitionItem{
		{Code: ctItem, Name: "X线计算机体层(CT)平扫", WindowDays: 30, Scope: "省内互认", Source: recognitionSource},
		{Code: cbcItem, Name: "血细胞分析(血常规)", WindowDays: 7, Scope: "医联体内互认", Source: recognitionSource},
	}
	c.OutpatientConditions = []knowledge.OutpatientCondition{
		{Prefix: "J00", Name: "急性鼻咽炎[感冒]", Source: outpatientSource},
		{Prefix: "J06", Name: "多部位和未特指部位的急性上呼吸道感染", Source: outpatientSource},
		{Prefix: "M54", Name: "背痛", Source: outpatientSource},
	}
	idx, err := Compile(knowledge.Manifest{Version: "test-enc"}, c)
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

// encounterLevel is the line list of one finding that names no line.
var encounterLevel = [][]string{nil}

// admission makes the base request a 住院登记 of an inpatient stay admitted
// on the check day (2026-11-22) with primary diagnosis J18.900 and no order
// lines, and sets its previous encounters.
func admission(prev ...*rxguardv1.PreviousEncounter) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		r.Scene = rxguardv1.Scene_SCENE_ADMISSION
		r.Encounter = &rxguardv1.Encounter{Id: "E2", Type: rxguardv1.EncounterType_ENCOUNTER_INPATIENT, AdmitDate: "2026-11-22"}
		r.Diagnoses = []*rxguardv1.Diagnosis{{Code: "J18.900", Name: "肺炎", Primary: true}}
		r.Orders = nil
		r.PreviousEncounters = prev
	}
}

// stay is a previous unplanned inpatient stay at this hospital (no
// hospital_code) with primary diagnosis J18.000, discharged on discharged.
func stay(id, admitted, discharged string) *rxguardv1.PreviousEncounter {
	return &rxguardv1.PreviousEncounter{Id: id, Type: rxguardv1.EncounterType_ENCOUNTER_INPATIENT,
		AdmitDate: admitted, DischargeDate: discharged, PrimaryDiagnosis: "J18.000"}
}

func with(p *rxguardv1.PreviousEncounter, f func(*rxguardv1.PreviousEncounter)) *rxguardv1.PreviousEncounter {
	f(p)
	return p
}

func TestReadmission(t *testing.T) {
	tenDays := stay("E1", "2026-11-01", "2026-11-12")
	cases := []ruleCase{
		{name: "10 days after discharge, same category fires", mutate: admission(tenDays), lines: encounterLevel},
		{name: "day N=15 fires", mutate: admission(stay("E1", "2026-11-01", "2026-11-07")), lines: encounterLevel},
		{name: "day N+1=16 does not", mutate: admission(stay("E1", "2026-11-01", "2026-11-06"))},
		{name: "discharged the same day (day 0) fires", mutate: admission(stay("E1", "2026-11-10", "2026-11-22")), lines: encounterLevel},
		{name: "discharged after this admission does not", mutate: admission(stay("E1", "2026-11-10", "2026-11-23"))},
		{name: "no discharge date does not", mutate: admission(stay("E1", "2026-11-10", ""))},
		{name: "previous admit date unknown still fires", mutate: admission(stay("E1", "", "2026-11-12")), lines: encounterLevel},
		{name: "self-pay patient does not", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.InsuranceType = rxguardv1.InsuranceType_INSURANCE_SELF_PAY
		})},
		{name: "planned readmission does not", mutate: admission(with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) { p.Planned = true }))},
		{name: "Z51 primary diagnosis does not", mutate: all(
			admission(with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) { p.PrimaryDiagnosis = "Z51.102" })),
			dxPrimary("Z51.102"))},
		{name: "Z51 only on the previous stay still compares categories", mutate: admission(
			with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) { p.PrimaryDiagnosis = "Z51.102" }))},
		{name: "rescue does not", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.Rescue = true })},
		{name: "another hospital does not", mutate: admission(with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) { p.HospitalCode = "H2" }))},
		{name: "this hospital named explicitly fires", mutate: admission(with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) { p.HospitalCode = "H1" })), lines: encounterLevel},
		{name: "different ICD category does not", mutate: admission(with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) { p.PrimaryDiagnosis = "J15.900" }))},
		{name: "category compared after normalising", mutate: admission(with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) { p.PrimaryDiagnosis = " j18900 " })), lines: encounterLevel},
		{name: "outpatient previous encounter does not", mutate: admission(with(stay("E1", "2026-11-01", "2026-11-12"), func(p *rxguardv1.PreviousEncounter) {
			p.Type = rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT
		}))},
		{name: "the same encounter listed as previous does not", mutate: admission(stay("E2", "2026-11-01", "2026-11-12"))},
		{name: "no primary diagnosis does not", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) { r.Diagnoses[0].Primary = false })},
		{name: "secondary diagnosis of the same category does not", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) {
			r.Diagnoses = []*rxguardv1.Diagnosis{{Code: "I63.900", Primary: true}, {Code: "J18.900"}}
		})},
		{name: "no admit date does not", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.AdmitDate = "" })},
		{name: "outpatient encounter does not", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) {
			r.Encounter.Type = rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT
		})},
		{name: "inpatient orders scene fires, naming no line", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) {
			r.Scene = rxguardv1.Scene_SCENE_INPATIENT
			r.Orders = []*rxguardv1.OrderLine{line("1", metformin, 1, 3)}
		}), lines: encounterLevel},
		{name: "discharge scene does not", mutate: all(admission(tenDays), func(r *rxguardv1.CheckOrdersRequest) {
			r.Scene = rxguardv1.Scene_SCENE_DISCHARGE
			r.Orders = []*rxguardv1.OrderLine{line("1", metformin, 1, 3)}
		})},
		{name: "two matching stays give one finding", mutate: admission(stay("E0", "2026-10-20", "2026-11-08"), tenDays), lines: encounterLevel},
	}
	runRuleCasesOn(t, encounterEngine(t, Config{}), knowledge.RuleReadmission, cases)
}

func dxPrimary(code string) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		r.Diagnoses = []*rxguardv1.Diagnosis{{Code: code, Primary: true}}
	}
}

func TestReadmissionMessageQuotesThePreviousStay(t *testing.T) {
	e := encounterEngine(t, Config{})
	req := baseRequest()
	// The closer of two matching stays is the one quoted.
	admission(stay("E0", "2026-10-20", "2026-11-08"), stay("E1", "2026-11-01", "2026-11-12"))(req)
	got := findingsOf(e.Check(input(t, req)), knowledge.RuleReadmission)
	if len(got) != 1 {
		t.Fatalf("READMISSION findings: %d, want 1", len(got))
	}
	f := got[0]
	for _, want := range []string{"E1", "2026-11-01", "2026-11-12", "J18.000", "第10天", "2026-11-22", "肺炎（J18.900）", "J18", "分解住院"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message lacks %q: %s", want, f.Message)
		}
	}
	if f.RuleId != "READMISSION/E1" || len(f.LineIds) != 0 || f.Action != rxguardv1.Action_ACTION_WARN || !f.Overridable {
		t.Errorf("finding %+v: want rule_id READMISSION/E1, no line, an overridable WARN", f)
	}
	for _, want := range []string{"previous_encounters", "E1", "2026-11-12", "N=15", "test-enc"} {
		if !strings.Contains(f.Evidence, want) {
			t.Errorf("evidence lacks %q: %s", want, f.Evidence)
		}
	}
	if !strings.Contains(f.Suggestion, "planned") || !strings.Contains(f.Suggestion, "计划性再入院") {
		t.Errorf("suggestion should say how a planned readmission passes: %s", f.Suggestion)
	}

	req = baseRequest()
	admission(stay("E1", "2026-11-10", "2026-11-22"))(req)
	if f := findingsOf(e.Check(input(t, req)), knowledge.RuleReadmission); len(f) != 1 || !strings.Contains(f[0].Message, "出院当天") {
		t.Errorf("day 0: want one finding saying 出院当天, got %v", f)
	}
}

func TestReadmissionWindowConfigurable(t *testing.T) {
	days := func(n int) Config {
		return Config{Rules: map[knowledge.RuleType]RuleConfig{knowledge.RuleReadmission: {WindowDays: &n}}}
	}
	twenty := admission(stay("E1", "2026-10-20", "2026-11-02")) // 20 days
	ten := admission(stay("E1", "2026-11-01", "2026-11-12"))    // 10 days
	runRuleCasesOn(t, encounterEngine(t, days(30)), knowledge.RuleReadmission, []ruleCase{
		{name: "N=30: 20 days fires", mutate: twenty, lines: encounterLevel},
		{name: "N=30: day 30 fires", mutate: admission(stay("E1", "2026-10-01", "2026-10-23")), lines: encounterLevel},
		{name: "N=30: day 31 does not", mutate: admission(stay("E1", "2026-10-01", "2026-10-22"))},
	})
	runRuleCasesOn(t, encounterEngine(t, days(7)), knowledge.RuleReadmission, []ruleCase{
		{name: "N=7: 10 days does not", mutate: ten},
		{name: "N=7: day 7 fires", mutate: admission(stay("E1", "2026-11-01", "2026-11-15")), lines: encounterLevel},
	})
	runRuleCasesOn(t, encounterEngine(t, Config{}), knowledge.RuleReadmission, []ruleCase{
		{name: "default N=15: 20 days does not", mutate: twenty},
	})
	e := encounterEngine(t, days(30))
	req := baseRequest()
	twenty(req)
	if f := findingsOf(e.Check(input(t, req)), knowledge.RuleReadmission); len(f) != 1 || !strings.Contains(f[0].Message, "30天内") || !strings.Contains(f[0].Evidence, "N=30") {
		t.Errorf("N=30 finding should quote the configured window: %v", f)
	}
}

func TestReadmissionWindowValidated(t *testing.T) {
	n := func(v int) *int { return &v }
	tests := []struct {
		name string
		typ  knowledge.RuleType
		days *int
		ok   bool
		want string
	}{
		{"1 is the least", knowledge.RuleReadmission, n(1), true, ""},
		{"365 is the most", knowledge.RuleReadmission, n(365), true, ""},
		{"0 refused", knowledge.RuleReadmission, n(0), false, "engine.rules.READMISSION.window_days 0: must be 1 to 365 days"},
		{"366 refused", knowledge.RuleReadmission, n(366), false, "window_days 366"},
		{"negative refused", knowledge.RuleReadmission, n(-15), false, "window_days -15"},
		{"other rule types have none", knowledge.RuleRepeatExam, n(30), false, "engine.rules.REPEAT_EXAM.window_days 30: only READMISSION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{Rules: map[knowledge.RuleType]RuleConfig{tt.typ: {WindowDays: tt.days}}})
			if tt.ok {
				if err != nil || e.ReadmissionDays() != *tt.days {
					t.Fatalf("New: %v, window %d; want window %d", err, e.ReadmissionDays(), *tt.days)
				}
				return
			}
			var we *InvalidWindowError
			if !errors.As(err, &we) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v; want an InvalidWindowError containing %q", err, tt.want)
			}
		})
	}
	if e, err := New(Config{}); err != nil || e.ReadmissionDays() != DefaultReadmissionDays {
		t.Errorf("default window: %v, %d; want %d", err, e.ReadmissionDays(), DefaultReadmissionDays)
	}
}

// An admission check carries no order lines: the engine must judge it
// without touching orders[0], and encounter-level findings of the same
// action rank after line findings.
func TestAdmissionWithoutOrdersAndRanking(t *testing.T) {
	e := encounterEngine(t, Config{})
	req := baseRequest()
	admission(stay("E1", "2026-11-01", "2026-11-12"))(req)
	req.Diagnoses = []*rxguardv1.Diagnosis{{Code: "J06.900", Name: "急性上呼吸道感染", Primary: true}}
	req.PreviousEncounters[0].PrimaryDiagnosis = "J06.901"
	res := e.Check(input(t, req))
	if res.Verdict != rxguardv1.Verdict_VERDICT_WARN || len(res.Findings) != 2 {
		t.Fatalf("verdict %v, %d findings; want WARN with READMISSION and LOW_STANDARD_ADMISSION", res.Verdict, len(res.Findings))
	}
	for _, f := range res.Findings {
		if len(f.LineIds) != 0 {
			t.Errorf("%s names lines %v at an admission without orders", f.RuleType, f.LineIds)
		}
	}

	// With order lines: a line WARN first, then the encounter-level WARNs.
	req.Scene = rxguardv1.Scene_SCENE_INPATIENT
	req.Orders = []*rxguardv1.OrderLine{line("1", sildenafil, 1, 3)} // NOT_COVERED WARN
	res = e.Check(input(t, req))
	var types []string
	for _, f := range res.Findings {
		types = append(types, f.RuleType)
	}
	if len(types) < 2 || types[0] != string(knowledge.RuleNotCovered) || types[len(types)-1] != string(knowledge.RuleReadmission) {
		t.Errorf("finding order %v: want the line's NOT_COVERED first and READMISSION after it", types)
	}
}

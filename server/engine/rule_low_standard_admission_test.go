package engine

import (
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func TestLowStandardAdmission(t *testing.T) {
	cold := all(admission(), dxPrimary("J06.900"))
	runRuleCasesOn(t, encounterEngine(t, Config{}), knowledge.RuleLowStandardAdmission, []ruleCase{
		{name: "listed prefix at admission fires", mutate: cold, lines: encounterLevel},
		{name: "prefix itself fires", mutate: all(admission(), dxPrimary("M54")), lines: encounterLevel},
		{name: "normalised code fires", mutate: all(admission(), dxPrimary(" j06900 ")), lines: encounterLevel},
		{name: "unlisted diagnosis does not", mutate: admission()},
		{name: "listed as secondary only does not", mutate: all(admission(), func(r *rxguardv1.CheckOrdersRequest) {
			r.Diagnoses = []*rxguardv1.Diagnosis{{Code: "J18.900", Primary: true}, {Code: "J06.900"}}
		})},
		{name: "no primary diagnosis does not", mutate: all(cold, func(r *rxguardv1.CheckOrdersRequest) { r.Diagnoses[0].Primary = false })},
		{name: "self-pay patient does not", mutate: all(cold, func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.InsuranceType = rxguardv1.InsuranceType_INSURANCE_SELF_PAY
		})},
		{name: "rescue does not", mutate: all(cold, func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.Rescue = true })},
		{name: "inpatient orders scene does not (admission only)", mutate: all(cold, func(r *rxguardv1.CheckOrdersRequest) {
			r.Scene = rxguardv1.Scene_SCENE_INPATIENT
			r.Orders = []*rxguardv1.OrderLine{line("1", metformin, 1, 3)}
		})},
		{name: "outpatient scene does not", mutate: all(cold, func(r *rxguardv1.CheckOrdersRequest) {
			r.Scene = rxguardv1.Scene_SCENE_OUTPATIENT
			r.Orders = []*rxguardv1.OrderLine{line("1", metformin, 1, 3)}
		})},
	})

	e := encounterEngine(t, Config{})
	req := baseRequest()
	cold(req)
	req.Diagnoses[0].Name = "急性上呼吸道感染"
	f := findingsOf(e.Check(input(t, req)), knowledge.RuleLowStandardAdmission)[0]
	for _, want := range []string{"急性上呼吸道感染（J06.900）", "J06", "门诊", "低标准入院"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message lacks %q: %s", want, f.Message)
		}
	}
	if !strings.Contains(f.Evidence, "outpatient-manageable.csv") || !strings.Contains(f.Evidence, "多部位和未特指部位的急性上呼吸道感染") {
		t.Errorf("evidence should name the list's source and entry: %s", f.Evidence)
	}
	if !strings.Contains(f.Suggestion, "门诊治疗") || !strings.Contains(f.Suggestion, "急救") {
		t.Errorf("suggestion should offer outpatient care or a rescue: %s", f.Suggestion)
	}
	if f.RuleId != "LOW_STANDARD_ADMISSION/J06" {
		t.Errorf("rule_id %q, want LOW_STANDARD_ADMISSION/J06", f.RuleId)
	}
}

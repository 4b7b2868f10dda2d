package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func TestInsuranceType(t *testing.T) {
	ins := func(it rxguardv1.InsuranceType, ls ...*rxguardv1.OrderLine) func(*rxguardv1.CheckOrdersRequest) {
		return func(r *rxguardv1.CheckOrdersRequest) { r.Patient.InsuranceType = it; r.Orders = ls }
	}
	runRuleCases(t, knowledge.RuleInsuranceType, []ruleCase{
		{name: "employee fires", mutate: ins(rxguardv1.InsuranceType_INSURANCE_EMPLOYEE, line("1", injuryDrug, 1, 3)), lines: one("1")},
		{name: "maternity fires for 工伤 drug", mutate: ins(rxguardv1.InsuranceType_INSURANCE_MATERNITY, line("1", injuryDrug, 1, 3)), lines: one("1")},
		{name: "work injury passes", mutate: ins(rxguardv1.InsuranceType_INSURANCE_WORK_INJURY, line("1", injuryDrug, 1, 3))},
		{name: "self-pay line skipped", mutate: ins(rxguardv1.InsuranceType_INSURANCE_RESIDENT, selfPay(line("1", injuryDrug, 1, 3)))},
	})
}

func TestEncounterType(t *testing.T) {
	enc := func(et rxguardv1.EncounterType, ls ...*rxguardv1.OrderLine) func(*rxguardv1.CheckOrdersRequest) {
		return func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.Type = et; r.Orders = ls }
	}
	runRuleCases(t, knowledge.RuleEncounterType, []ruleCase{
		{name: "outpatient fires", mutate: enc(rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT, line("1", inpatientDrug, 1, 1)), lines: one("1")},
		{name: "inpatient passes", mutate: enc(rxguardv1.EncounterType_ENCOUNTER_INPATIENT, line("1", inpatientDrug, 1, 1))},
		{name: "emergency fires when only 住院", mutate: enc(rxguardv1.EncounterType_ENCOUNTER_EMERGENCY, line("1", inpatientDrug, 1, 1)), lines: one("1")},
		{name: "emergency passes when 急诊 named", mutate: enc(rxguardv1.EncounterType_ENCOUNTER_EMERGENCY, line("1", emergencyDrug, 1, 1))},
		{name: "outpatient fires when 急诊 named", mutate: enc(rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT, line("1", emergencyDrug, 1, 1)), lines: one("1")},
		{name: "self-pay skipped", mutate: enc(rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT, selfPay(line("1", inpatientDrug, 1, 1)))},
	})
}

func TestHospitalLevel(t *testing.T) {
	lvl := func(l int32, ls ...*rxguardv1.OrderLine) func(*rxguardv1.CheckOrdersRequest) {
		return func(r *rxguardv1.CheckOrdersRequest) { r.Hospital.Level = l; r.Orders = ls }
	}
	runRuleCases(t, knowledge.RuleHospitalLevel, []ruleCase{
		{name: "level 1 below 二级 fires", mutate: lvl(1, line("1", level2Drug, 1, 1)), lines: one("1")},
		{name: "level 2 meets 二级", mutate: lvl(2, line("1", level2Drug, 1, 1))},
		{name: "level 2 below 三级 fires", mutate: lvl(2, line("1", level3Drug, 1, 1)), lines: one("1")},
		{name: "level 3 meets 三级", mutate: lvl(3, line("1", level3Drug, 1, 1))},
		{name: "self-pay skipped", mutate: lvl(1, selfPay(line("1", level2Drug, 1, 1)))},
	})
}

package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func TestDrugGender(t *testing.T) {
	female := func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = rxguardv1.Gender_GENDER_FEMALE }
	runRuleCases(t, knowledge.RuleDrugGender, []ruleCase{
		{name: "male patient, female-only drug fires", mutate: orders(line("1", femaleDrug, 1, 7)), lines: one("1")},
		{name: "female patient passes", mutate: func(r *rxguardv1.CheckOrdersRequest) { female(r); orders(line("1", femaleDrug, 1, 7))(r) }},
		{name: "unknown gender passes", mutate: func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.Gender = rxguardv1.Gender_GENDER_UNKNOWN
			orders(line("1", femaleDrug, 1, 7))(r)
		}},
		{name: "self-pay line skipped", mutate: orders(selfPay(line("1", femaleDrug, 1, 7)))},
		{name: "self-pay patient skipped", mutate: func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.InsuranceType = rxguardv1.InsuranceType_INSURANCE_SELF_PAY
			orders(line("1", femaleDrug, 1, 7))(r)
		}},
		{name: "only the restricted line", mutate: orders(line("1", childDrug, 1, 1), line("2", femaleDrug, 1, 7)), lines: one("2")},
	})
}

func TestItemGender(t *testing.T) {
	runRuleCases(t, knowledge.RuleItemGender, []ruleCase{
		{name: "female patient, male-only item fires", mutate: func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.Gender = rxguardv1.Gender_GENDER_FEMALE
			orders(line("a", maleItem, 1, 0))(r)
		}, lines: one("a")},
		{name: "male patient passes", mutate: orders(line("a", maleItem, 1, 0))},
		{name: "self-pay skipped", mutate: func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.Gender = rxguardv1.Gender_GENDER_FEMALE
			orders(selfPay(line("a", maleItem, 1, 0)))(r)
		}},
	})
}

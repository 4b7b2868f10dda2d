package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// DRUG_GENDER and ITEM_GENDER (第一批 限定性别对象): fire when the patient's
// gender is known and differs from the one the drug or item is paid for.
var drugGenderRule = &ruleSpec{
	typ: knowledge.RuleDrugGender, payment: true, byName: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "药品限定性别", check: checkGender, describe: describeGender,
}

var itemGenderRule = &ruleSpec{
	typ: knowledge.RuleItemGender, payment: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "项目限定性别", check: checkGender, describe: describeGender,
}

func describeGender(r *knowledge.Restriction) string { return "限" + string(r.Gender) + "性使用" }

func checkGender(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	var patient knowledge.Gender
	switch ev.req.GetPatient().GetGender() {
	case rxguardv1.Gender_GENDER_MALE:
		patient = knowledge.GenderMale
	case rxguardv1.Gender_GENDER_FEMALE:
		patient = knowledge.GenderFemale
	default:
		return violation{}, false
	}
	if r.Gender == "" || r.Gender == patient {
		return violation{}, false
	}
	return violation{
		message:    ev.cat(r.Name, " 医保限定", string(r.Gender), "性患者支付，本患者为", string(patient), "性。"),
		evidence:   b.quoteWith(ev, "；限定对象：", string(r.Gender)),
		suggestion: ev.cat("核对患者性别或更换适用的", itemWord(r.Type), "，", selfPaySuggestion),
		fixes:      fixList(ev.selfPayFix(line)),
	}, true
}

func itemWord(t knowledge.RuleType) string {
	switch t {
	case knowledge.RuleDrugGender, knowledge.RuleDrugAge, knowledge.RuleInsuranceType,
		knowledge.RuleEncounterType, knowledge.RuleHospitalLevel, knowledge.RulePaymentCourse:
		return "药品"
	}
	return "项目"
}

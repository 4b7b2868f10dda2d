package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// INSURANCE_TYPE (第三批 限定保险类型): fires when the patient's insurance is
// not the one the drug is paid by (工伤 or 生育).
var insuranceTypeRule = &ruleSpec{
	typ: knowledge.RuleInsuranceType, payment: true, byName: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "限定保险类型", check: checkInsuranceType,
	describe: func(r *knowledge.Restriction) string { return "限" + r.Insurance + "保险支付" },
}

var insuranceFor = map[string]rxguardv1.InsuranceType{
	"工伤": rxguardv1.InsuranceType_INSURANCE_WORK_INJURY,
	"生育": rxguardv1.InsuranceType_INSURANCE_MATERNITY,
}

var insuranceName = map[rxguardv1.InsuranceType]string{
	rxguardv1.InsuranceType_INSURANCE_EMPLOYEE:    "职工医保",
	rxguardv1.InsuranceType_INSURANCE_RESIDENT:    "居民医保",
	rxguardv1.InsuranceType_INSURANCE_WORK_INJURY: "工伤保险",
	rxguardv1.InsuranceType_INSURANCE_MATERNITY:   "生育保险",
	rxguardv1.InsuranceType_INSURANCE_SELF_PAY:    "自费",
}

func checkInsuranceType(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	want, known := insuranceFor[r.Insurance]
	have := ev.req.GetPatient().GetInsuranceType()
	if !known || have == want {
		return violation{}, false
	}
	return violation{
		message:    ev.cat(r.Name, " 为", r.Insurance, "保险目录用药，仅", r.Insurance, "保险支付，患者参保类型为", insuranceName[have], "。"),
		evidence:   b.quoteWith(ev, "；限定对象：", r.Insurance),
		suggestion: ev.cat("更换为", insuranceName[have], "目录内药品，", selfPaySuggestion),
		fixes:      fixList(ev.selfPayFix(line)),
	}, true
}

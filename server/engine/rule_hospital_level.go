package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// HOSPITAL_LEVEL (第五批 限定机构等级): fires when the hospital's level is
// below the one the drug requires (二级 → 2, 三级 → 3).
var hospitalLevelRule = &ruleSpec{
	typ: knowledge.RuleHospitalLevel, payment: true, byName: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "限定机构等级", check: checkHospitalLevel,
	describe: func(r *knowledge.Restriction) string { return "限" + levelName(r.MinLevel) + "及以上医疗机构" },
}

func levelName(l int) string {
	switch l {
	case 1:
		return "一级"
	case 2:
		return "二级"
	case 3:
		return "三级"
	}
	return strconv.Itoa(l) + "级"
}

func checkHospitalLevel(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	level := int(ev.req.GetHospital().GetLevel())
	if r.MinLevel == 0 || level >= r.MinLevel {
		return violation{}, false
	}
	return violation{
		message:    ev.cat(r.Name, " 医保限", levelName(r.MinLevel), "及以上医疗机构支付，本院为", levelName(level), "。"),
		evidence:   b.quoteWith(ev, "；限定机构等级：", levelName(r.MinLevel)),
		suggestion: ev.cat("转诊至", levelName(r.MinLevel), "及以上医疗机构使用，或更换药品，", selfPaySuggestion),
		fixes:      fixList(ev.selfPayFix(line)),
	}, true
}

package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// ENCOUNTER_TYPE (第四批 限定就医方式: 住院): fires when the encounter is not
// inpatient; a drug whose description also names 急诊 passes in an
// emergency encounter.
var encounterTypeRule = &ruleSpec{
	typ: knowledge.RuleEncounterType, payment: true, byName: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "限定就医方式", check: checkEncounterType,
	describe: func(r *knowledge.Restriction) string {
		if r.AllowEmergency {
			return "限急诊或住院患者支付"
		}
		return "限住院患者支付"
	},
}

func checkEncounterType(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	typ := ev.req.GetEncounter().GetType()
	if typ == rxguardv1.EncounterType_ENCOUNTER_INPATIENT {
		return violation{}, false
	}
	emergency := typ == rxguardv1.EncounterType_ENCOUNTER_EMERGENCY || ev.req.GetScene() == rxguardv1.Scene_SCENE_EMERGENCY
	if r.AllowEmergency && emergency {
		return violation{}, false
	}
	allowed, where := "住院", "住院"
	if r.AllowEmergency {
		allowed, where = "急诊或住院", "急诊或住院"
	}
	return violation{
		message:    ev.cat(r.Name, " 医保限", allowed, "患者支付，本次为", encounterName(typ), "。"),
		evidence:   b.quoteWith(ev, "；限定就医方式：", where),
		suggestion: ev.cat("收住院后在住院医嘱中开具，或更换门诊可支付的药品，", selfPaySuggestion),
		fixes:      fixList(ev.selfPayFix(line)),
	}, true
}

func encounterName(t rxguardv1.EncounterType) string {
	switch t {
	case rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT:
		return "门诊"
	case rxguardv1.EncounterType_ENCOUNTER_EMERGENCY:
		return "急诊"
	case rxguardv1.EncounterType_ENCOUNTER_INPATIENT:
		return "住院"
	}
	return "未知就诊类型"
}

package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// LOW_STANDARD_ADMISSION (低标准入院): at 住院登记 (scene ADMISSION) of an
// insured patient, outside a rescue, the primary diagnosis starts with a
// prefix of the release's list of conditions normally treated as
// outpatients. The finding names no line: an admission check may carry
// none.
var lowStandardAdmissionRule = &ruleSpec{
	typ: knowledge.RuleLowStandardAdmission, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "低标准入院", checkRequest: checkLowStandardAdmission,
}

func checkLowStandardAdmission(ev *evaluation) []violation {
	req := ev.req
	if req.GetScene() != rxguardv1.Scene_SCENE_ADMISSION || !ev.patientInsured() || req.GetEncounter().GetRescue() {
		return nil
	}
	primary := ev.primaryDiagnosis()
	if primary == nil {
		return nil
	}
	cond, ok := ev.idx.OutpatientManageable(primary.GetCode())
	if !ok {
		return nil
	}
	return ev.one(violation{
		ruleID: ev.cat("LOW_STANDARD_ADMISSION/", cond.Prefix),
		noLine: true,
		message: ev.cat("本次住院登记的主要诊断 ", diagnosisLabel(primary), " 属通常在门诊治疗的病种（", cond.Prefix, " ", cond.Name,
			"），疑似低标准入院。"),
		evidence: ev.cat(cond.Source.String(), "：门诊可治疗病种目录 ", cond.Prefix, " ", cond.Name,
			"；主要诊断 ", primary.GetCode(), " 以该编码开头"),
		suggestion: "病情可在门诊治疗的请改为门诊治疗；如属急救、抢救请标记 encounter.rescue；确需住院的（如合并症、病情危重）请记录住院指征后继续。",
	})
}

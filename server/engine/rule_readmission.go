package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// READMISSION (分解住院): an inpatient admission of an insured patient that
// follows, 0 to N days after its discharge, a previous unplanned inpatient
// stay at the same hospital with the same ICD-10 category of primary
// diagnosis — one illness split into several paid stays. Not for a primary
// diagnosis in Z51 (放疗、化疗等其他医疗照顾: planned by nature) nor in a
// rescue (急救、抢救). The knowledge is the request's previous_encounters[];
// the finding names no line, so it also fires at 住院登记 without orders.
var readmissionRule = &ruleSpec{
	typ: knowledge.RuleReadmission, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "分解住院", checkRequest: checkReadmission,
}

const (
	// DefaultReadmissionDays is READMISSION's N unless configured
	// (engine.rules.READMISSION.window_days).
	DefaultReadmissionDays = 15
	// MaxReadmissionDays bounds the configured N: a year is already far
	// beyond any supervision rule; more is a typing error.
	MaxReadmissionDays = 365
)

// careCategory is Z51 (放疗、化疗等其他医疗照顾): stays for it are repeated by
// design, so they never count as split.
const careCategory = "Z51"

func checkReadmission(ev *evaluation) []violation {
	req := ev.req
	if len(req.PreviousEncounters) == 0 || !ev.patientInsured() {
		return nil
	}
	enc := req.GetEncounter()
	if enc.GetType() != rxguardv1.EncounterType_ENCOUNTER_INPATIENT || enc.GetRescue() {
		return nil
	}
	if s := req.GetScene(); s != rxguardv1.Scene_SCENE_ADMISSION && s != rxguardv1.Scene_SCENE_INPATIENT {
		return nil
	}
	admit, ok := dateDay(enc.GetAdmitDate())
	if !ok {
		return nil
	}
	primary := ev.primaryDiagnosis()
	if primary == nil {
		return nil
	}
	category := icdCategory(primary.GetCode())
	if category == "" || category == careCategory {
		return nil
	}
	hospital := req.GetHospital().GetCode()
	var prev *rxguardv1.PreviousEncounter
	gap := 0
	for _, p := range req.PreviousEncounters {
		if p.GetType() != rxguardv1.EncounterType_ENCOUNTER_INPATIENT || p.GetPlanned() {
			continue
		}
		if h := p.GetHospitalCode(); h != "" && h != hospital {
			continue // another hospital's stay is not split by this one
		}
		if p.GetId() != "" && p.GetId() == enc.GetId() {
			continue // the HIS listed this stay itself
		}
		discharged, ok := dateDay(p.GetDischargeDate())
		if !ok {
			continue
		}
		g := admit - discharged
		if g < 0 || g > ev.readmissionDays || icdCategory(p.GetPrimaryDiagnosis()) != category {
			continue
		}
		// The closest previous stay is the one the physician must explain.
		if prev == nil || g < gap {
			prev, gap = p, g
		}
	}
	if prev == nil {
		return nil
	}
	n := strconv.Itoa(ev.readmissionDays)
	stay := ev.cat("出院", prev.GetDischargeDate())
	if a := prev.GetAdmitDate(); a != "" {
		stay = ev.cat(a, "至", prev.GetDischargeDate())
	}
	id := prev.GetId()
	if id == "" {
		id = ev.cat("出院", prev.GetDischargeDate())
	}
	when := ev.cat("出院后第", ev.itoa(gap), "天")
	if gap == 0 {
		when = "出院当天"
	}
	return ev.one(violation{
		ruleID: ev.cat("READMISSION/", id),
		noLine: true,
		message: ev.cat("患者前次住院（就诊 ", id, "，", stay, "，主要诊断 ", prev.GetPrimaryDiagnosis(), "）", when,
			"再次入院（", enc.GetAdmitDate(), "），本次主要诊断 ", diagnosisLabel(primary), " 与前次同属ICD-10类目 ",
			category, "，", n, "天内同病种非计划再入院，疑似分解住院。"),
		evidence: ev.cat("既往就诊（请求 previous_encounters）：就诊 ", id, "，入院 ", orDash(prev.GetAdmitDate()), "，出院 ",
			prev.GetDischargeDate(), "，主要诊断 ", prev.GetPrimaryDiagnosis(), "；分解住院判定：同一医院、非计划性住院，出院后0至",
			n, "天内再次入院且主要诊断ICD-10类目相同（本院再入院窗口 N=", n, "天）"),
		suggestion: ev.cat("如为计划性再入院（如放化疗周期、分期手术），请在既往就诊中标记 planned；如为急救、抢救请标记 encounter.rescue；",
			"确因病情变化需再次住院的，请填写理由后继续。"),
	})
}

// diagnosisLabel is "name（code）", or the code alone without a name.
func diagnosisLabel(dx *rxguardv1.Diagnosis) string {
	if dx.GetName() == "" {
		return dx.GetCode()
	}
	return dx.GetName() + "（" + dx.GetCode() + "）"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

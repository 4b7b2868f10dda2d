package engine

import (
	"strconv"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// PHYSICIAN_QUALIFICATION (医保支付资格): fees ordered by a physician whose
// qualification is SUSPENDED or TERMINATED at check_time are not settled —
// BLOCK on every insured line, WARN in a rescue encounter (急救、抢救除外).
// A physician missing from the registry: WARN on every insured line
// (未登记备案). A NORMAL physician with ≥ 6 points this year: one INFO; with
// ≥ 9 points and no bureau decision yet: one WARN (资格处理待定).
var physicianQualificationRule = &ruleSpec{
	typ: knowledge.RulePhysicianQualification, payment: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "医保支付资格", checkLine: checkPhysicianLine, checkRequest: checkPhysicianPoints,
}

func (ev *evaluation) physician() PhysicianState {
	if !ev.physResolved {
		ev.phys, ev.physResolved = ev.physTable.Status(ev.req.GetPhysician().GetCode(), ev.in.CheckTime), true
	}
	return ev.phys
}

func (ev *evaluation) physicianName() string {
	p := ev.req.GetPhysician()
	if p.GetName() != "" {
		return ev.cat(p.GetName(), "（", p.GetCode(), "）")
	}
	return p.GetCode()
}

func checkPhysicianLine(ev *evaluation, line int) []violation {
	st := ev.physician()
	rescue := ev.req.GetEncounter().GetRescue()
	var v violation
	switch {
	case st.State == rxguardv1.QualificationState_QUALIFICATION_SUSPENDED:
		v = violation{
			ruleID:  "PHYSICIAN_QUALIFICATION/SUSPENDED",
			message: ev.cat("开方医师 ", ev.physicianName(), " 医保支付资格暂停中（至", st.Until, "），所开医保费用不予结算。"),
		}
	case st.State == rxguardv1.QualificationState_QUALIFICATION_TERMINATED:
		v = violation{
			ruleID:  "PHYSICIAN_QUALIFICATION/TERMINATED",
			message: ev.cat("开方医师 ", ev.physicianName(), " 医保支付资格已终止（", st.Until, "前不得再次登记备案），所开医保费用不予结算。"),
		}
	case !st.Known:
		return ev.one(violation{
			ruleID:     "PHYSICIAN_QUALIFICATION/UNREGISTERED",
			action:     rxguardv1.Action_ACTION_WARN,
			message:    ev.cat("开方医师 ", ev.physicianName(), " 未在医保医师库中登记备案。"),
			evidence:   "医保医师登记备案库（知识库）中无此医师编码",
			suggestion: "请核对医师编码，或由已登记备案的医师开具。",
		})
	default:
		return nil
	}
	v.evidence = ev.cat("医保局医保支付资格记分与处理信息：", qualificationName(st.State), "，本年度记分", ev.itoa(st.Points), "分")
	if rescue {
		v.action = rxguardv1.Action_ACTION_WARN
		v.message = ev.cat(v.message, "急救、抢救除外：本次为抢救，请在病历中记录抢救情况。")
		v.suggestion = "抢救结束后请由具备医保支付资格的医师补开或确认。"
	} else {
		v.suggestion = ev.cat("请由具备医保支付资格的医师开具；急救、抢救请标记抢救（rescue），", selfPaySuggestion)
		v.fixes = fixList(ev.selfPayFix(line))
	}
	return []violation{v}
}

func checkPhysicianPoints(ev *evaluation) []violation {
	st := ev.physician()
	if st.State != rxguardv1.QualificationState_QUALIFICATION_NORMAL || st.Points < 6 || !ev.anyInsured() {
		return nil
	}
	points := strconv.Itoa(st.Points)
	if st.Points >= 9 && !st.Decided {
		return ev.one(violation{
			ruleID:     "PHYSICIAN_QUALIFICATION/PENDING",
			action:     rxguardv1.Action_ACTION_WARN,
			noLine:     true,
			message:    ev.cat("开方医师 ", ev.physicianName(), " 本年度记分已达", points, "分，记分已达9分，资格处理待定。"),
			evidence:   "医保支付资格：一个自然年度内记分达到9分的，暂停医保支付资格1至6个月",
			suggestion: "请严格按医保规定开具；如有疑问请联系医保办。",
		})
	}
	return ev.one(violation{
		ruleID:     "PHYSICIAN_QUALIFICATION/POINTS",
		action:     rxguardv1.Action_ACTION_INFO,
		noLine:     true,
		message:    ev.cat("开方医师 ", ev.physicianName(), " 本年度医保支付资格记分", points, "分（达9分将暂停医保支付资格）。"),
		evidence:   "医保支付资格记分：1-3 / 4-6 / 7-9 / 10-12分；一个自然年度内记分达9分暂停，达12分终止",
		suggestion: "请注意合规开具。",
	})
}

func (ev *evaluation) anyInsured() bool {
	for i := range ev.lines {
		if ev.lines[i].insured {
			return true
		}
	}
	return false
}

func qualificationName(s rxguardv1.QualificationState) string {
	switch s {
	case rxguardv1.QualificationState_QUALIFICATION_SUSPENDED:
		return "暂停"
	case rxguardv1.QualificationState_QUALIFICATION_TERMINATED:
		return "终止"
	case rxguardv1.QualificationState_QUALIFICATION_NORMAL:
		return "正常"
	}
	return "未知"
}

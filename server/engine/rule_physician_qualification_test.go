package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func byPhysician(code, at string, ms ...func(*rxguardv1.CheckOrdersRequest)) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		r.Physician.Code = code
		r.CheckTime = at
		r.Orders = []*rxguardv1.OrderLine{line("1", metformin, 7, 7), line("2", simvastatin, 7, 7)}
		for _, m := range ms {
			m(r)
		}
	}
}

func TestPhysicianQualification(t *testing.T) {
	const nov22 = "2026-11-22T10:00:00+08:00"
	rescue := func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.Rescue = true }
	allSelfPay := func(r *rxguardv1.CheckOrdersRequest) {
		for _, o := range r.Orders {
			o.SelfPay = true
		}
	}
	oneSelfPay := func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].SelfPay = true }
	both := [][]string{{"1"}, {"2"}}
	block, warn, info := rxguardv1.Action_ACTION_BLOCK, rxguardv1.Action_ACTION_WARN, rxguardv1.Action_ACTION_INFO
	runRuleCases(t, knowledge.RulePhysicianQualification, []ruleCase{
		{name: "张明 normal, 0 points", mutate: byPhysician("D370800000001", nov22)},
		{name: "王强 suspended: every insured line blocked", mutate: byPhysician("D370800000003", nov22), lines: both, action: block},
		{name: "王强 suspended, rescue: warn", mutate: byPhysician("D370800000003", nov22, rescue), lines: both, action: warn},
		{name: "王强 suspended, self-pay line not blocked", mutate: byPhysician("D370800000003", nov22, oneSelfPay), lines: [][]string{{"2"}}, action: block},
		{name: "王强 suspended, all self-pay", mutate: byPhysician("D370800000003", nov22, allSelfPay)},
		{name: "王强 the day the suspension starts", mutate: byPhysician("D370800000003", "2026-10-01T08:00:00+08:00"), lines: both, action: block},
		{name: "王强 the day before: 9 points, decision pending", mutate: byPhysician("D370800000003", "2026-09-30T08:00:00+08:00"), lines: [][]string{nil}, action: warn},
		{name: "王强 the last day of the suspension", mutate: byPhysician("D370800000003", "2027-01-31T20:00:00+08:00"), lines: both, action: block},
		{name: "王强 after it, new year: 0 points", mutate: byPhysician("D370800000003", "2027-02-01T08:00:00+08:00")},
		{name: "赵丽 terminated", mutate: byPhysician("D370800000004", nov22), lines: both, action: block},
		{name: "陈静 repaired: 6 points, INFO", mutate: byPhysician("D370800000005", nov22), lines: [][]string{nil}, action: info},
		{name: "陈静 during her suspension", mutate: byPhysician("D370800000005", "2026-04-01T08:00:00+08:00"), lines: both, action: block},
		{name: "陈静 after it, 9 points but decided: INFO", mutate: byPhysician("D370800000005", "2026-06-15T08:00:00+08:00"), lines: [][]string{nil}, action: info},
		{name: "李华 7 points: INFO", mutate: byPhysician("D370800000002", nov22), lines: [][]string{nil}, action: info},
		{name: "孙伟 2025-only points: 0 in 2026", mutate: byPhysician("D370800000007", nov22)},
		{name: "孙伟 in December 2025: 10 points pending", mutate: byPhysician("D370800000007", "2025-12-01T08:00:00+08:00"), lines: [][]string{nil}, action: warn},
		{name: "unregistered physician warns per insured line", mutate: byPhysician("D370800000099", nov22), lines: both, action: warn},
	})
}

func TestPhysicianStatusFold(t *testing.T) {
	e := testEngine(t, Config{})
	for _, c := range []struct {
		code, at string
		state    rxguardv1.QualificationState
		points   int
		until    string
	}{
		{"D370800000001", "2026-11-22T10:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_NORMAL, 0, ""},
		{"D370800000002", "2026-11-22T10:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_NORMAL, 7, ""},
		{"D370800000003", "2026-11-22T10:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_SUSPENDED, 9, "2027-01-31"},
		{"D370800000004", "2026-11-22T10:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_TERMINATED, 12, "2029-06-01"},
		{"D370800000005", "2026-11-22T10:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_NORMAL, 6, ""},
		{"D370800000007", "2026-11-22T10:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_NORMAL, 0, ""},
		{"D370800000007", "2025-12-31T23:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_NORMAL, 10, ""},
		{"D370800000099", "2026-11-22T10:00:00+08:00", rxguardv1.QualificationState_QUALIFICATION_UNKNOWN, 0, ""},
	} {
		st := e.Index().PhysicianStatus(c.code, mustTime(t, c.at))
		if st.State != c.state || st.Points != c.points || st.Until != c.until {
			t.Errorf("%s at %s: %v %d %q, want %v %d %q", c.code, c.at, st.State, st.Points, st.Until, c.state, c.points, c.until)
		}
	}
}

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

// The bureau's feed adds to the release's own events: the same seq is one
// event, new ones change the state at once, and a release swap keeps the
// feed.
func TestPhysicianFeedOverlay(t *testing.T) {
	e := testEngine(t, Config{})
	at := mustTime(t, "2026-11-22T10:00:00+08:00")
	const lihua = "D370800000002" // 7 points from the release's events
	if st := e.Physicians().Status(lihua, at); st.Points != 7 || st.State != rxguardv1.QualificationState_QUALIFICATION_NORMAL {
		t.Fatalf("before the feed: %+v", st)
	}
	release := testPhysicianEvents()
	feed := append([]knowledge.PhysicianEvent(nil), release...) // the feed repeats the snapshot…
	last := release[len(release)-1].Seq
	feed = append(feed, // …and brings two decisions
		knowledge.PhysicianEvent{Seq: last + 1, PhysicianCode: lihua, Type: "POINTS_ADDED", Date: "2026-11-10", Points: 3},
		knowledge.PhysicianEvent{Seq: last + 2, PhysicianCode: lihua, Type: "SUSPENDED", Date: "2026-11-20", Until: "2027-02-19"})
	e.SetPhysicianFeed(feed)
	st := e.Physicians().Status(lihua, at)
	if st.Points != 10 || st.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED || st.Until != "2027-02-19" {
		t.Fatalf("after the feed: %+v, want SUSPENDED until 2027-02-19 with 10 points (no double count)", st)
	}
	res := e.Check(input(t, func() *rxguardv1.CheckOrdersRequest {
		r := baseRequest()
		byPhysician(lihua, "2026-11-22T10:00:00+08:00")(r)
		return r
	}()))
	if res.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || res.Physician.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED {
		t.Fatalf("check after the feed: %v %v", res.Verdict, res.Physician.State)
	}
	// A new release (same content here) keeps the feed's events.
	e.Swap(e.Index())
	if st := e.Physicians().Status(lihua, at); st.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED {
		t.Fatalf("after a release swap the feed was lost: %+v", st)
	}
}

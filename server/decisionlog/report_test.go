package decisionlog

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

const (
	itemX = "XJ01DDA044A001010101990"
	itemY = "ZD03AAA0043010100166"
	itemZ = "001103000010000"
)

func reportEntry(seq uint64, at time.Time, phys, name, physDept, encDept string, v rxguardv1.Verdict, items []string, fs ...fspec) Entry {
	e := entry(spec{at: at, seq: seq, physician: phys, physicianName: name, physDept: physDept, encDept: encDept, patient: "P1", verdict: v, findings: fs, lines: len(items)})
	for i, it := range items {
		e.Request.Orders[i].ItemCode, e.Request.Orders[i].ItemName = it, "名"+it[:3]
	}
	return e
}

func TestReports(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	warn, block := rxguardv1.Action_ACTION_WARN, rxguardv1.Action_ACTION_BLOCK
	e1 := reportEntry(1, t0, "D1", "张明", "A03", "A03", rxguardv1.Verdict_VERDICT_WARN, []string{itemX, itemX},
		fspec{ruleType: "PAYMENT_COURSE", action: warn, overridable: true, lines: []int{0}},
		fspec{ruleType: "ITEM_FREQUENCY", action: warn, overridable: true, lines: []int{0, 1}})
	e2 := reportEntry(2, t0.Add(time.Hour), "D1", "张明", "A03", "A03", rxguardv1.Verdict_VERDICT_BLOCK, []string{itemX, itemY},
		fspec{ruleType: "DRUG_GENDER", action: block, lines: []int{1}},
		fspec{ruleType: "PAYMENT_COURSE", action: warn, overridable: true, lines: []int{0}})
	e3 := reportEntry(3, t0.Add(2*time.Hour), "D1", "张明", "A03", "A03", rxguardv1.Verdict_VERDICT_PASS, []string{itemZ})
	e4 := reportEntry(4, t0.Add(40*24*time.Hour), "D1", "张明", "A03", "A03", rxguardv1.Verdict_VERDICT_WARN, []string{itemZ},
		fspec{ruleType: "PAYMENT_COURSE", action: warn, overridable: true, lines: []int{0}})
	e5 := reportEntry(5, t0.Add(3*time.Hour), "D2", "李华", "A03", "", rxguardv1.Verdict_VERDICT_WARN, []string{itemZ},
		fspec{ruleType: "NOT_COVERED", action: warn, overridable: true, lines: []int{0}})
	e6 := reportEntry(6, t0.Add(time.Hour), "D3", "王五", "B01", "B01", rxguardv1.Verdict_VERDICT_BLOCK, []string{itemY},
		fspec{ruleType: "DRUG_GENDER", action: block, lines: []int{0}})
	for _, e := range []Entry{e1, e2, e3, e4, e5, e6} {
		l.Append(ctx, e)
	}
	answer := func(e Entry, rs ...*rxguardv1.FindingResponse) {
		t.Helper()
		if _, err := l.RecordResponses(ctx, e.ID, rs, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	fid := func(e Entry, i int) string { return e.Response.Findings[i].FindingId }
	answer(e1, cont(fid(e1, 0), "CLINICAL_NEED", "病情需要"), cont(fid(e1, 1), "EMERGENCY", "抢救"))
	answer(e1, modify(fid(e1, 0))) // the latest revision counts
	answer(e2, modify(fid(e2, 1)))
	answer(e5, cont(fid(e5, 0), "PATIENT_INFORMED", "自费"))

	from, to := t0, t0.Add(30*24*time.Hour)
	verdicts := func(pass, warn, block int64) []*rxguardv1.VerdictCount {
		return []*rxguardv1.VerdictCount{
			{Verdict: rxguardv1.Verdict_VERDICT_PASS, Decisions: pass},
			{Verdict: rxguardv1.Verdict_VERDICT_WARN, Decisions: warn},
			{Verdict: rxguardv1.Verdict_VERDICT_BLOCK, Decisions: block},
		}
	}
	pr, err := l.PhysicianReport(ctx, "D1", from, to)
	if err != nil {
		t.Fatal(err)
	}
	wantPR := &rxguardv1.GetPhysicianReportResponse{
		PhysicianCode: "D1", Name: "张明", From: from.Format(time.RFC3339), To: to.Format(time.RFC3339),
		Decisions: 3, ByVerdict: verdicts(1, 1, 1),
		ByRuleType: []*rxguardv1.RuleTypeCount{
			{RuleType: "PAYMENT_COURSE", Findings: 2, Modified: 2},
			{RuleType: "DRUG_GENDER", Findings: 1, Unanswered: 1},
			{RuleType: "ITEM_FREQUENCY", Findings: 1, Continued: 1},
		},
		TopItems: []*rxguardv1.ItemCount{
			{ItemCode: itemX, ItemName: "名" + itemX[:3], Findings: 3},
			{ItemCode: itemY, ItemName: "名" + itemY[:3], Findings: 1},
		},
	}
	if !proto.Equal(pr, wantPR) {
		t.Errorf("physician report:\n%s\nwant\n%s", prototext.Format(pr), prototext.Format(wantPR))
	}

	dr, err := l.DepartmentReport(ctx, "A03", from, to)
	if err != nil {
		t.Fatal(err)
	}
	wantDR := &rxguardv1.GetDepartmentReportResponse{
		DepartmentCode: "A03", From: from.Format(time.RFC3339), To: to.Format(time.RFC3339),
		Decisions: 4, ByVerdict: verdicts(1, 2, 1),
		ByRuleType: []*rxguardv1.RuleTypeCount{
			{RuleType: "PAYMENT_COURSE", Findings: 2, Modified: 2},
			{RuleType: "DRUG_GENDER", Findings: 1, Unanswered: 1},
			{RuleType: "ITEM_FREQUENCY", Findings: 1, Continued: 1},
			{RuleType: "NOT_COVERED", Findings: 1, Continued: 1},
		},
		TopItems: []*rxguardv1.ItemCount{
			{ItemCode: itemX, ItemName: "名" + itemX[:3], Findings: 3},
			{ItemCode: itemZ, ItemName: "名" + itemZ[:3], Findings: 1},
			{ItemCode: itemY, ItemName: "名" + itemY[:3], Findings: 1},
		},
		Physicians: []*rxguardv1.PhysicianSummary{
			{PhysicianCode: "D1", Name: "张明", Decisions: 3, Blocked: 1, Warned: 1, Continued: 1, Modified: 2},
			{PhysicianCode: "D2", Name: "李华", Decisions: 1, Warned: 1, Continued: 1},
		},
	}
	if !proto.Equal(dr, wantDR) {
		t.Errorf("department report:\n%s\nwant\n%s", prototext.Format(dr), prototext.Format(wantDR))
	}

	// Unbounded periods, and someone with nothing.
	if pr, err := l.PhysicianReport(ctx, "D1", time.Time{}, time.Time{}); err != nil || pr.Decisions != 4 || pr.From != "" {
		t.Errorf("all-time report: %v, %v", pr, err)
	}
	if pr, err := l.PhysicianReport(ctx, "D404", from, to); err != nil || pr.Decisions != 0 || len(pr.ByVerdict) != 3 || len(pr.TopItems) != 0 {
		t.Errorf("empty report: %v, %v", pr, err)
	}
}

func TestTopItemsBounded(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	for i := range 15 {
		e := reportEntry(uint64(i), t0.Add(time.Duration(i)*time.Minute), "D1", "张明", "A03", "A03", rxguardv1.Verdict_VERDICT_WARN,
			[]string{itemCodes[i%len(itemCodes)].code + string(rune('a'+i))},
			fspec{ruleType: "NOT_COVERED", action: rxguardv1.Action_ACTION_WARN, overridable: true, lines: []int{0}})
		l.Append(ctx, e)
	}
	flush(t, l)
	pr, err := l.PhysicianReport(ctx, "D1", time.Time{}, time.Time{})
	if err != nil || len(pr.TopItems) != TopItems {
		t.Fatalf("%d top items, %v", len(pr.GetTopItems()), err)
	}
}

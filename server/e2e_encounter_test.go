package server

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// ctScan is the demo recognition list's X线计算机体层(CT)平扫: 30 days, 省内互认.
const ctScan = "002103000010000"

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q: %s", what, w, s)
		}
	}
}

// An admission check (住院登记, no order lines) with the patient's previous
// stays, over real gRPC with the demo release: the example the README and
// smoke test use gets READMISSION, the decision is recorded and can be
// answered like any other.
func TestE2EAdmissionReadmission(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	req := exampleRequest(t, "readmission.json")
	if len(req.Orders) != 0 || req.Scene != rxguardv1.Scene_SCENE_ADMISSION {
		t.Fatalf("examples/readmission.json should be an admission without orders")
	}
	resp, err := ts.client.CheckOrders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f := byType(resp)["READMISSION"]
	if resp.Verdict != rxguardv1.Verdict_VERDICT_WARN || f == nil || f.Action != rxguardv1.Action_ACTION_WARN || len(resp.Findings) != 1 {
		t.Fatalf("verdict %v, findings %v; want one READMISSION WARN", resp.Verdict, resp.Findings)
	}
	mustContain(t, "message", f.Message, "E20261101007", "2026-11-01至2026-11-12", "J18.000", "出院后第10天", "2026-11-22", "肺炎（J18.900）", "J18", "分解住院")
	mustContain(t, "evidence", f.Evidence, "previous_encounters", "N=15", resp.KnowledgeVersion)
	mustContain(t, "suggestion", f.Suggestion, "planned")
	if len(f.LineIds) != 0 || !f.Overridable || f.RuleId != "READMISSION/E20261101007" || f.FindingId == "" {
		t.Errorf("finding %v: want an overridable finding naming no line", f)
	}

	// The decision log keeps it and takes the physician's answer.
	if _, err := ts.client.RecordResponse(ctx, &rxguardv1.RecordResponseRequest{DecisionId: resp.DecisionId, Responses: []*rxguardv1.FindingResponse{
		{FindingId: f.FindingId, Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: "CLINICAL_NEED", ReasonText: "肺炎复发，病情加重"}}}); err != nil {
		t.Fatalf("RecordResponse: %v", err)
	}
	if err := ts.log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	audit := rxguardv1.NewAuditServiceClient(ts.conn)
	got, err := audit.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: resp.DecisionId})
	if err != nil || len(got.GetDecision().GetRequest().GetPreviousEncounters()) != 2 || len(got.GetDecision().GetResponses()) != 1 {
		t.Fatalf("GetDecision: %v %v", got, err)
	}
	q, err := audit.QueryDecisions(ctx, &rxguardv1.QueryDecisionsRequest{RuleType: "READMISSION"})
	if err != nil || len(q.Decisions) != 1 || q.Decisions[0].DecisionId != resp.DecisionId {
		t.Fatalf("QueryDecisions by READMISSION: %v %v", q, err)
	}
	// Decisions are kept at the server's time; the default range ends now.
	rep, err := ts.client.GetPhysicianReport(ctx, &rxguardv1.GetPhysicianReportRequest{PhysicianCode: req.Physician.Code})
	if err != nil {
		t.Fatal(err)
	}
	var counted bool
	for _, c := range rep.ByRuleType {
		counted = counted || (c.RuleType == "READMISSION" && c.Findings == 1 && c.Continued == 1)
	}
	if !counted {
		t.Errorf("physician report by rule type %v: want READMISSION 1 finding, 1 continued", rep.ByRuleType)
	}

	// A planned readmission passes; so does one 16 days after discharge.
	planned := exampleRequest(t, "readmission.json")
	planned.PreviousEncounters[0].Planned = true
	late := exampleRequest(t, "readmission.json")
	late.PreviousEncounters[0].DischargeDate = "2026-11-06"
	for name, r := range map[string]*rxguardv1.CheckOrdersRequest{"planned": planned, "day 16": late} {
		resp, err := ts.client.CheckOrders(ctx, r)
		if err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_PASS {
			t.Errorf("%s: %v %v, want PASS", name, resp, err)
		}
	}
}

// The window N is the sidecar's configuration.
func TestE2EReadmissionWindowConfigured(t *testing.T) {
	seven := 7
	ts := startServer(t, engine.Config{Rules: map[knowledge.RuleType]engine.RuleConfig{knowledge.RuleReadmission: {WindowDays: &seven}}})
	resp, err := ts.client.CheckOrders(context.Background(), exampleRequest(t, "readmission.json"))
	if err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Fatalf("N=7, readmitted after 10 days: %v %v, want PASS", resp, err)
	}
}

func TestE2ELowStandardAdmission(t *testing.T) {
	ts := startServer(t, engine.Config{})
	req := exampleRequest(t, "readmission.json")
	req.PreviousEncounters = nil
	req.Diagnoses = []*rxguardv1.Diagnosis{{Code: "J06.900", Name: "急性上呼吸道感染", Primary: true}}
	resp, err := ts.client.CheckOrders(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	f := byType(resp)["LOW_STANDARD_ADMISSION"]
	if resp.Verdict != rxguardv1.Verdict_VERDICT_WARN || f == nil || f.Action != rxguardv1.Action_ACTION_WARN || len(f.LineIds) != 0 {
		t.Fatalf("verdict %v, findings %v; want a LOW_STANDARD_ADMISSION WARN", resp.Verdict, resp.Findings)
	}
	mustContain(t, "message", f.Message, "急性上呼吸道感染（J06.900）", "J06", "低标准入院")
	mustContain(t, "evidence", f.Evidence, "outpatient-manageable.csv")
	mustContain(t, "suggestion", f.Suggestion, "门诊治疗", "急救")

	req.Encounter.Rescue = true
	if resp, err := ts.client.CheckOrders(context.Background(), req); err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Errorf("rescue admission: %v %v, want PASS", resp, err)
	}
}

// A repeat CT whose earlier scan, 12 days ago at another hospital, is on the
// regional platform with a report id: REPEAT_EXAM names where, when and
// which report, and offers removing the line.
func TestE2ERepeatExamFromAnotherHospital(t *testing.T) {
	ts := startServer(t, engine.Config{})
	req := clinicalRequest([]string{"R05.x00"})
	// With a blood count beside it: removing the order's only line would be
	// a cancellation, which no fix offers.
	req.Orders = []*rxguardv1.OrderLine{{LineId: "CT1", ItemCode: ctScan, ItemName: "胸部CT平扫", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, UnitPrice: 150},
		{LineId: "CBC1", ItemCode: "002501010150000", ItemName: "血细胞分析", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, UnitPrice: 20}}
	req.History = []*rxguardv1.HistoryOrder{{ItemCode: ctScan, Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1,
		Time: "2026-11-10T15:20:00+08:00", EncounterId: "X-77", HospitalCode: "H370800002", ReportId: "JN-CT-20261110-0042"}}
	resp, err := ts.client.CheckOrders(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	f := byType(resp)["REPEAT_EXAM"]
	if resp.Verdict != rxguardv1.Verdict_VERDICT_WARN || f == nil || f.Action != rxguardv1.Action_ACTION_WARN || strings.Join(f.LineIds, ",") != "CT1" {
		t.Fatalf("verdict %v, findings %v; want a REPEAT_EXAM WARN on CT1", resp.Verdict, resp.Findings)
	}
	mustContain(t, "message", f.Message, "胸部CT平扫", "医院 H370800002", "2026-11-10 15:20", "报告号 JN-CT-20261110-0042", "可调阅互认结果")
	mustContain(t, "evidence", f.Evidence, "exam-recognition.csv", "30天", "省内互认")
	mustContain(t, "suggestion", f.Suggestion, "调阅并互认")
	if len(f.Fixes) != 1 || f.Fixes[0].Kind != rxguardv1.FixKind_FIX_KIND_REMOVE_LINE || f.Fixes[0].LineId != "CT1" || f.Fixes[0].Label != "删除本项，调阅互认结果" {
		t.Errorf("fixes %v: want REMOVE_LINE CT1", f.Fixes)
	}

	// 30 days before (day D−W) is outside the window.
	req.History[0].Time = "2026-10-23T15:20:00+08:00"
	resp, err = ts.client.CheckOrders(context.Background(), req)
	if err != nil || byType(resp)["REPEAT_EXAM"] != nil {
		t.Errorf("CT 30 days earlier: %v %v, want no REPEAT_EXAM", resp, err)
	}
}

// Bad input at the new fields is refused with the field's path.
func TestE2EEncounterBadInput(t *testing.T) {
	ts := startServer(t, engine.Config{})
	noOrders := clinicalRequest(nil)
	noOrders.Orders = nil
	badPrev := exampleRequest(t, "readmission.json")
	badPrev.PreviousEncounters = append(badPrev.PreviousEncounters, badPrev.PreviousEncounters[0],
		&rxguardv1.PreviousEncounter{Type: rxguardv1.EncounterType_ENCOUNTER_INPATIENT, AdmitDate: "2026-11-10", DischargeDate: "2026-11-09"})
	for name, tc := range map[string]struct {
		req   *rxguardv1.CheckOrdersRequest
		field string
	}{
		"outpatient without orders":  {noOrders, "orders"},
		"discharge before admission": {badPrev, "previous_encounters[3].discharge_date"},
	} {
		_, err := ts.client.CheckOrders(context.Background(), tc.req)
		vs := validate.Violations(err)
		if status.Code(err) != codes.InvalidArgument || len(vs) != 1 || vs[0].Field != tc.field {
			t.Errorf("%s: %v %v, want InvalidArgument naming %s", name, err, vs, tc.field)
		}
	}
}

// The hospital's plugins get an admission without order lines too: they
// answer (no failure finding) and the built-in READMISSION stands.
func TestE2EAdmissionWithPlugins(t *testing.T) {
	ts, _ := startWithPlugins(t)
	resp, err := ts.client.CheckOrders(context.Background(), exampleRequest(t, "readmission.json"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Verdict != rxguardv1.Verdict_VERDICT_WARN || len(resp.Findings) != 1 || resp.Findings[0].RuleType != "READMISSION" {
		t.Fatalf("verdict %v, findings %v; want only READMISSION (no plugin failure)", resp.Verdict, resp.Findings)
	}
}

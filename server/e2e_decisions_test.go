package server

import (
	"context"
	"encoding/base64"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// warnAndBlock is an order with a BLOCK (male patient, female-only drug)
// and a WARN (physician not registered).
func warnAndBlock() *rxguardv1.CheckOrdersRequest {
	req := clinicalRequest([]string{"R10.400"}, [2]string{"ZD03AAA0043010100166", "艾附暖宫丸"})
	req.Physician.Code = "D379999999999"
	req.Encounter.DepartmentCode = "A03"
	return req
}

func findingOf(t *testing.T, resp *rxguardv1.CheckOrdersResponse, action rxguardv1.Action) *rxguardv1.Finding {
	t.Helper()
	for _, f := range resp.Findings {
		if f.Action == action {
			return f
		}
	}
	t.Fatalf("no %v finding in %v", action, resp.Findings)
	return nil
}

// Every decision is kept with the request as received and the response as
// sent; physicians' responses are recorded per finding with the contract's
// errors; the audit service finds them.
func TestE2EDecisionRecord(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	audit := rxguardv1.NewAuditServiceClient(ts.conn)

	req := warnAndBlock()
	req.Orders[0].ItemCode += " " // as a fixed-width column sends it
	resp, err := ts.client.CheckOrders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.DecisionId) != 36 || resp.DecisionId[14] != '7' {
		t.Errorf("decision id %q is not a UUIDv7", resp.DecisionId)
	}
	warn, block := findingOf(t, resp, rxguardv1.Action_ACTION_WARN), findingOf(t, resp, rxguardv1.Action_ACTION_BLOCK)

	// Continuing a BLOCK is refused, naming the finding.
	_, err = ts.client.RecordResponse(ctx, &rxguardv1.RecordResponseRequest{DecisionId: resp.DecisionId, Responses: []*rxguardv1.FindingResponse{
		{FindingId: block.FindingId, Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: "CLINICAL_NEED", ReasonText: "病情需要"}}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), block.FindingId) {
		t.Errorf("continue a BLOCK: %v", err)
	}
	// Unknown decision and unknown finding: NotFound.
	other := "019ad0c4-7e00-7000-8000-000000000001"
	_, err = ts.client.RecordResponse(ctx, &rxguardv1.RecordResponseRequest{DecisionId: other, Responses: []*rxguardv1.FindingResponse{
		{FindingId: other + "-1", Response: rxguardv1.Response_RESPONSE_MODIFY}}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown decision: %v", err)
	}
	_, err = ts.client.RecordResponse(ctx, &rxguardv1.RecordResponseRequest{DecisionId: resp.DecisionId, Responses: []*rxguardv1.FindingResponse{
		{FindingId: resp.DecisionId + "-99", Response: rxguardv1.Response_RESPONSE_MODIFY}}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown finding: %v", err)
	}
	// Bad input names the field.
	_, err = ts.client.RecordResponse(ctx, &rxguardv1.RecordResponseRequest{DecisionId: resp.DecisionId, Responses: []*rxguardv1.FindingResponse{
		{FindingId: warn.FindingId, Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: "BECAUSE"}}})
	if vs := validate.Violations(err); status.Code(err) != codes.InvalidArgument || len(vs) != 2 || vs[0].Field != "responses[0].reason_code" {
		t.Errorf("bad reason: %v %v", err, vs)
	}

	// Continue the WARN, then modify the BLOCK; the same answer again is a
	// no-op, a changed one a new revision.
	cont := &rxguardv1.RecordResponseRequest{DecisionId: resp.DecisionId, Responses: []*rxguardv1.FindingResponse{
		{FindingId: warn.FindingId, Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: "DATA_ERROR", ReasonText: "医师已备案，库未更新"},
		{FindingId: block.FindingId, Response: rxguardv1.Response_RESPONSE_MODIFY}}}
	for i, want := range []int32{2, 0} {
		r, err := ts.client.RecordResponse(ctx, cont)
		if err != nil || r.Recorded != want {
			t.Fatalf("RecordResponse #%d: %v %v, want recorded %d", i+1, r, err, want)
		}
	}
	cont.Responses = cont.Responses[:1]
	cont.Responses[0].ReasonCode, cont.Responses[0].ReasonText = "OTHER", "已电话核实"
	if r, err := ts.client.RecordResponse(ctx, cont); err != nil || r.Recorded != 1 {
		t.Fatalf("changed answer: %v %v", r, err)
	}

	got, err := audit.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: resp.DecisionId})
	if err != nil {
		t.Fatal(err)
	}
	d := got.Decision
	if !proto.Equal(d.Request, req) {
		t.Errorf("stored request differs from the one sent:\n%v\n%v", d.Request, req)
	}
	if !proto.Equal(d.Response, resp) {
		t.Errorf("stored response differs from the one sent")
	}
	if d.SidecarId != "test-sidecar" || d.Time == "" {
		t.Errorf("sidecar %q time %q", d.SidecarId, d.Time)
	}
	if len(d.Responses) != 3 || d.Responses[2].Revision != 2 || d.Responses[2].ReasonCode != "OTHER" {
		t.Errorf("responses %v", d.Responses)
	}
	if _, err := audit.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: other}); status.Code(err) != codes.NotFound {
		t.Errorf("GetDecision unknown: %v", err)
	}
	if _, err := audit.GetDecision(ctx, &rxguardv1.GetDecisionRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetDecision without id: %v", err)
	}

	// Signed lines are linked to their decision.
	if _, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{DecisionId: resp.DecisionId, PatientId: req.Patient.Id,
		EncounterId: req.Encounter.Id, Orders: []*rxguardv1.OrderLine{{LineId: "1", ItemCode: "XA10BAD9029A001010199929", Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := audit.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: resp.DecisionId}); len(got.GetDecision().GetSignedLineIds()) != 1 {
		t.Errorf("signed lines %v", got.GetDecision().GetSignedLineIds())
	}

	// A second decision for another physician, unanswered.
	req2 := warnAndBlock()
	req2.Physician.Code = "D370800000003"
	resp2, err := ts.client.CheckOrders(ctx, req2)
	if err != nil {
		t.Fatal(err)
	}
	// A third, whose WARN (unregistered physician) nobody answers.
	req3 := clinicalRequest(nil, [2]string{"XA10BAD9029A001010199929", "二甲双胍"})
	req3.Physician.Code = "D379999999998"
	resp3, err := ts.client.CheckOrders(ctx, req3)
	if err != nil || resp3.Verdict != rxguardv1.Verdict_VERDICT_WARN {
		t.Fatal(resp3, err)
	}
	for _, c := range []struct {
		name string
		q    *rxguardv1.QueryDecisionsRequest
		want []string
	}{
		{"all, newest first", &rxguardv1.QueryDecisionsRequest{}, []string{resp3.DecisionId, resp2.DecisionId, resp.DecisionId}},
		{"by physician", &rxguardv1.QueryDecisionsRequest{PhysicianCode: "D379999999999"}, []string{resp.DecisionId}},
		{"by department", &rxguardv1.QueryDecisionsRequest{DepartmentCode: "A03"}, []string{resp2.DecisionId, resp.DecisionId}},
		{"by patient", &rxguardv1.QueryDecisionsRequest{PatientId: "P-nobody"}, nil},
		{"by rule type", &rxguardv1.QueryDecisionsRequest{RuleType: "DRUG_GENDER", Verdict: rxguardv1.Verdict_VERDICT_BLOCK}, []string{resp2.DecisionId, resp.DecisionId}},
		// A WARN needs an answer; a BLOCK can only be modified (resp2).
		{"unanswered only", &rxguardv1.QueryDecisionsRequest{UnansweredOnly: true}, []string{resp3.DecisionId}},
		{"page of one", &rxguardv1.QueryDecisionsRequest{PageSize: 1}, []string{resp3.DecisionId}},
		{"verdict WARN", &rxguardv1.QueryDecisionsRequest{Verdict: rxguardv1.Verdict_VERDICT_WARN}, []string{resp3.DecisionId}},
	} {
		q, err := audit.QueryDecisions(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var ids []string
		for _, d := range q.Decisions {
			ids = append(ids, d.DecisionId)
		}
		if strings.Join(ids, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", c.name, ids, c.want)
		}
	}
	for _, bad := range []*rxguardv1.QueryDecisionsRequest{{From: "yesterday"}, {PageSize: 5000}, {From: "2026-12-01T00:00:00Z", To: "2026-11-01T00:00:00Z"}, {PageToken: "nonsense"}} {
		if _, err := audit.QueryDecisions(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("QueryDecisions(%v): %v, want InvalidArgument", bad, err)
		}
	}

	// The physician's own report (GuardService) and the 医保办's (AuditService).
	from := time.Now().Add(-time.Hour).Format(time.RFC3339)
	to := time.Now().Add(time.Hour).Format(time.RFC3339)
	for _, get := range []func() (*rxguardv1.GetPhysicianReportResponse, error){
		func() (*rxguardv1.GetPhysicianReportResponse, error) {
			return ts.client.GetPhysicianReport(ctx, &rxguardv1.GetPhysicianReportRequest{PhysicianCode: "d370800000003 ", From: from, To: to})
		},
		func() (*rxguardv1.GetPhysicianReportResponse, error) {
			return audit.GetPhysicianReport(ctx, &rxguardv1.GetPhysicianReportRequest{PhysicianCode: "D370800000003", From: from, To: to})
		},
	} {
		rep, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Decisions != 1 || rep.Name != "王强" || rep.Status.GetState() != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED {
			t.Errorf("physician report %v", rep)
		}
	}
	dept, err := audit.GetDepartmentReport(ctx, &rxguardv1.GetDepartmentReportRequest{DepartmentCode: "A03", From: from, To: to})
	if err != nil || dept.Decisions != 2 || len(dept.Physicians) != 2 {
		t.Errorf("department report %v %v", dept, err)
	}
	if _, err := audit.GetDepartmentReport(ctx, &rxguardv1.GetDepartmentReportRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("department report without code: %v", err)
	}
	for _, bad := range []*rxguardv1.GetPhysicianReportRequest{{}, {PhysicianCode: "  "}, {PhysicianCode: "D1", From: "11/01"}, {PhysicianCode: "D1", From: to, To: from}} {
		if _, err := ts.client.GetPhysicianReport(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("GetPhysicianReport(%v): %v, want InvalidArgument", bad, err)
		}
	}

	// Check metrics.
	body := scrape(t, ts)
	for _, want := range []string{
		`rxguard_checks_total{verdict="VERDICT_BLOCK"} 2`,
		`rxguard_checks_total{verdict="VERDICT_WARN"} 1`,
		`rxguard_findings_total{action="ACTION_BLOCK",rule_type="DRUG_GENDER",source="builtin"} 2`,
		`rxguard_responses_total{reason_code="OTHER",response="RESPONSE_CONTINUE"} 1`,
		`rxguard_responses_total{reason_code="NONE",response="RESPONSE_MODIFY"} 2`,
		`rxguard_check_duration_seconds_count 3`,
		`rxguard_decision_log_ok 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(body, "rxguard_checks\n"))
		}
	}
	if !strings.Contains(body, "rxguard_decision_log_written_total") {
		t.Error("/metrics lacks the decision log's counters")
	}
}

func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	resp, err := http.Get("http://" + ts.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The details travel in a trailer that non-Go clients cap at 8 KiB by
// default: the gRPC adapter trims a request with everything wrong to fit,
// and still counts every violation.
func TestE2EViolationsFitInTrailer(t *testing.T) {
	ts := startServer(t, engine.Config{})
	req := clinicalRequest(nil)
	for i := 0; i < 200; i++ {
		req.Orders = append(req.Orders, &rxguardv1.OrderLine{Kind: 77, Quantity: math.NaN(), StartTime: strings.Repeat("x", 256)})
	}
	_, err := ts.client.CheckOrders(context.Background(), req)
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v", st.Code())
	}
	vs := validate.Violations(err)
	if last := vs[len(vs)-1]; last.GetField() != "request" || !strings.Contains(last.GetDescription(), "more violations") {
		t.Errorf("last violation = %v, want the count of those left out", last)
	}
	// 5 per order line: all counted, not all listed.
	if !strings.Contains(st.Message(), "1000 violation(s)") {
		t.Errorf("message %q, want the total of 1000", st.Message())
	}
	b, _ := proto.Marshal(st.Proto())
	if n := base64.RawStdEncoding.EncodedLen(len(b)) + 3*len(st.Message()); n > 7*1024 {
		t.Errorf("status trailer ~%d bytes, want < 7 KiB", n)
	}
}

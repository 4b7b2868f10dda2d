package validate

import (
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

const testDecision = "019ad0c4-7e00-7000-8000-000000000001"

func validResponse() *rxguardv1.RecordResponseRequest {
	return &rxguardv1.RecordResponseRequest{
		DecisionId: testDecision,
		Responses: []*rxguardv1.FindingResponse{
			{FindingId: testDecision + "-1", Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: "CLINICAL_NEED", ReasonText: "患者病情需要，已告知"},
			{FindingId: testDecision + "-2", Response: rxguardv1.Response_RESPONSE_MODIFY},
		},
		RespondedTime: "2026-11-22T10:01:00+08:00",
	}
}

var responseNow = time.Date(2026, 11, 22, 2, 5, 0, 0, time.UTC)

func TestRecordResponse(t *testing.T) {
	at, err := RecordResponse(validResponse(), DefaultLimits(), responseNow)
	if err != nil {
		t.Fatal(err)
	}
	if at.Format(time.RFC3339) != "2026-11-22T10:01:00+08:00" {
		t.Errorf("responded time %v", at)
	}
	cases := []struct {
		name   string
		mutate func(*rxguardv1.RecordResponseRequest)
		field  string // "" = valid
	}{
		{"every reason code", func(r *rxguardv1.RecordResponseRequest) {
			r.Responses = nil
			for i, c := range ReasonCodes {
				r.Responses = append(r.Responses, &rxguardv1.FindingResponse{FindingId: testDecision + "-" + string(rune('1'+i)),
					Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: c.Code, ReasonText: c.Name})
			}
		}, ""},
		{"modify needs no reason", func(r *rxguardv1.RecordResponseRequest) { r.Responses = r.Responses[1:] }, ""},
		{"500 characters", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonText = strings.Repeat("理", 500) }, ""},
		{"no responded time", func(r *rxguardv1.RecordResponseRequest) { r.RespondedTime = "" }, ""},
		{"no decision", func(r *rxguardv1.RecordResponseRequest) { r.DecisionId = "" }, "decision_id"},
		{"no responses", func(r *rxguardv1.RecordResponseRequest) { r.Responses = nil }, "responses"},
		{"no finding", func(r *rxguardv1.RecordResponseRequest) { r.Responses[1].FindingId = "" }, "responses[1].finding_id"},
		{"finding of another decision", func(r *rxguardv1.RecordResponseRequest) { r.Responses[1].FindingId = "other-1" }, "responses[1].finding_id"},
		{"the same finding twice", func(r *rxguardv1.RecordResponseRequest) { r.Responses[1].FindingId = testDecision + "-1" }, "responses[1].finding_id"},
		{"no response", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].Response = 0 }, "responses[0].response"},
		{"unknown response", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].Response = 7 }, "responses[0].response"},
		{"continue without a code", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonCode = "" }, "responses[0].reason_code"},
		{"continue with another code", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonCode = "BECAUSE" }, "responses[0].reason_code"},
		{"lower-case code", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonCode = "clinical_need" }, "responses[0].reason_code"},
		{"continue without a text", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonText = "" }, "responses[0].reason_text"},
		{"text of blanks", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonText = " \u3000 " }, "responses[0].reason_text"},
		{"501 characters", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonText = strings.Repeat("理", 501) }, "responses[0].reason_text"},
		{"invalid UTF-8 text", func(r *rxguardv1.RecordResponseRequest) { r.Responses[0].ReasonText = "\xb2\xa1" }, "responses[0].reason_text"},
		{"modify with a bad code", func(r *rxguardv1.RecordResponseRequest) { r.Responses[1].ReasonCode = "X" }, "responses[1].reason_code"},
		{"bad time", func(r *rxguardv1.RecordResponseRequest) { r.RespondedTime = "now" }, "responded_time"},
		{"time in the future", func(r *rxguardv1.RecordResponseRequest) { r.RespondedTime = "2026-11-23T10:01:00+08:00" }, "responded_time"},
		{"time 1899", func(r *rxguardv1.RecordResponseRequest) { r.RespondedTime = "1899-11-23T10:01:00+08:00" }, "responded_time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := validResponse()
			c.mutate(req)
			_, err := RecordResponse(req, DefaultLimits(), responseNow)
			if c.field == "" {
				if err != nil {
					t.Fatalf("want valid: %v", err)
				}
				return
			}
			got := fields(invalid(t, err))
			if len(got) != 1 || got[0] != c.field {
				t.Errorf("violations %q, want %q", got, c.field)
			}
		})
	}
}

func FuzzRecordResponse(f *testing.F) {
	f.Add(testDecision, testDecision+"-1", int32(1), "CLINICAL_NEED", "病情需要", "2026-11-22T10:01:00+08:00")
	f.Add("d", "d-1", int32(2), "", "", "")
	f.Add("d", "x", int32(9), "OTHER", "\xff", "0000-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, id, fid string, resp int32, code, text, at string) {
		req := &rxguardv1.RecordResponseRequest{DecisionId: id, RespondedTime: at,
			Responses: []*rxguardv1.FindingResponse{{FindingId: fid, Response: rxguardv1.Response(resp), ReasonCode: code, ReasonText: text}}}
		got, err := RecordResponse(req, DefaultLimits(), responseNow)
		if err != nil {
			if len(Violations(err)) == 0 {
				t.Fatalf("error without violations: %v", err)
			}
			return
		}
		// Whatever passes is something the decision log can store as is.
		x := req.Responses[0]
		if got.IsZero() || !strings.HasPrefix(fid, id+"-") || (x.Response != rxguardv1.Response_RESPONSE_CONTINUE && x.Response != rxguardv1.Response_RESPONSE_MODIFY) {
			t.Fatalf("accepted %v", req)
		}
		if x.Response == rxguardv1.Response_RESPONSE_CONTINUE && (!IsReasonCode(code) || strings.TrimSpace(text) == "") {
			t.Fatalf("accepted a continue without a valid reason: %v", req)
		}
	})
}

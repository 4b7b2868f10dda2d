package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
)

// The embedded demo release carries the physician registry and the bureau's
// event feed: qualification findings and physician_status work without a
// bureau.
func TestE2EPhysicianQualification(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()

	st, err := ts.client.GetPhysicianStatus(ctx, &rxguardv1.GetPhysicianStatusRequest{PhysicianCode: "D370800000003", At: "2026-11-22T10:00:00+08:00"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Registered || st.Name != "王强" || st.Status.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED ||
		st.Status.Points != 9 || st.Status.Until != "2027-01-31" {
		t.Errorf("王强: %v", st)
	}

	req := clinicalRequest(nil, [2]string{"XA10BAD9029A001010199929", "二甲双胍"})
	req.Physician.Code = "D370800000003"
	resp, err := ts.client.CheckOrders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f := byType(resp)["PHYSICIAN_QUALIFICATION"]
	if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || f == nil || resp.PhysicianStatus.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED {
		t.Errorf("suspended physician: %v %v %v", resp.Verdict, resp.Findings, resp.PhysicianStatus)
	}
	req.Encounter.Rescue = true
	if resp, err = ts.client.CheckOrders(ctx, req); err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_WARN {
		t.Errorf("rescue: %v %v", resp.GetVerdict(), err)
	}

	req = clinicalRequest(nil, [2]string{"XA10BAD9029A001010199929", "二甲双胍"})
	req.Physician.Code = "D370800000005" // repaired: 6 points
	resp, err = ts.client.CheckOrders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if f := byType(resp)["PHYSICIAN_QUALIFICATION"]; f == nil || f.Action != rxguardv1.Action_ACTION_INFO || resp.Verdict != rxguardv1.Verdict_VERDICT_PASS ||
		resp.PhysicianStatus.Points != 6 || resp.PhysicianStatus.State != rxguardv1.QualificationState_QUALIFICATION_NORMAL {
		t.Errorf("repaired physician: %v %v %v", resp.Verdict, resp.Findings, resp.PhysicianStatus)
	}

	if _, err := ts.client.GetPhysicianStatus(ctx, &rxguardv1.GetPhysicianStatusRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty code: %v", err)
	}
	unknown, err := ts.client.GetPhysicianStatus(ctx, &rxguardv1.GetPhysicianStatusRequest{PhysicianCode: "D379999999999"})
	if err != nil || unknown.Registered || unknown.Status.State != rxguardv1.QualificationState_QUALIFICATION_UNKNOWN {
		t.Errorf("unknown physician: %v %v", unknown, err)
	}
}

package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// ctPlain is the demo recognition list's CT 平扫: 30 days, 省内互认.
const ctPlain = "002103000010000"

// ctCheck is an outpatient check of one CT line for patient at checkTime.
func ctCheck(t *testing.T, patient string, checkTime time.Time) *rxguardv1.CheckOrdersRequest {
	req := exampleRequest(t, "male-aifu-nuangong.json")
	req.Patient.Id = patient
	req.Encounter.Id = "E-" + patient
	req.CheckTime = checkTime.Format(time.RFC3339)
	req.Orders = []*rxguardv1.OrderLine{{LineId: "CT1", ItemCode: ctPlain, ItemName: "CT平扫", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1}}
	return req
}

// A result shared by another hospital, recorded over gRPC into Badger on
// disk, is history the next check sees with its hospital and report id.
func TestE2ERecordSharedResultsFeedsRepeatExam(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	now := time.Now().In(engine.Shanghai).Truncate(time.Second)
	done := now.Add(-5 * 24 * time.Hour)

	before, err := ts.client.CheckOrders(ctx, ctCheck(t, "P-SHARED", now))
	if err != nil {
		t.Fatal(err)
	}
	if f := byType(before)["REPEAT_EXAM"]; f != nil {
		t.Fatalf("REPEAT_EXAM before any history: %v", f)
	}

	req := &rxguardv1.RecordSharedResultsRequest{PatientId: "P-SHARED", Results: []*rxguardv1.SharedResult{
		// Padded and lower-case codes are recorded canonical.
		{ItemCode: " " + ctPlain, ItemName: "CT平扫", HospitalCode: "h37080099", Time: done.Format(time.RFC3339), ReportId: " RPT-20261117-0042 "},
		{ItemCode: "002501010150000", HospitalCode: "H37080099", Time: done.Format(time.RFC3339), ReportId: "RPT-20261117-0043"},
	}}
	resp, err := ts.client.RecordSharedResults(ctx, req)
	if err != nil || resp.Recorded != 2 {
		t.Fatalf("RecordSharedResults: %v %v, want 2 recorded", resp, err)
	}
	// The same export again stores nothing.
	if resp, err := ts.client.RecordSharedResults(ctx, req); err != nil || resp.Recorded != 0 {
		t.Fatalf("again: %v %v, want 0 recorded", resp, err)
	}

	after, err := ts.client.CheckOrders(ctx, ctCheck(t, "P-SHARED", now))
	if err != nil {
		t.Fatal(err)
	}
	f := byType(after)["REPEAT_EXAM"]
	if f == nil || f.Action != rxguardv1.Action_ACTION_WARN || after.Verdict != rxguardv1.Verdict_VERDICT_WARN {
		t.Fatalf("verdict %v findings %v; want a REPEAT_EXAM WARN", after.Verdict, after.Findings)
	}
	for _, want := range []string{"H37080099", "RPT-20261117-0042", done.Format("2006-01-02 15:04")} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q does not quote %q", f.Message, want)
		}
	}
	// Another patient is not affected.
	other, err := ts.client.CheckOrders(ctx, ctCheck(t, "P-OTHER", now))
	if err != nil || byType(other)["REPEAT_EXAM"] != nil {
		t.Fatalf("other patient: %v %v", other, err)
	}
}

// RecordSigned's hospital_code and report_id reach the history a check sees.
func TestE2ERecordSignedHospitalAndReport(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	now := time.Now().In(engine.Shanghai).Truncate(time.Second)
	signed := now.Add(-2 * 24 * time.Hour)
	_, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
		PatientId: "P-SIGNED", EncounterId: "E-old", SignedTime: signed.Format(time.RFC3339), HospitalCode: "H37080077",
		Orders: []*rxguardv1.OrderLine{{LineId: "1", ItemCode: ctPlain, Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, ReportId: "RPT-SIGNED-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.client.CheckOrders(ctx, ctCheck(t, "P-SIGNED", now))
	if err != nil {
		t.Fatal(err)
	}
	f := byType(resp)["REPEAT_EXAM"]
	if f == nil || !strings.Contains(f.Message, "H37080077") || !strings.Contains(f.Message, "RPT-SIGNED-1") {
		t.Fatalf("findings %v; want REPEAT_EXAM quoting H37080077 and RPT-SIGNED-1", resp.Findings)
	}
}

func TestE2ERecordSharedResultsBadInput(t *testing.T) {
	ts := startServer(t, engine.Config{})
	now := time.Now()
	valid := func() *rxguardv1.RecordSharedResultsRequest {
		return &rxguardv1.RecordSharedResultsRequest{PatientId: "P1", Results: []*rxguardv1.SharedResult{
			{ItemCode: ctPlain, HospitalCode: "H1", Time: now.Add(-time.Hour).Format(time.RFC3339), ReportId: "R1"},
			{ItemCode: ctPlain, HospitalCode: "H1", Time: now.Add(-2 * time.Hour).Format(time.RFC3339), ReportId: "R2"},
			{ItemCode: ctPlain, HospitalCode: "H1", Time: now.Add(-3 * time.Hour).Format(time.RFC3339), ReportId: "R3"},
		}}
	}
	for _, c := range []struct {
		name   string
		mutate func(*rxguardv1.RecordSharedResultsRequest)
		field  string
	}{
		{"no patient", func(r *rxguardv1.RecordSharedResultsRequest) { r.PatientId = "" }, "patient_id"},
		{"no results", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results = nil }, "results"},
		{"time without offset", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[2].Time = "2026-11-21 10:00:00" }, "results[2].time"},
		{"time ahead", func(r *rxguardv1.RecordSharedResultsRequest) {
			r.Results[1].Time = now.Add(time.Hour).Format(time.RFC3339)
		}, "results[1].time"},
		{"drug code", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[0].ItemCode = "XB01ACD9002A001010199902" }, "results[0].item_code"},
		{"no report", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[1].ReportId = "" }, "results[1].report_id"},
		{"no hospital", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[0].HospitalCode = "" }, "results[0].hospital_code"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := valid()
			c.mutate(req)
			_, err := ts.client.RecordSharedResults(context.Background(), req)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code %v (%v), want InvalidArgument", status.Code(err), err)
			}
			found := false
			for _, v := range validate.Violations(err) {
				found = found || v.Field == c.field
			}
			if !found {
				t.Errorf("violations %v do not name %s", validate.Violations(err), c.field)
			}
		})
	}
	// Nothing of the refused requests was stored.
	resp, err := ts.client.RecordSharedResults(context.Background(), valid())
	if err != nil || resp.Recorded != 3 {
		t.Fatalf("valid request after bad ones: %v %v", resp, err)
	}
}

package validate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func validShared() *rxguardv1.RecordSharedResultsRequest {
	return &rxguardv1.RecordSharedResultsRequest{
		PatientId: "P1",
		Results: []*rxguardv1.SharedResult{
			{ItemCode: "002103000010000", ItemName: "X线计算机体层(CT)平扫", HospitalCode: "H37080002", Time: "2026-11-20T09:00:00+08:00", ReportId: "RPT-0001"},
			{ItemCode: "002501010150000", HospitalCode: "H37080003", Time: "2026-11-21T10:00:00Z", ReportId: "RPT-0002"},
			{ItemCode: "002501010150000", HospitalCode: "H37080003", Time: "2026-11-21T10:00:00Z", ReportId: "RPT-0003"},
		},
	}
}

func TestRecordSharedResults(t *testing.T) {
	p, err := RecordSharedResults(validShared(), DefaultLimits(), signedNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Times) != 3 || p.Times[0].Format(time.RFC3339) != "2026-11-20T09:00:00+08:00" || !p.Times[1].Equal(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("times %v", p.Times)
	}
	type mut = func(*rxguardv1.RecordSharedResultsRequest)
	cases := []struct {
		name   string
		mutate mut
		field  string
	}{
		{"no patient", func(r *rxguardv1.RecordSharedResultsRequest) { r.PatientId = "" }, "patient_id"},
		{"no results", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results = nil }, "results"},
		{"too many results", func(r *rxguardv1.RecordSharedResultsRequest) {
			for len(r.Results) <= DefaultLimits().MaxHistory {
				r.Results = append(r.Results, &rxguardv1.SharedResult{ItemCode: "002103000010000", HospitalCode: "H", Time: "2026-11-20T09:00:00+08:00",
					ReportId: fmt.Sprint("R", len(r.Results))})
			}
		}, "results"},
		{"no item code", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[2].ItemCode = "" }, "results[2].item_code"},
		{"blank item code", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[0].ItemCode = " \u3000" }, "results[0].item_code"},
		{"drug code", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[1].ItemCode = "XB01ACD9002A001010199902" }, "results[1].item_code"},
		{"14 digits", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[1].ItemCode = "00250101015000" }, "results[1].item_code"},
		{"letters", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[1].ItemCode = "00250101015000A" }, "results[1].item_code"},
		{"no hospital", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[2].HospitalCode = "" }, "results[2].hospital_code"},
		{"no report id", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[0].ReportId = "" }, "results[0].report_id"},
		{"blank report id", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[0].ReportId = "  " }, "results[0].report_id"},
		{"long report id", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[0].ReportId = strings.Repeat("r", 257) }, "results[0].report_id"},
		{"bad UTF-8 name", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[0].ItemName = "CT\xff" }, "results[0].item_name"},
		{"same item and report twice", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[2].ReportId = " RPT-0002" }, "results[2].report_id"},
		{"no time", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[2].Time = "" }, "results[2].time"},
		{"time not RFC 3339", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[2].Time = "2026-11-21 10:00:00" }, "results[2].time"},
		{"time 1899", func(r *rxguardv1.RecordSharedResultsRequest) { r.Results[2].Time = "1899-12-31T23:59:59+08:00" }, "results[2].time"},
		{"time past retention", func(r *rxguardv1.RecordSharedResultsRequest) {
			r.Results[2].Time = signedNow.Add(-MaxSignedAge).Format(time.RFC3339)
		}, "results[2].time"},
		{"time ahead of the clock", func(r *rxguardv1.RecordSharedResultsRequest) {
			r.Results[2].Time = signedNow.Add(MaxSignedSkew + time.Second).Format(time.RFC3339)
		}, "results[2].time"},
		{"request too large", func(r *rxguardv1.RecordSharedResultsRequest) {
			r.Results[0].ItemName = strings.Repeat("名", DefaultLimits().MaxRequestBytes/3+1)
		}, "request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := validShared()
			c.mutate(req)
			_, err := RecordSharedResults(req, DefaultLimits(), signedNow)
			if !IsInvalid(err) {
				t.Fatalf("want a validation error: %v", err)
			}
			found := false
			for _, v := range Violations(err) {
				found = found || v.Field == c.field
			}
			if !found {
				t.Errorf("violations %v do not name %s", Violations(err), c.field)
			}
		})
	}
}

func TestRecordSharedResultsBoundsAccept(t *testing.T) {
	for _, at := range []string{
		signedNow.Add(MaxSignedSkew).Format(time.RFC3339Nano),
		signedNow.Add(-MaxSignedAge + time.Second).Format(time.RFC3339),
	} {
		req := validShared()
		req.Results[0].Time = at
		// Padded codes are accepted: they are recorded canonical.
		req.Results[0].ItemCode = " 002103000010000 "
		if _, err := RecordSharedResults(req, DefaultLimits(), signedNow); err != nil {
			t.Errorf("time %q: %v", at, err)
		}
	}
}

func TestRecordSignedHospitalAndReport(t *testing.T) {
	req := validSigned()
	req.HospitalCode = "H37080001"
	req.Orders[0].ReportId = "RPT-1"
	if _, err := RecordSigned(req, DefaultLimits(), signedNow); err != nil {
		t.Fatal(err)
	}
	// An optional code of only padding is an absent one (this hospital),
	// as for every optional code.
	req.HospitalCode = " \t"
	if _, err := RecordSigned(req, DefaultLimits(), signedNow); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*rxguardv1.RecordSignedRequest)
		field  string
	}{
		{"long hospital", func(r *rxguardv1.RecordSignedRequest) { r.HospitalCode = strings.Repeat("H", 257) }, "hospital_code"},
		{"bad UTF-8 report", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].ReportId = "\xc3" }, "orders[1].report_id"},
		{"long report", func(r *rxguardv1.RecordSignedRequest) { r.Orders[0].ReportId = strings.Repeat("r", 257) }, "orders[0].report_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := validSigned()
			c.mutate(req)
			_, err := RecordSigned(req, DefaultLimits(), signedNow)
			found := false
			for _, v := range Violations(err) {
				found = found || v.Field == c.field
			}
			if !found {
				t.Errorf("violations %v (%v) do not name %s", Violations(err), err, c.field)
			}
		})
	}
}

func TestSharedReportID(t *testing.T) {
	for in, want := range map[string]string{"RPT-1": "RPT-1", " rpt-1\t": "rpt-1", "\u3000AbC\u3000": "AbC", "": ""} {
		if got := SharedReportID(in); got != want {
			t.Errorf("SharedReportID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRecordSharedResults(f *testing.F) {
	f.Add("P1", "002103000010000", "CT", "H1", "2026-11-20T09:00:00+08:00", "R1", uint8(1))
	f.Add("", " 002103000010000", "", "", "2026-11-20 09:00:00", "", uint8(3))
	f.Add("P\xff", "X", "\xff", " ", "9999-12-31T23:59:59Z", "  ", uint8(0))
	f.Fuzz(func(t *testing.T, patient, item, name, hospital, at, report string, n uint8) {
		req := &rxguardv1.RecordSharedResultsRequest{PatientId: patient}
		for i := range int(n % 5) {
			req.Results = append(req.Results, &rxguardv1.SharedResult{ItemCode: item, ItemName: name, HospitalCode: hospital, Time: at,
				ReportId: report + strings.Repeat("x", i%2)})
		}
		p, err := RecordSharedResults(req, DefaultLimits(), signedNow)
		if err != nil {
			if !IsInvalid(err) || len(Violations(err)) == 0 {
				t.Fatalf("error without violations: %v", err)
			}
			return
		}
		if len(p.Times) != len(req.Results) || len(req.Results) == 0 {
			t.Fatalf("accepted %d results, %d times", len(req.Results), len(p.Times))
		}
		for _, tm := range p.Times {
			if tm.After(signedNow.Add(MaxSignedSkew)) || !tm.After(signedNow.Add(-MaxSignedAge)) {
				t.Fatalf("time %v accepted outside the bounds", tm)
			}
		}
	})
}

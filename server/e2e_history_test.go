package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

// bedFee is the demo's 床位费, an ITEM_FREQUENCY item: once a day.
const bedFee = "001109000010000"

func bedFeeLine(id string) *rxguardv1.OrderLine {
	return &rxguardv1.OrderLine{LineId: id, ItemCode: bedFee, ItemName: "床位费", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1}
}

// inpatientCheck is a check of one 床位费 line for patient at checkTime.
func inpatientCheck(t *testing.T, patient string, checkTime time.Time) *rxguardv1.CheckOrdersRequest {
	req := exampleRequest(t, "male-aifu-nuangong.json")
	req.Patient.Id = patient
	req.Encounter.Id = "E-" + patient
	req.Encounter.Type = rxguardv1.EncounterType_ENCOUNTER_INPATIENT
	req.Scene = rxguardv1.Scene_SCENE_INPATIENT
	req.CheckTime = checkTime.Format(time.RFC3339)
	req.Orders = []*rxguardv1.OrderLine{bedFeeLine("N1")}
	return req
}

// mustBlockBedFee checks a second 床位费 on the day of the recorded one: a
// BLOCK by ITEM_FREQUENCY on the new line.
func mustBlockBedFee(t *testing.T, ts *testServer, req *rxguardv1.CheckOrdersRequest, when string) {
	t.Helper()
	resp, err := ts.client.CheckOrders(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: CheckOrders: %v", when, err)
	}
	f := byType(resp)["ITEM_FREQUENCY"]
	if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || f == nil || f.Action != rxguardv1.Action_ACTION_BLOCK {
		t.Fatalf("%s: verdict %v, findings %v; want a BLOCK by ITEM_FREQUENCY (the day's 床位费 is recorded)", when, resp.Verdict, resp.Findings)
	}
}

// flood records n 床位费 lines for patient in requests of at most 200
// lines, line i at at(i). It returns the first error.
func flood(ts *testServer, patient string, n int, signed time.Time, at func(i int) time.Time) error {
	for start := 0; start < n; start += 200 {
		req := &rxguardv1.RecordSignedRequest{PatientId: patient, EncounterId: "E-flood", SignedTime: signed.Format(time.RFC3339)}
		for i := start; i < min(n, start+200); i++ {
			l := bedFeeLine(fmt.Sprint("F", i))
			l.StartTime = at(i).Format(time.RFC3339)
			req.Orders = append(req.Orders, l)
		}
		if _, err := ts.client.RecordSigned(context.Background(), req); err != nil {
			return err
		}
	}
	return nil
}

// The hardening issue's bug, end to end over gRPC with Badger on disk:
// 10,000 lines recorded with times after a check's check_time evicted the
// patient's real history from the lookup (it kept the newest 10,000 since
// check_time − 400 days, then dropped those after check_time), so the
// day's second 床位费 passed.
func TestE2EFutureHistoryCannotEvictRealHistory(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	sh := engine.Shanghai
	n := history.MaxLookup

	t.Run("after check_time, before now", func(t *testing.T) {
		// A check replayed at yesterday noon; the patient's 床位费 was
		// signed at 08:00 that day; then 10,000 lines dated between the
		// check and now were recorded (valid times: not ahead of the clock).
		y, m, d := time.Now().In(sh).AddDate(0, 0, -1).Date()
		checkAt := time.Date(y, m, d, 12, 0, 0, 0, sh)
		const patient = "P-flood-past"
		rec, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
			PatientId: patient, EncounterId: "E-" + patient, SignedTime: checkAt.Add(-4 * time.Hour).Format(time.RFC3339),
			Orders: []*rxguardv1.OrderLine{bedFeeLine("S1")},
		})
		if err != nil || rec.Recorded != 1 {
			t.Fatalf("RecordSigned: %v %v", rec, err)
		}
		mustBlockBedFee(t, ts, inpatientCheck(t, patient, checkAt), "before the flood")
		if err := flood(ts, patient, n, checkAt.Add(3*time.Hour), func(i int) time.Time { return checkAt.Add(time.Duration(i+1) * time.Second) }); err != nil {
			t.Fatalf("flood: %v", err)
		}
		mustBlockBedFee(t, ts, inpatientCheck(t, patient, checkAt), "after 10,000 later lines")
		mustBlockBedFee(t, ts, inpatientCheck(t, patient, checkAt), "after 10,000 later lines, again")

		// A check after all of them has more than the cap in its window:
		// it still answers, and /metrics counts the truncated lookup.
		if _, err := ts.client.CheckOrders(ctx, inpatientCheck(t, patient, checkAt.Add(4*time.Hour))); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + ts.httpAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "rxguard_history_lookup_truncated_total 1") {
			t.Errorf("/metrics does not count the truncated lookup:\n%s", grepLines(string(body), "rxguard_history"))
		}
	})

	t.Run("ahead of the clock", func(t *testing.T) {
		// The 床位费 signed now; 10,000 lines dated a month ahead. They are
		// refused now; either way the check at now must still block.
		now := time.Now().In(sh).Truncate(time.Second)
		const patient = "P-flood-future"
		rec, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
			PatientId: patient, EncounterId: "E-" + patient, SignedTime: now.Format(time.RFC3339),
			Orders: []*rxguardv1.OrderLine{bedFeeLine("S1")},
		})
		if err != nil || rec.Recorded != 1 {
			t.Fatalf("RecordSigned: %v %v", rec, err)
		}
		ahead := now.AddDate(0, 1, 0)
		err = flood(ts, patient, n, ahead, func(i int) time.Time { return ahead.Add(time.Duration(i) * time.Second) })
		if err != nil && status.Code(err) != codes.InvalidArgument {
			t.Fatalf("flood: %v", err)
		}
		mustBlockBedFee(t, ts, inpatientCheck(t, patient, now), "after 10,000 lines a month ahead")
	})
}

// An item code recorded with the padding of a fixed-width CHAR column is
// the same item as the clean code checked later.
func TestE2ERecordedCodesAreCanonical(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	now := time.Now().In(engine.Shanghai).Truncate(time.Second)
	const patient = "P-padded"
	padded := bedFeeLine("S1")
	padded.ItemCode = bedFee + "   "
	rec, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
		PatientId: patient, EncounterId: "E-" + patient, SignedTime: now.Format(time.RFC3339),
		Orders: []*rxguardv1.OrderLine{padded},
	})
	if err != nil || rec.Recorded != 1 {
		t.Fatalf("RecordSigned: %v %v", rec, err)
	}
	mustBlockBedFee(t, ts, inpatientCheck(t, patient, now), "padded code recorded, clean code checked")
	// Recording the clean code of the same line again is the same line.
	if rec, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
		PatientId: patient, EncounterId: "E-" + patient, SignedTime: now.Format(time.RFC3339),
		Orders: []*rxguardv1.OrderLine{bedFeeLine("S1")},
	}); err != nil || rec.Recorded != 0 {
		t.Errorf("clean re-record of the padded line: %v %v, want recorded 0", rec, err)
	}
}

// RecordSigned refuses, with the field named, what used to be answered
// recorded=0 or silently collapsed.
func TestE2ERecordSignedRefusesUnrecordableLines(t *testing.T) {
	ts := startServer(t, engine.Config{})
	now := time.Now().In(engine.Shanghai).Truncate(time.Second)
	for _, c := range []struct {
		name, field string
		mutate      func(*rxguardv1.RecordSignedRequest)
	}{
		{"signed 1970", "signed_time", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "1970-01-01T00:00:00Z" }},
		{"signed year 0", "signed_time", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "0000-01-01T00:00:00Z" }},
		{"signed ahead", "signed_time", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = now.AddDate(0, 0, 1).Format(time.RFC3339) }},
		{"no line ids", "orders[0].line_id", func(r *rxguardv1.RecordSignedRequest) { r.Orders[0].LineId, r.Orders[1].LineId = "", "" }},
		{"duplicate line id", "orders[1].line_id", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].LineId = r.Orders[0].LineId }},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := &rxguardv1.RecordSignedRequest{PatientId: "P-refused", EncounterId: "E1", SignedTime: now.Format(time.RFC3339),
				Orders: []*rxguardv1.OrderLine{bedFeeLine("1"), bedFeeLine("2")}}
			req.Orders[1].ItemCode = "001102000030000"
			c.mutate(req)
			rec, err := ts.client.RecordSigned(context.Background(), req)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, %v; want InvalidArgument", rec, err)
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
}

// The bounds that must agree: what RecordSigned accepts as old, what the
// store keeps, and how far back a check looks.
func TestHistoryWindowsAgree(t *testing.T) {
	if validate.MaxSignedAge != history.DefaultRetention || check.HistoryWindow != history.DefaultRetention {
		t.Errorf("validate.MaxSignedAge %v, history.DefaultRetention %v, check.HistoryWindow %v: want one value",
			validate.MaxSignedAge, history.DefaultRetention, check.HistoryWindow)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A long-stay patient's thousands of entries on items the order does not
// contain are filtered out before the rules (engine.HistoryNeeds, per
// distinct item code from the history cache), and change nothing: the
// day's recorded 床位费 still blocks a second one, on the first check (a
// cache miss) and the next (a hit), with the same findings as for a
// patient with only the 床位费 recorded.
func TestE2ELongStayHistoryFiltered(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	now := time.Now().In(engine.Shanghai).Truncate(time.Second)
	// An hour ago, but on the same day in Shanghai: the day's 床位费 is
	// what blocks (in the first hour after midnight there, an hour ago is
	// yesterday).
	signed := now.Add(-time.Hour)
	if midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, engine.Shanghai); signed.Before(midnight) {
		signed = midnight
	}
	record := func(patient string, others int) {
		t.Helper()
		rec, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
			PatientId: patient, EncounterId: "E-" + patient, SignedTime: signed.Format(time.RFC3339),
			Orders: []*rxguardv1.OrderLine{bedFeeLine("S1")},
		})
		if err != nil || rec.Recorded != 1 {
			t.Fatalf("RecordSigned: %v %v", rec, err)
		}
		for start := 0; start < others; start += 200 {
			req := &rxguardv1.RecordSignedRequest{PatientId: patient, EncounterId: "E-" + patient, SignedTime: signed.Format(time.RFC3339)}
			for i := start; i < min(others, start+200); i++ {
				req.Orders = append(req.Orders, &rxguardv1.OrderLine{LineId: fmt.Sprint("O", i), ItemCode: fmt.Sprintf("0012%011d", i%300),
					Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1,
					StartTime: now.Add(-time.Duration(i+2) * time.Minute).Format(time.RFC3339)})
			}
			if _, err := ts.client.RecordSigned(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
	}
	record("P-short", 0)
	record("P-long", 3000)
	check := func(patient string) *rxguardv1.CheckOrdersResponse {
		t.Helper()
		req := inpatientCheck(t, patient, now)
		req.Encounter.Id = "E-stay" // both patients alike
		mustBlockBedFee(t, ts, req, patient)
		resp, err := ts.client.CheckOrders(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	short := check("P-short")
	for _, when := range []string{"miss", "hit"} {
		long := check("P-long")
		if len(long.Findings) != len(short.Findings) {
			t.Fatalf("%s: %d findings for the long stay, %d for the short", when, len(long.Findings), len(short.Findings))
		}
		for i := range short.Findings {
			a, b := long.Findings[i], short.Findings[i]
			if a.RuleId != b.RuleId || a.Action != b.Action || a.Message != b.Message || a.Evidence != b.Evidence {
				t.Errorf("%s: finding %d differs:\nlong  %v\nshort %v", when, i, a, b)
			}
		}
	}
}

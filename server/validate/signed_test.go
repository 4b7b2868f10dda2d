package validate

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func validSigned() *rxguardv1.RecordSignedRequest {
	return &rxguardv1.RecordSignedRequest{
		DecisionId: "d-1", PatientId: "P1", EncounterId: "E1", SignedTime: "2026-11-22T10:00:00+08:00",
		Orders: []*rxguardv1.OrderLine{
			{LineId: "1", ItemCode: "001102000030000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1},
			{LineId: "2", ItemCode: "XB01ACD9002A001010199902", Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 7, Days: 7, StartTime: "2026-11-22T08:30:00+08:00"},
		},
	}
}

// signedNow is the server's clock for validSigned: an hour after its
// signed_time.
var signedNow = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

func TestRecordSigned(t *testing.T) {
	p, err := RecordSigned(validSigned(), DefaultLimits(), signedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !p.LineTimes[0].Equal(p.SignedTime) || p.LineTimes[1].Format(time.RFC3339) != "2026-11-22T08:30:00+08:00" {
		t.Errorf("line times %v (signed %v)", p.LineTimes, p.SignedTime)
	}
	cases := []struct {
		name   string
		mutate func(*rxguardv1.RecordSignedRequest)
		field  string
	}{
		{"no patient", func(r *rxguardv1.RecordSignedRequest) { r.PatientId = "" }, "patient_id"},
		{"no orders", func(r *rxguardv1.RecordSignedRequest) { r.Orders = nil }, "orders"},
		{"no item code", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].ItemCode = "" }, "orders[1].item_code"},
		{"no kind", func(r *rxguardv1.RecordSignedRequest) { r.Orders[0].Kind = 0 }, "orders[0].kind"},
		{"zero quantity", func(r *rxguardv1.RecordSignedRequest) { r.Orders[0].Quantity = 0 }, "orders[0].quantity"},
		// Stored, these would overflow the rules' counters in every later check.
		{"quantity 1e19", func(r *rxguardv1.RecordSignedRequest) { r.Orders[0].Quantity = 1e19 }, "orders[0].quantity"},
		{"quantity +Inf", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].Quantity = math.Inf(1) }, "orders[1].quantity"},
		{"days over the bound", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].Days = MaxDays + 1 }, "orders[1].days"},
		{"bad start time", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].StartTime = "2026-11-22 08:30" }, "orders[1].start_time"},
		{"bad signed time", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "today" }, "signed_time"},
		// Times the history would drop, or that no check may see yet: today
		// they are answered recorded=0, like lines already recorded.
		{"signed time 1970", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "1970-01-01T00:00:00Z" }, "signed_time"},
		{"signed time year 0", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "0000-01-01T00:00:00Z" }, "signed_time"},
		{"signed time 1899", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "1899-12-31T23:59:59+08:00" }, "signed_time"},
		{"signed time past retention", func(r *rxguardv1.RecordSignedRequest) {
			r.SignedTime = signedNow.Add(-MaxSignedAge).Format(time.RFC3339)
		}, "signed_time"},
		{"signed time in the future", func(r *rxguardv1.RecordSignedRequest) {
			r.SignedTime = signedNow.Add(MaxSignedSkew + time.Second).Format(time.RFC3339)
		}, "signed_time"},
		{"signed time in 2099", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "2099-01-01T00:00:00+08:00" }, "signed_time"},
		{"start time 1970", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].StartTime = "1970-01-01T08:00:00+08:00" }, "orders[1].start_time"},
		{"start time year 0", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].StartTime = "0000-01-01T00:00:00Z" }, "orders[1].start_time"},
		{"start time in the future", func(r *rxguardv1.RecordSignedRequest) {
			r.Orders[1].StartTime = signedNow.Add(MaxFutureSkew + time.Second).Format(time.RFC3339)
		}, "orders[1].start_time"},
		{"no line id", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].LineId = "" }, "orders[1].line_id"},
		{"duplicate line id", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].LineId = r.Orders[0].LineId }, "orders[1].line_id"},
		{"blank item code", func(r *rxguardv1.RecordSignedRequest) { r.Orders[0].ItemCode = " \u3000 " }, "orders[0].item_code"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := validSigned()
			c.mutate(req)
			_, err := RecordSigned(req, DefaultLimits(), signedNow)
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

// Times inside the bounds are accepted to the edge: clock skew, a line
// scheduled for the next morning, a late recording of a line months old.
func TestRecordSignedTimeBoundsAccept(t *testing.T) {
	for _, c := range []struct{ signed, start string }{
		{signedNow.Add(MaxSignedSkew).Format(time.RFC3339Nano), ""},
		{"", signedNow.Add(MaxFutureSkew).Format(time.RFC3339Nano)},
		{signedNow.Add(-MaxSignedAge + time.Second).Format(time.RFC3339), ""},
		{"", signedNow.Add(-MaxSignedAge + time.Second).Format(time.RFC3339)},
	} {
		req := validSigned()
		if c.signed != "" {
			req.SignedTime = c.signed
		}
		if c.start != "" {
			req.Orders[1].StartTime = c.start
		}
		if _, err := RecordSigned(req, DefaultLimits(), signedNow); err != nil {
			t.Errorf("signed_time %q, start_time %q: %v", req.SignedTime, req.Orders[1].StartTime, err)
		}
	}
}

// Every line without a line_id and every repeat is named, in a request too
// long for the pairwise scan too.
func TestRecordSignedLineIDs(t *testing.T) {
	req := validSigned()
	for len(req.Orders) < smallOrders+8 {
		o := proto.Clone(req.Orders[0]).(*rxguardv1.OrderLine)
		o.LineId = fmt.Sprint("L", len(req.Orders))
		req.Orders = append(req.Orders, o)
	}
	req.Orders[3].LineId = ""
	req.Orders[5].LineId = ""
	req.Orders[len(req.Orders)-1].LineId = req.Orders[10].LineId
	_, err := RecordSigned(req, DefaultLimits(), signedNow)
	var got []string
	for _, v := range Violations(err) {
		got = append(got, v.Field)
	}
	want := []string{"orders[3].line_id", "orders[5].line_id", fmt.Sprintf("orders[%d].line_id", len(req.Orders)-1)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("violations on %v, want %v (%v)", got, want, err)
	}
	if vs := Violations(err); len(vs) == 3 && !strings.Contains(vs[2].Description, "orders[10]") {
		t.Errorf("duplicate does not name the first use: %q", vs[2].Description)
	}
}

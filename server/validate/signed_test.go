package validate

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

func TestRecordSigned(t *testing.T) {
	p, err := RecordSigned(validSigned(), DefaultLimits(), testNow)
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
		{"bad start time", func(r *rxguardv1.RecordSignedRequest) { r.Orders[1].StartTime = "2026-11-22 08:30" }, "orders[1].start_time"},
		{"bad signed time", func(r *rxguardv1.RecordSignedRequest) { r.SignedTime = "today" }, "signed_time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := validSigned()
			c.mutate(req)
			_, err := RecordSigned(req, DefaultLimits(), testNow)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code %v: %v", status.Code(err), err)
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

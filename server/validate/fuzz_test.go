package validate

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// seedRequests are valid and invalid requests for the fuzz corpora; the
// committed files under testdata/fuzz add binary edge cases.
func seedRequests() []*rxguardv1.CheckOrdersRequest {
	valid := validRequest(3, 2)
	bad := validRequest(2, 1)
	bad.Scene = 9
	bad.Patient.BirthDate = "2020/01/02"
	bad.Orders[1].LineId = bad.Orders[0].LineId
	bad.Orders[0].Quantity = math.NaN()
	bad.History[0].Time = "yesterday"
	noParts := &rxguardv1.CheckOrdersRequest{Orders: []*rxguardv1.OrderLine{{}}}
	// An admission (no order lines) with previous stays and shared
	// results, and a broken one: swapped dates, padding, unknown type.
	admission := validRequest(0, 2)
	admission.Scene = rxguardv1.Scene_SCENE_ADMISSION
	admission.PreviousEncounters = prevStays(3)
	admission.PreviousEncounters[1].Planned = true
	admission.PreviousEncounters[2].HospitalCode = ""
	admission.History[0].HospitalCode, admission.History[0].ReportId = "H370800002", "RPT-1"
	badPrev := validRequest(1, 1)
	badPrev.PreviousEncounters = prevStays(2)
	badPrev.PreviousEncounters[0].AdmitDate, badPrev.PreviousEncounters[0].DischargeDate = "2024-04-10", "2024-04-01"
	badPrev.PreviousEncounters[1].Type = 7
	badPrev.PreviousEncounters[1].PrimaryDiagnosis = " j18.900\u3000"
	badPrev.PreviousEncounters[1].DischargeDate = "2024-13-01"
	return []*rxguardv1.CheckOrdersRequest{valid, bad, noParts, {}, admission, badPrev}
}

// checkInvariants is what every input must satisfy: no panic (the fuzzer
// catches that), and either a clean parse or InvalidArgument with reasons.
func checkInvariants(t *testing.T, req *rxguardv1.CheckOrdersRequest) {
	if size, bound := proto.Size(req), sizeBound(req, math.MaxInt); bound < size {
		t.Fatalf("sizeBound %d < proto.Size %d", bound, size)
	}
	p, err := CheckOrders(req, DefaultLimits(), testNow)
	if err != nil {
		if !IsInvalid(err) {
			t.Fatalf("want a validation error: %v", err)
		}
		if len(Violations(err)) == 0 {
			t.Fatalf("InvalidArgument without violations: %v", err)
		}
		return
	}
	if len(p.OrderStart) != len(req.GetOrders()) || len(p.HistoryTime) != len(req.GetHistory()) {
		t.Fatalf("parsed %d/%d times for %d orders, %d history entries",
			len(p.OrderStart), len(p.HistoryTime), len(req.GetOrders()), len(req.GetHistory()))
	}
	if p.CheckTime.IsZero() || p.BirthDate.IsZero() || p.BirthDate.After(p.CheckTime) {
		t.Fatalf("accepted request with CheckTime %v, BirthDate %v", p.CheckTime, p.BirthDate)
	}
	if len(req.GetOrders()) == 0 && req.GetScene() != rxguardv1.Scene_SCENE_ADMISSION {
		t.Fatalf("accepted a %v request without order lines", req.GetScene())
	}
	for i, pe := range p.Req.GetPreviousEncounters() {
		a, aok := parseDate(pe.GetAdmitDate(), shanghai())
		d, dok := parseDate(pe.GetDischargeDate(), shanghai())
		if (pe.GetAdmitDate() != "" && !aok) || (pe.GetDischargeDate() != "" && !dok) || (aok && dok && d.Before(a)) {
			t.Fatalf("accepted previous_encounters[%d] with admit %q, discharge %q", i, pe.GetAdmitDate(), pe.GetDischargeDate())
		}
		if c, changed := knowledge.CanonicalCode(pe.GetPrimaryDiagnosis()); changed {
			t.Fatalf("previous_encounters[%d].primary_diagnosis %q judged uncanonical (want %q)", i, pe.GetPrimaryDiagnosis(), c)
		}
	}
}

func FuzzCheckOrders(f *testing.F) {
	for _, req := range seedRequests() {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(rxguardv1.CheckOrdersRequest)
		if proto.Unmarshal(b, req) != nil {
			return
		}
		checkInvariants(t, req)
	})
}

func FuzzCheckOrdersJSON(f *testing.F) {
	for _, req := range seedRequests() {
		// Marshal (not protojson's randomised whitespace) is stable enough
		// for a seed; NaN becomes "NaN", which protojson accepts back.
		b, err := protojson.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"scene":"SCENE_OUTPATIENT","patient":{"gender":99,"birth_date":"2020-02-30"},"orders":[{"line_id":"1","quantity":"Infinity"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(rxguardv1.CheckOrdersRequest)
		if protojson.Unmarshal(b, req) != nil {
			return
		}
		checkInvariants(t, req)
	})
}

package validate

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Values outside the documented bounds are refused with the field's path
// (before, 1e19 or +Inf passed and overflowed the rules' counters).
func TestValueAndTimeBounds(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *rxguardv1.CheckOrdersRequest)
		field  string // "" = valid
	}{
		{"quantity at the bound", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = MaxQuantity }, ""},
		{"quantity over the bound", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = MaxQuantity + 1 }, "orders[0].quantity"},
		{"quantity 1e19", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = 1e19 }, "orders[0].quantity"},
		{"quantity +Inf", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = math.Inf(1) }, "orders[0].quantity"},
		{"quantity NaN", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = math.NaN() }, "orders[0].quantity"},
		{"quantity 0", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = 0 }, "orders[0].quantity"},
		{"quantity -1", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = -1 }, "orders[0].quantity"},
		{"days at the bound", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Days = MaxDays }, ""},
		{"days over the bound", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Days = MaxDays + 1 }, "orders[0].days"},
		{"days max int32", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[1].Days = math.MaxInt32 }, "orders[1].days"},
		{"times_per_day over", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].TimesPerDay = MaxTimesPerDay + 1 }, "orders[0].times_per_day"},
		{"times_per_day -Inf", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].TimesPerDay = math.Inf(-1) }, "orders[0].times_per_day"},
		{"unit_price over", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].UnitPrice = 1e12 }, "orders[0].unit_price"},
		{"unit_price 0 (free item)", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].UnitPrice = 0 }, ""},
		{"history quantity 1e19", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Quantity = 1e19 }, "history[0].quantity"},
		{"history quantity 0", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Quantity = 0 }, ""},
		{"history days over", func(r *rxguardv1.CheckOrdersRequest) { r.History[1].Days = MaxDays + 1 }, "history[1].days"},

		{"check_time 1899", func(r *rxguardv1.CheckOrdersRequest) { r.CheckTime = "1899-12-31T23:00:00+08:00" }, "check_time"},
		{"check_time a year ahead of the server", func(r *rxguardv1.CheckOrdersRequest) { r.CheckTime = "2025-05-01T08:30:00+08:00" }, "check_time"},
		{"check_time a replay of 2020", func(r *rxguardv1.CheckOrdersRequest) {
			r.CheckTime = "2020-05-01T08:30:00+08:00"
			r.Encounter.AdmitDate = "2020-04-30"
			for _, o := range r.Orders {
				o.StartTime = ""
			}
			for _, h := range r.History {
				h.Time = "2020-04-01T08:00:00+08:00"
			}
		}, ""},
		{"birth 1899", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "1899-12-31" }, "patient.birth_date"},
		{"admit date 1800", func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.AdmitDate = "1800-01-01" }, "encounter.admit_date"},
		{"admit date a week after check", func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.AdmitDate = "2024-05-08" }, "encounter.admit_date"},
		{"start_time next morning", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].StartTime = "2024-05-02T08:00:00+08:00" }, ""},
		{"start_time in 2099", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].StartTime = "2099-05-02T08:00:00+08:00" }, "orders[0].start_time"},
		{"start_time year 0001", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[1].StartTime = "0001-01-01T00:00:00Z" }, "orders[1].start_time"},
		{"history time in the future", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Time = "2030-01-01T00:00:00+08:00" }, "history[0].time"},
		{"history time 1970 is a time", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Time = "1970-01-01T00:00:00Z" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validRequest(2, 2)
			tt.mutate(req)
			_, err := CheckOrders(req, DefaultLimits(), testNow)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v (%q)", err, fields(Violations(err)))
				}
				return
			}
			got := fields(invalid(t, err))
			if len(got) != 1 || got[0] != tt.field {
				t.Fatalf("violations %q, want exactly %q", got, tt.field)
			}
		})
	}
}

// Invalid UTF-8 (and U+FFFD, what the gRPC codec leaves of it) in any
// string field is InvalidArgument naming the field.
func TestInvalidUTF8Refused(t *testing.T) {
	for _, bad := range []string{"\xff\xfe", "头孢\xe5", "a\uFFFDb"} {
		for _, c := range []struct {
			field  string
			mutate func(r *rxguardv1.CheckOrdersRequest, s string)
		}{
			{"request_id", func(r *rxguardv1.CheckOrdersRequest, s string) { r.RequestId = s }},
			{"orders[1].item_name", func(r *rxguardv1.CheckOrdersRequest, s string) { r.Orders[1].ItemName = s }},
			{"orders[0].item_code", func(r *rxguardv1.CheckOrdersRequest, s string) { r.Orders[0].ItemCode = s }},
			{"physician.code", func(r *rxguardv1.CheckOrdersRequest, s string) { r.Physician.Code = s }},
			{"diagnoses[0].name", func(r *rxguardv1.CheckOrdersRequest, s string) { r.Diagnoses[0].Name = s }},
			{"history[0].encounter_id", func(r *rxguardv1.CheckOrdersRequest, s string) { r.History[0].EncounterId = s }},
		} {
			req := validRequest(2, 1)
			c.mutate(req, bad)
			got := fields(invalid(t, mustFail(CheckOrders(req, DefaultLimits(), testNow))))
			if len(got) != 1 || got[0] != c.field {
				t.Errorf("%q in %s: violations %q", bad, c.field, got)
			}
		}
	}
}

func mustFail(_ Parsed, err error) error { return err }

// Codes are normalised into a copy (the caller's request is what the
// decision record keeps); a code of only white space is a missing code.
func TestCodesNormalisedIntoACopy(t *testing.T) {
	req := validRequest(2, 1)
	req.Orders[0].ItemCode = " xj01ddt018a001010101445\t"
	req.Physician.Code = "D110108012345\u3000"
	req.Diagnoses[0].Code = "j18.900"
	req.History[0].ItemCode = "XJ01DDT018A001010101445\x00\x00"
	original := proto.Clone(req)
	p, err := CheckOrders(req, DefaultLimits(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, original) {
		t.Fatal("the caller's request was modified")
	}
	if p.Req == req {
		t.Fatal("Parsed.Req is the caller's request, want a normalised copy")
	}
	if got := p.Req.Orders[0].ItemCode; got != "XJ01DDT018A001010101445" {
		t.Errorf("orders[0].item_code = %q", got)
	}
	if got := p.Req.Physician.Code; got != "D110108012345" {
		t.Errorf("physician.code = %q", got)
	}
	if got := p.Req.Diagnoses[0].Code; got != "J18.900" {
		t.Errorf("diagnoses[0].code = %q", got)
	}
	if got := p.Req.History[0].ItemCode; got != "XJ01DDT018A001010101445" {
		t.Errorf("history[0].item_code = %q", got)
	}
	var paths []string
	for _, n := range p.Normalised {
		paths = append(paths, n.Field)
		if n.Field == "orders[0].item_code" && (n.Line != 0 || n.From != " xj01ddt018a001010101445\t") {
			t.Errorf("orders[0] normalisation %+v", n)
		}
	}
	if want := "physician.code diagnoses[0].code orders[0].item_code history[0].item_code"; strings.Join(paths, " ") != want {
		t.Errorf("normalised %q, want %q", paths, want)
	}

	clean := validRequest(2, 1)
	p, err = CheckOrders(clean, DefaultLimits(), testNow)
	if err != nil || p.Req != clean || p.Normalised != nil {
		t.Errorf("clean request: Req is caller's = %v, normalised %v, err %v", p.Req == clean, p.Normalised, err)
	}

	blank := validRequest(1, 0)
	blank.Orders[0].ItemCode = " \u3000\t"
	if got := fields(invalid(t, mustFail(CheckOrders(blank, DefaultLimits(), testNow)))); len(got) != 1 || got[0] != "orders[0].item_code" {
		t.Errorf("blank code: violations %q", got)
	}
}

// Validating a clean request still costs only the one allocation of parsed
// times: normalisation scans, it does not copy.
func TestCleanRequestAllocations(t *testing.T) {
	req := validRequest(10, 5)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := CheckOrders(req, DefaultLimits(), testNow); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("CheckOrders of a clean request: %.0f allocations, want 1", allocs)
	}
}

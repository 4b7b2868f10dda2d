package validate

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// testNow is the fallback check time; validRequest sets check_time, so it is
// only used where a test clears it.
var testNow = time.Date(2024, 5, 1, 0, 30, 0, 0, time.UTC)

// validRequest returns a request that passes with nLines order lines and
// nHistory history entries.
func validRequest(nLines, nHistory int) *rxguardv1.CheckOrdersRequest {
	req := &rxguardv1.CheckOrdersRequest{
		RequestId: "req-1",
		Scene:     rxguardv1.Scene_SCENE_OUTPATIENT,
		Hospital:  &rxguardv1.Hospital{Code: "H11010800001", Level: 3},
		Patient: &rxguardv1.Patient{
			Id:            "P001",
			Gender:        rxguardv1.Gender_GENDER_FEMALE,
			BirthDate:     "1990-02-28",
			InsuranceType: rxguardv1.InsuranceType_INSURANCE_EMPLOYEE,
			Maternity:     rxguardv1.Maternity_MATERNITY_NONE,
		},
		Encounter: &rxguardv1.Encounter{
			Id:             "E001",
			Type:           rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT,
			DepartmentCode: "A03",
			AdmitDate:      "2024-04-30",
		},
		Physician: &rxguardv1.Physician{
			Code:  "D110108012345",
			Name:  "张医生",
			Title: rxguardv1.Title_TITLE_ATTENDING,
		},
		Diagnoses: []*rxguardv1.Diagnosis{{Code: "J18.900", Name: "肺炎", Primary: true}},
		CheckTime: "2024-05-01T08:30:00+08:00",
	}
	for i := range nLines {
		req.Orders = append(req.Orders, &rxguardv1.OrderLine{
			LineId:      fmt.Sprintf("L%d", i+1),
			ItemCode:    "XJ01DDT018A001010101445",
			ItemName:    "头孢曲松钠注射液",
			Kind:        rxguardv1.ItemKind_ITEM_DRUG,
			Quantity:    2,
			Unit:        "支",
			Days:        3,
			TimesPerDay: 1,
			StartTime:   "2024-05-01T09:00:00+08:00",
			UnitPrice:   12.5,
		})
	}
	for i := range nHistory {
		req.History = append(req.History, &rxguardv1.HistoryOrder{
			ItemCode:    "001201000010000",
			Kind:        rxguardv1.ItemKind_ITEM_SERVICE,
			Quantity:    1,
			Days:        0,
			Time:        fmt.Sprintf("2024-04-%02dT10:00:00Z", i%28+1),
			EncounterId: "E000",
		})
	}
	return req
}

// prevStays returns n valid previous inpatient stays, each admitted on
// 2024-04-01 and discharged on 2024-04-10.
func prevStays(n int) []*rxguardv1.PreviousEncounter {
	out := make([]*rxguardv1.PreviousEncounter, n)
	for i := range out {
		out[i] = &rxguardv1.PreviousEncounter{
			Id: fmt.Sprintf("E-%d", i), Type: rxguardv1.EncounterType_ENCOUNTER_INPATIENT, HospitalCode: "H11010800001",
			AdmitDate: "2024-04-01", DischargeDate: "2024-04-10", PrimaryDiagnosis: "J18.900",
		}
	}
	return out
}

func fields(vs []*errdetails.BadRequest_FieldViolation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.GetField()
	}
	return out
}

// invalid asserts err is InvalidArgument with at least one violation and
// returns the violations.
func invalid(t *testing.T, err error) []*errdetails.BadRequest_FieldViolation {
	t.Helper()
	if err == nil {
		t.Fatal("CheckOrders: got nil error, want InvalidArgument")
	}
	if !IsInvalid(err) {
		t.Fatalf("want a validation error, got %v", err)
	}
	vs := Violations(err)
	if len(vs) == 0 {
		t.Fatalf("no field violations in %v", err)
	}
	for _, v := range vs {
		if v.GetDescription() == "" {
			t.Errorf("violation on %q has no description", v.GetField())
		}
	}
	return vs
}

func findField(vs []*errdetails.BadRequest_FieldViolation, field string) *errdetails.BadRequest_FieldViolation {
	for _, v := range vs {
		if v.GetField() == field {
			return v
		}
	}
	return nil
}

func TestCheckOrdersValid(t *testing.T) {
	req := validRequest(3, 2)
	req.Orders[1].StartTime = ""
	p, err := CheckOrders(req, DefaultLimits(), testNow)
	if err != nil {
		t.Fatalf("CheckOrders: %v", err)
	}
	sh := shanghai()
	if want := time.Date(2024, 5, 1, 8, 30, 0, 0, sh); !p.CheckTime.Equal(want) || p.CheckTime.Location() != sh {
		t.Errorf("CheckTime = %v, want %v in Asia/Shanghai", p.CheckTime, want)
	}
	if want := time.Date(1990, 2, 28, 0, 0, 0, 0, sh); !p.BirthDate.Equal(want) {
		t.Errorf("BirthDate = %v, want %v", p.BirthDate, want)
	}
	if len(p.OrderStart) != 3 || len(p.HistoryTime) != 2 {
		t.Fatalf("len(OrderStart, HistoryTime) = %d, %d; want 3, 2", len(p.OrderStart), len(p.HistoryTime))
	}
	if want := time.Date(2024, 5, 1, 9, 0, 0, 0, sh); !p.OrderStart[0].Equal(want) {
		t.Errorf("OrderStart[0] = %v, want %v", p.OrderStart[0], want)
	}
	if !p.OrderStart[1].IsZero() {
		t.Errorf("OrderStart[1] = %v, want zero for an absent start_time", p.OrderStart[1])
	}
	// "Z" input is converted, so the engine's calendar days are local ones.
	if got := p.HistoryTime[0]; got.Location() != sh || got.Hour() != 18 || got.Day() != 1 {
		t.Errorf("HistoryTime[0] = %v, want 2024-04-01 18:00 in Asia/Shanghai", got)
	}
	// Appending to one slice must not overwrite the other.
	if cap(p.OrderStart) != len(p.OrderStart) {
		t.Errorf("cap(OrderStart) = %d, want %d", cap(p.OrderStart), len(p.OrderStart))
	}
}

func TestCheckOrdersDefaultsCheckTimeToNow(t *testing.T) {
	req := validRequest(1, 0)
	req.CheckTime = ""
	p, err := CheckOrders(req, DefaultLimits(), testNow)
	if err != nil {
		t.Fatalf("CheckOrders: %v", err)
	}
	if !p.CheckTime.Equal(testNow) || p.CheckTime.Location() != shanghai() {
		t.Errorf("CheckTime = %v, want %v in Asia/Shanghai", p.CheckTime, testNow)
	}
}

func TestCheckOrdersViolations(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*rxguardv1.CheckOrdersRequest)
		field  string
	}{
		{"scene unspecified", func(r *rxguardv1.CheckOrdersRequest) { r.Scene = 0 }, "scene"},
		{"scene unknown", func(r *rxguardv1.CheckOrdersRequest) { r.Scene = 42 }, "scene"},
		{"request_id too long", func(r *rxguardv1.CheckOrdersRequest) { r.RequestId = strings.Repeat("r", 257) }, "request_id"},
		{"hospital missing", func(r *rxguardv1.CheckOrdersRequest) { r.Hospital = nil }, "hospital"},
		{"hospital level 0", func(r *rxguardv1.CheckOrdersRequest) { r.Hospital.Level = 0 }, "hospital.level"},
		{"hospital level 4", func(r *rxguardv1.CheckOrdersRequest) { r.Hospital.Level = 4 }, "hospital.level"},
		{"patient missing", func(r *rxguardv1.CheckOrdersRequest) { r.Patient = nil }, "patient"},
		{"gender unspecified", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = 0 }, "patient.gender"},
		{"gender unknown", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = rxguardv1.Gender(99) }, "patient.gender"},
		{"gender negative", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = rxguardv1.Gender(-1) }, "patient.gender"},
		{"birth_date missing", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "" }, "patient.birth_date"},
		{"birth_date slashes", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "2020/01/02" }, "patient.birth_date"},
		{"birth_date no padding", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "2020-1-2" }, "patient.birth_date"},
		{"birth_date not a day", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "2023-02-29" }, "patient.birth_date"},
		{"birth_date with time", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "2020-01-02T00:00:00Z" }, "patient.birth_date"},
		{"birth_date after check_time", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "2024-05-02" }, "patient.birth_date"},
		{"insurance unspecified", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.InsuranceType = 0 }, "patient.insurance_type"},
		{"insurance unknown", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.InsuranceType = 6 }, "patient.insurance_type"},
		{"maternity unknown", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Maternity = 9 }, "patient.maternity"},
		{"encounter missing", func(r *rxguardv1.CheckOrdersRequest) { r.Encounter = nil }, "encounter"},
		{"encounter type unspecified", func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.Type = 0 }, "encounter.type"},
		{"encounter type unknown", func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.Type = 4 }, "encounter.type"},
		{"admit_date bad", func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.AdmitDate = "20240430" }, "encounter.admit_date"},
		{"physician missing", func(r *rxguardv1.CheckOrdersRequest) { r.Physician = nil }, "physician.code"},
		{"physician code empty", func(r *rxguardv1.CheckOrdersRequest) { r.Physician.Code = "" }, "physician.code"},
		{"physician title unknown", func(r *rxguardv1.CheckOrdersRequest) { r.Physician.Title = 5 }, "physician.title"},
		{"physician name too long", func(r *rxguardv1.CheckOrdersRequest) { r.Physician.Name = strings.Repeat("张", 400) }, "physician.name"},
		{"too many diagnoses", func(r *rxguardv1.CheckOrdersRequest) {
			r.Diagnoses = make([]*rxguardv1.Diagnosis, 101)
		}, "diagnoses"},
		{"diagnosis code empty", func(r *rxguardv1.CheckOrdersRequest) { r.Diagnoses[0].Code = "" }, "diagnoses[0].code"},
		{"orders empty", func(r *rxguardv1.CheckOrdersRequest) { r.Orders = nil }, "orders"},
		{"line_id empty", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[1].LineId = "" }, "orders[1].line_id"},
		{"line_id duplicate", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[1].LineId = r.Orders[0].LineId }, "orders[1].line_id"},
		{"item_code empty", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].ItemCode = "" }, "orders[0].item_code"},
		{"item_code too long", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].ItemCode = strings.Repeat("X", 257) }, "orders[0].item_code"},
		{"item_name too long", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].ItemName = strings.Repeat("药", 342) }, "orders[0].item_name"},
		{"unit too long", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Unit = strings.Repeat("u", 257) }, "orders[0].unit"},
		{"kind unspecified", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Kind = 0 }, "orders[0].kind"},
		{"kind unknown", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Kind = 5 }, "orders[0].kind"},
		{"quantity zero", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = 0 }, "orders[0].quantity"},
		{"quantity negative", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = -1 }, "orders[0].quantity"},
		{"quantity NaN", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = math.NaN() }, "orders[0].quantity"},
		{"quantity +Inf", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Quantity = math.Inf(1) }, "orders[0].quantity"},
		{"days negative", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].Days = -1 }, "orders[0].days"},
		{"times_per_day negative", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].TimesPerDay = -0.5 }, "orders[0].times_per_day"},
		{"times_per_day NaN", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].TimesPerDay = math.NaN() }, "orders[0].times_per_day"},
		{"times_per_day Inf", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].TimesPerDay = math.Inf(1) }, "orders[0].times_per_day"},
		{"start_time no offset", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].StartTime = "2024-05-01T09:00:00" }, "orders[0].start_time"},
		{"start_time date only", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].StartTime = "2024-05-01" }, "orders[0].start_time"},
		{"unit_price negative", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].UnitPrice = -0.01 }, "orders[0].unit_price"},
		{"unit_price -Inf", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].UnitPrice = math.Inf(-1) }, "orders[0].unit_price"},
		{"unit_price NaN", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].UnitPrice = math.NaN() }, "orders[0].unit_price"},
		{"too many history", func(r *rxguardv1.CheckOrdersRequest) {
			r.History = make([]*rxguardv1.HistoryOrder, 2001)
		}, "history"},
		{"history item_code empty", func(r *rxguardv1.CheckOrdersRequest) { r.History[1].ItemCode = "" }, "history[1].item_code"},
		{"history kind unknown", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Kind = 7 }, "history[0].kind"},
		{"history quantity negative", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Quantity = -2 }, "history[0].quantity"},
		{"history quantity NaN", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Quantity = math.NaN() }, "history[0].quantity"},
		{"history days negative", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Days = -7 }, "history[0].days"},
		{"history time missing", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Time = "" }, "history[0].time"},
		{"history time bad", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Time = "2024-04-01 10:00:00" }, "history[0].time"},
		{"history encounter_id too long", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].EncounterId = strings.Repeat("e", 300) }, "history[0].encounter_id"},
		{"orders empty outside admission", func(r *rxguardv1.CheckOrdersRequest) { r.Scene, r.Orders = rxguardv1.Scene_SCENE_SETTLEMENT, nil }, "orders"},
		{"history hospital_code too long", func(r *rxguardv1.CheckOrdersRequest) { r.History[1].HospitalCode = strings.Repeat("H", 257) }, "history[1].hospital_code"},
		{"history report_id too long", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].ReportId = strings.Repeat("R", 257) }, "history[0].report_id"},
		{"history report_id not UTF-8", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].ReportId = "R\xff" }, "history[0].report_id"},
		{"order report_id too long", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[1].ReportId = strings.Repeat("R", 257) }, "orders[1].report_id"},
		{"too many previous encounters", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = make([]*rxguardv1.PreviousEncounter, 201)
		}, "previous_encounters"},
		{"previous type unspecified", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(2)
			r.PreviousEncounters[1].Type = 0
		}, "previous_encounters[1].type"},
		{"previous type unknown", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].Type = 9
		}, "previous_encounters[0].type"},
		{"previous id too long", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].Id = strings.Repeat("e", 257)
		}, "previous_encounters[0].id"},
		{"previous hospital_code too long", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].HospitalCode = strings.Repeat("H", 257)
		}, "previous_encounters[0].hospital_code"},
		{"previous admit_date bad", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].AdmitDate = "2024/04/01"
		}, "previous_encounters[0].admit_date"},
		{"previous admit_date before 1900", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].AdmitDate = "1899-12-31"
		}, "previous_encounters[0].admit_date"},
		{"previous discharge_date not a day", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(4)
			r.PreviousEncounters[3].DischargeDate = "2024-02-30"
		}, "previous_encounters[3].discharge_date"},
		{"previous discharge_date after check_time + 24h", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(4)
			r.PreviousEncounters[3].DischargeDate = "2024-05-03"
		}, "previous_encounters[3].discharge_date"},
		{"previous discharge before admit", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(4)
			r.PreviousEncounters[3].AdmitDate, r.PreviousEncounters[3].DischargeDate = "2024-04-10", "2024-04-09"
		}, "previous_encounters[3].discharge_date"},
		{"previous primary_diagnosis too long", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].PrimaryDiagnosis = strings.Repeat("J", 257)
		}, "previous_encounters[0].primary_diagnosis"},
		{"check_time bad", func(r *rxguardv1.CheckOrdersRequest) { r.CheckTime = "yesterday" }, "check_time"},
		{"check_time too long", func(r *rxguardv1.CheckOrdersRequest) { r.CheckTime = strings.Repeat("9", 300) }, "check_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validRequest(2, 2)
			tt.mutate(req)
			_, err := CheckOrders(req, DefaultLimits(), testNow)
			vs := invalid(t, err)
			if findField(vs, tt.field) == nil {
				t.Errorf("violations %q do not include %q", fields(vs), tt.field)
			}
		})
	}
}

// Accepted edge values, so the rules above do not drift into rejecting
// what the contract allows.
func TestCheckOrdersAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*rxguardv1.CheckOrdersRequest)
	}{
		{"born on the check day", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "2024-05-01" }},
		{"leap day", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "2020-02-29" }},
		{"optional enums unspecified", func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.Maternity, r.Physician.Title, r.History[0].Kind = 0, 0, 0
		}},
		{"no admit_date, start_time, check_time", func(r *rxguardv1.CheckOrdersRequest) {
			r.Encounter.AdmitDate, r.Orders[0].StartTime, r.CheckTime = "", "", ""
		}},
		{"zero days, times, price", func(r *rxguardv1.CheckOrdersRequest) {
			r.Orders[0].Days, r.Orders[0].TimesPerDay, r.Orders[0].UnitPrice = 0, 0, 0
		}},
		{"zero history quantity", func(r *rxguardv1.CheckOrdersRequest) { r.History[0].Quantity = 0 }},
		{"fractional seconds and offsets", func(r *rxguardv1.CheckOrdersRequest) {
			r.CheckTime = "2024-05-01T00:30:00.123Z"
			r.Orders[0].StartTime = "2024-05-01T09:00:00.5-05:00"
		}},
		{"malformed item_code is a finding, not bad input", func(r *rxguardv1.CheckOrdersRequest) {
			r.Orders[0].ItemCode = "not-a-code"
		}},
		{"no diagnoses, no history", func(r *rxguardv1.CheckOrdersRequest) { r.Diagnoses, r.History = nil, nil }},
		{"exactly 200 lines", func(r *rxguardv1.CheckOrdersRequest) { r.Orders = validRequest(200, 0).Orders }},
		{"string at the limit", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].ItemCode = strings.Repeat("X", 256) }},
		{"admission without orders", func(r *rxguardv1.CheckOrdersRequest) { r.Scene, r.Orders = rxguardv1.Scene_SCENE_ADMISSION, nil }},
		{"admission without orders or history", func(r *rxguardv1.CheckOrdersRequest) {
			r.Scene, r.Orders, r.History = rxguardv1.Scene_SCENE_ADMISSION, nil, nil
		}},
		{"settlement scene", func(r *rxguardv1.CheckOrdersRequest) { r.Scene = rxguardv1.Scene_SCENE_SETTLEMENT }},
		{"history from another hospital with a report id", func(r *rxguardv1.CheckOrdersRequest) {
			r.History[0].HospitalCode, r.History[0].ReportId = "H370800002", "RPT-1"
		}},
		{"previous encounters", func(r *rxguardv1.CheckOrdersRequest) { r.PreviousEncounters = prevStays(200) }},
		{"previous encounter with only a type", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = []*rxguardv1.PreviousEncounter{{Type: rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT}}
		}},
		{"previous discharged the day it was admitted", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].DischargeDate = r.PreviousEncounters[0].AdmitDate
		}},
		{"previous discharge_date on the next day (24h skew)", func(r *rxguardv1.CheckOrdersRequest) {
			r.PreviousEncounters = prevStays(1)
			r.PreviousEncounters[0].DischargeDate = "2024-05-02"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validRequest(2, 2)
			tt.mutate(req)
			if _, err := CheckOrders(req, DefaultLimits(), testNow); err != nil {
				t.Errorf("CheckOrders: %v; violations %q", err, fields(Violations(err)))
			}
		})
	}
}

func TestCheckOrdersReportsAllInRequestOrder(t *testing.T) {
	req := validRequest(3, 1)
	req.CheckTime = "soon"
	req.Scene = 0
	req.Patient.BirthDate = "01/02/2020"
	req.Orders[0].Quantity = math.NaN()
	req.Orders[2].ItemCode = ""
	req.History[0].Time = ""
	_, err := CheckOrders(req, DefaultLimits(), testNow)
	got := fields(invalid(t, err))
	want := []string{"scene", "patient.birth_date", "orders[0].quantity", "orders[2].item_code", "history[0].time", "check_time"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("violations = %q, want %q", got, want)
	}
	if msg := err.Error(); !strings.Contains(msg, "6 violation") || !strings.Contains(msg, "scene") {
		t.Errorf("message %q should count the violations and name the first", msg)
	}
}

func TestDuplicateLineIDNamesFirstOccurrence(t *testing.T) {
	// Both the small-request scan and the set used past smallOrders.
	for _, n := range []int{5, smallOrders + 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			req := validRequest(n, 0)
			req.Orders[3].LineId = req.Orders[1].LineId
			req.Orders[n-1].LineId = req.Orders[1].LineId
			_, err := CheckOrders(req, DefaultLimits(), testNow)
			vs := invalid(t, err)
			if got := fields(vs); len(got) != 2 || got[0] != "orders[3].line_id" || got[1] != fmt.Sprintf("orders[%d].line_id", n-1) {
				t.Fatalf("violations = %q, want orders[3].line_id and orders[%d].line_id", got, n-1)
			}
			for _, v := range vs {
				if !strings.Contains(v.GetDescription(), "orders[1]") || !strings.Contains(v.GetDescription(), `"L2"`) {
					t.Errorf("description %q should name orders[1] and the id", v.GetDescription())
				}
			}
		})
	}
}

func TestTooManyOrdersStopsAtTheCount(t *testing.T) {
	req := validRequest(201, 0)
	for _, o := range req.Orders {
		o.ItemCode = "" // would be 201 violations if the lines were walked
	}
	_, err := CheckOrders(req, DefaultLimits(), testNow)
	vs := invalid(t, err)
	if len(vs) != 1 || vs[0].GetField() != "orders" || !strings.Contains(vs[0].GetDescription(), "201") || !strings.Contains(vs[0].GetDescription(), "200") {
		t.Errorf("violations = %v, want one on orders naming 201 and 200", vs)
	}

	// A custom limit; zero fields keep their defaults.
	lim := Limits{MaxOrderLines: 2}
	if _, err := CheckOrders(validRequest(3, 0), lim, testNow); findField(Violations(err), "orders") == nil {
		t.Errorf("MaxOrderLines 2: got %v, want a violation on orders", err)
	}
	if _, err := CheckOrders(validRequest(2, 3), lim, testNow); err != nil {
		t.Errorf("MaxOrderLines 2, other limits default: %v", err)
	}
}

func TestRequestTooLarge(t *testing.T) {
	req := validRequest(200, 0)
	name := strings.Repeat("药", 2000) // 6000 bytes, also over MaxNameLen
	for _, o := range req.Orders {
		o.ItemName = name
	}
	req.Patient = nil // would be a violation if the request were walked
	if proto.Size(req) <= 1<<20 {
		t.Fatalf("test request is only %d bytes", proto.Size(req))
	}
	_, err := CheckOrders(req, DefaultLimits(), testNow)
	vs := invalid(t, err)
	if len(vs) != 1 || vs[0].GetField() != "request" || !strings.Contains(vs[0].GetDescription(), "1048576") {
		t.Errorf("violations = %v, want only one on request with the limit", vs)
	}
}

// A request with everything wrong costs a bounded collection: every
// violation counted, the first ones listed (the gRPC adapter trims further
// to its trailer budget: server/grpcerr_test.go).
func TestViolationsCountedAndBounded(t *testing.T) {
	req := validRequest(200, 2000)
	for _, o := range req.Orders {
		o.LineId, o.ItemCode, o.Kind, o.Quantity, o.StartTime = "", "", 77, math.NaN(), strings.Repeat("x", 256)
	}
	for _, h := range req.History {
		h.Time = "bad"
	}
	_, err := CheckOrders(req, DefaultLimits(), testNow)
	vs := invalid(t, err)
	last := vs[len(vs)-1]
	if last.GetField() != "request" || !strings.Contains(last.GetDescription(), "more violations") {
		t.Errorf("last violation = %v, want the count of those left out", last)
	}
	var ve *Error
	if !errors.As(err, &ve) || ve.Total() != 3000 {
		t.Fatalf("total %d, want 3000 (5 per order line, 1 per history entry)", ve.Total())
	}
	size := 0
	for _, v := range ve.Violations {
		size += len(v.Field) + len(v.Description)
	}
	if size > collectBudget {
		t.Errorf("collected %d bytes of violations, budget %d", size, collectBudget)
	}
}

func TestNilInputsDoNotPanic(t *testing.T) {
	if _, err := CheckOrders(nil, DefaultLimits(), testNow); err == nil {
		t.Error("nil request: got nil error")
	} else {
		invalid(t, err)
	}
	req := validRequest(2, 2)
	req.Orders[1] = nil
	req.History[0] = nil
	req.Diagnoses[0] = nil
	_, err := CheckOrders(req, DefaultLimits(), testNow)
	vs := invalid(t, err)
	for _, f := range []string{"diagnoses[0].code", "orders[1].line_id", "orders[1].quantity", "history[0].time"} {
		if findField(vs, f) == nil {
			t.Errorf("violations %q do not include %q", fields(vs), f)
		}
	}
}

func TestDescriptionsClipEchoedInput(t *testing.T) {
	req := validRequest(1, 0)
	req.Patient.BirthDate = strings.Repeat("九", 80) // 240 bytes, under MaxStringLen
	_, err := CheckOrders(req, DefaultLimits(), testNow)
	v := findField(invalid(t, err), "patient.birth_date")
	if v == nil || len(v.GetDescription()) > 200 || !strings.Contains(v.GetDescription(), "YYYY-MM-DD") {
		t.Errorf("violation = %v, want a short description of the format", v)
	}
}

func TestCheckOrdersProtoJSON(t *testing.T) {
	// The contract: protojson accepts both lowerCamelCase and the proto
	// field names, and enum values by name.
	const camel = `{
	  "requestId": "r1", "scene": "SCENE_INPATIENT",
	  "hospital": {"code": "H1", "level": 2},
	  "patient": {"id": "P1", "gender": "GENDER_MALE", "birthDate": "1960-10-01",
	              "insuranceType": "INSURANCE_RESIDENT", "maternity": "MATERNITY_NONE"},
	  "encounter": {"id": "E1", "type": "ENCOUNTER_INPATIENT", "departmentCode": "A03", "admitDate": "2024-04-28", "rescue": false},
	  "physician": {"code": "D1", "name": "李", "title": "TITLE_CHIEF", "departmentCode": "A03"},
	  "diagnoses": [{"code": "I10.x00", "name": "高血压", "primary": true}],
	  "orders": [{"lineId": "1", "itemCode": "XC09AAA001A001010100001", "itemName": "卡托普利片", "kind": "ITEM_DRUG",
	              "quantity": 1.5, "unit": "盒", "days": 7, "timesPerDay": 3, "startTime": "2024-05-01T08:00:00+08:00",
	              "unitPrice": 9.9, "selfPay": false, "restrictionAttested": true}],
	  "history": [{"itemCode": "XC09AAA001A001010100001", "kind": "ITEM_DRUG", "quantity": 1, "days": 7,
	               "time": "2024-04-20T10:00:00+08:00", "encounterId": "E0"}],
	  "checkTime": "2024-05-01T08:30:00+08:00"
	}`
	const snake = `{
	  "request_id": "r1", "scene": "SCENE_INPATIENT",
	  "hospital": {"code": "H1", "level": 2},
	  "patient": {"id": "P1", "gender": "GENDER_MALE", "birth_date": "1960-10-01",
	              "insurance_type": "INSURANCE_RESIDENT", "maternity": "MATERNITY_NONE"},
	  "encounter": {"id": "E1", "type": "ENCOUNTER_INPATIENT", "department_code": "A03", "admit_date": "2024-04-28", "rescue": false},
	  "physician": {"code": "D1", "name": "李", "title": "TITLE_CHIEF", "department_code": "A03"},
	  "diagnoses": [{"code": "I10.x00", "name": "高血压", "primary": true}],
	  "orders": [{"line_id": "1", "item_code": "XC09AAA001A001010100001", "item_name": "卡托普利片", "kind": "ITEM_DRUG",
	              "quantity": 1.5, "unit": "盒", "days": 7, "times_per_day": 3, "start_time": "2024-05-01T08:00:00+08:00",
	              "unit_price": 9.9, "self_pay": false, "restriction_attested": true}],
	  "history": [{"item_code": "XC09AAA001A001010100001", "kind": "ITEM_DRUG", "quantity": 1, "days": 7,
	               "time": "2024-04-20T10:00:00+08:00", "encounter_id": "E0"}],
	  "check_time": "2024-05-01T08:30:00+08:00"
	}`
	var reqs [2]*rxguardv1.CheckOrdersRequest
	for i, js := range []string{camel, snake} {
		req := new(rxguardv1.CheckOrdersRequest)
		if err := protojson.Unmarshal([]byte(js), req); err != nil {
			t.Fatalf("protojson.Unmarshal #%d: %v", i, err)
		}
		if _, err := CheckOrders(req, DefaultLimits(), testNow); err != nil {
			t.Fatalf("CheckOrders #%d: %v; violations %q", i, err, fields(Violations(err)))
		}
		reqs[i] = req
	}
	if !proto.Equal(reqs[0], reqs[1]) {
		t.Errorf("camelCase and snake_case decode differently:\n%v\n%v", reqs[0], reqs[1])
	}
	if !reqs[0].GetOrders()[0].GetRestrictionAttested() || reqs[0].GetPatient().GetBirthDate() != "1960-10-01" {
		t.Errorf("fields lost in decoding: %v", reqs[0])
	}

	// An unknown enum number arrives in JSON as a number; it is bad input.
	bad := strings.Replace(camel, `"gender": "GENDER_MALE"`, `"gender": 99`, 1)
	req := new(rxguardv1.CheckOrdersRequest)
	if err := protojson.Unmarshal([]byte(bad), req); err != nil {
		t.Fatalf("protojson.Unmarshal: %v", err)
	}
	_, err := CheckOrders(req, DefaultLimits(), testNow)
	if findField(invalid(t, err), "patient.gender") == nil {
		t.Errorf("gender 99: violations %q, want patient.gender", fields(Violations(err)))
	}
}

func TestExplainItem(t *testing.T) {
	if err := ExplainItem(&rxguardv1.ExplainItemRequest{ItemCode: "not even a code"}); err != nil {
		t.Errorf("ExplainItem: %v", err)
	}
	for _, req := range []*rxguardv1.ExplainItemRequest{nil, {}, {ItemCode: strings.Repeat("0", 257)}} {
		vs := invalid(t, ExplainItem(req))
		if len(vs) != 1 || vs[0].GetField() != "item_code" {
			t.Errorf("ExplainItem(%v): violations %q, want item_code", req, fields(vs))
		}
	}
}

func TestViolationsOfOtherErrors(t *testing.T) {
	for _, err := range []error{nil, fmt.Errorf("plain"), status.Error(codes.Internal, "x")} {
		if vs := Violations(err); vs != nil {
			t.Errorf("Violations(%v) = %v, want nil", err, vs)
		}
	}
}

// previous_encounters[] codes are normalised like diagnoses[].code and
// hospital.code; an optional code of only padding (an empty CHAR column)
// is an absent one, which for a hospital_code means this hospital.
func TestPreviousEncountersNormalised(t *testing.T) {
	req := validRequest(0, 2)
	req.Scene = rxguardv1.Scene_SCENE_ADMISSION
	req.PreviousEncounters = prevStays(2)
	req.PreviousEncounters[0].PrimaryDiagnosis = " j18.000"
	req.PreviousEncounters[0].HospitalCode = "h11010800001\u3000"
	req.PreviousEncounters[1].HospitalCode = "   "
	req.History[1].HospitalCode = "h370800002 "
	p, err := CheckOrders(req, DefaultLimits(), testNow)
	if err != nil {
		t.Fatalf("CheckOrders: %v; violations %q", err, fields(Violations(err)))
	}
	got := p.Req.PreviousEncounters
	if got[0].PrimaryDiagnosis != "J18.000" || got[0].HospitalCode != "H11010800001" || got[1].HospitalCode != "" {
		t.Errorf("previous encounters normalised to %v", got)
	}
	if h := p.Req.History[1].HospitalCode; h != "H370800002" {
		t.Errorf("history[1].hospital_code = %q", h)
	}
	var paths []string
	for _, n := range p.Normalised {
		paths = append(paths, n.Field)
	}
	want := "history[1].hospital_code previous_encounters[0].hospital_code previous_encounters[0].primary_diagnosis previous_encounters[1].hospital_code"
	if strings.Join(paths, " ") != want {
		t.Errorf("normalised %q, want %q", paths, want)
	}
	if req.PreviousEncounters[0].PrimaryDiagnosis != " j18.000" {
		t.Error("the caller's request was modified")
	}
	if len(p.OrderStart) != 0 || len(p.HistoryTime) != 2 || p.HistoryTime[1].IsZero() {
		t.Errorf("admission without orders: %d order times, history times %v", len(p.OrderStart), p.HistoryTime)
	}
}

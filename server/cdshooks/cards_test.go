package cdshooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func testCfg() Config {
	return Config{Enabled: true, Hospital: HospitalConfig{Code: "H1", Level: 3}}
}

func decodeFile(t *testing.T, name, hook string) *translated {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	tr, e := newTranslator(testCfg().WithDefaults()).decode(b, hook)
	if e != nil {
		t.Fatalf("%s: %v", name, e)
	}
	return tr
}

// jsonAt walks a decoded JSON value along keys (array elements by index).
func jsonAt(t *testing.T, raw json.RawMessage, keys ...any) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// Each structured fix becomes a suggestion whose action changes the draft
// resource accordingly; the rest of the resource comes back unchanged.
func TestCardSuggestions(t *testing.T) {
	tr := decodeFile(t, "order-sign-block.request.json", "order-sign")
	ref := "MedicationRequest/rx-1"
	fix := func(k rxguardv1.FixKind) *rxguardv1.Fix {
		return &rxguardv1.Fix{Kind: k, LineId: ref, Quantity: 1, Days: 3, ItemCode: "ZD03AAA9999010100001", ItemName: "替代药"}
	}
	for _, tc := range []struct {
		kind       rxguardv1.FixKind
		actionType string
		check      func(t *testing.T, a action)
	}{
		{rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY, "update", func(t *testing.T, a action) {
			if v := jsonAt(t, a.Resource, "dispenseRequest", "quantity", "value"); v != 1.0 {
				t.Errorf("quantity %v", v)
			}
			if v := jsonAt(t, a.Resource, "dispenseRequest", "quantity", "unit"); v != "盒" {
				t.Errorf("unit lost: %v", v)
			}
		}},
		{rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS, "update", func(t *testing.T, a action) {
			if v := jsonAt(t, a.Resource, "dispenseRequest", "expectedSupplyDuration", "value"); v != 3.0 {
				t.Errorf("days %v", v)
			}
		}},
		{rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, "update", func(t *testing.T, a action) {
			if v := jsonAt(t, a.Resource, "extension", 0, "url"); v != ExtSelfPay || jsonAt(t, a.Resource, "extension", 0, "valueBoolean") != true {
				t.Errorf("self-pay extension %s", a.Resource)
			}
		}},
		{rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION, "update", func(t *testing.T, a action) {
			if v := jsonAt(t, a.Resource, "extension", 0, "url"); v != ExtRestrictionAttested {
				t.Errorf("attest extension %s", a.Resource)
			}
		}},
		{rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, "delete", func(t *testing.T, a action) {
			if a.ResourceID != ref || a.Resource != nil {
				t.Errorf("delete %+v", a)
			}
		}},
		{rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM, "update", func(t *testing.T, a action) {
			if v := jsonAt(t, a.Resource, "medicationCodeableConcept", "coding", 0, "code"); v != "ZD03AAA9999010100001" {
				t.Errorf("new coding %v", v)
			}
			if v := jsonAt(t, a.Resource, "medicationCodeableConcept", "coding", 0, "system"); v != SystemHIList {
				t.Errorf("system %v", v)
			}
		}},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			f := &rxguardv1.Finding{FindingId: "D-1", RuleType: "PAYMENT_COURSE", Action: rxguardv1.Action_ACTION_BLOCK, LineIds: []string{ref},
				Message: "超出支付疗程", Fixes: []*rxguardv1.Fix{fix(tc.kind)}}
			c := buildCard(f, "D", tr)
			if len(c.Suggestions) != 1 || c.SelectionBehavior != "at-most-one" {
				t.Fatalf("suggestions %+v behaviour %q", c.Suggestions, c.SelectionBehavior)
			}
			s := c.Suggestions[0]
			if len(s.Action) != 1 || s.Action[0].Type != tc.actionType || s.Label == "" || s.UUID != "D-1-s1" {
				t.Fatalf("suggestion %+v", s)
			}
			if tc.actionType == "update" {
				if id := jsonAt(t, s.Action[0].Resource, "id"); id != "rx-1" {
					t.Errorf("updated resource lost its id: %v", id)
				}
				if v := jsonAt(t, s.Action[0].Resource, "authoredOn"); v != "2026-11-22T09:58:00+08:00" {
					t.Errorf("untouched field changed: %v", v)
				}
			}
			tc.check(t, s.Action[0])
			// The draft as received is not modified by building the action.
			if strings.Contains(string(tr.lines[0].raw), ExtSelfPay) {
				t.Errorf("the draft order was modified")
			}
		})
	}
}

// Indicator, uuid, override reasons, block extension and summary length
// follow the finding.
func TestCardMapping(t *testing.T) {
	tr := decodeFile(t, "order-sign-block.request.json", "order-sign")
	long := strings.Repeat("超长提示", 60)
	for _, tc := range []struct {
		action      rxguardv1.Action
		overridable bool
		indicator   string
		block       bool
	}{
		{rxguardv1.Action_ACTION_BLOCK, false, "critical", true},
		{rxguardv1.Action_ACTION_WARN, true, "warning", false},
		{rxguardv1.Action_ACTION_INFO, true, "info", false},
	} {
		f := &rxguardv1.Finding{FindingId: "D-2", RuleId: "X/1", RuleType: "DRUG_GENDER", Action: tc.action, Overridable: tc.overridable,
			LineIds: []string{"MedicationRequest/rx-1"}, Message: long, Evidence: "第一批", Suggestion: "自费",
			Fixes: []*rxguardv1.Fix{{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS, LineId: "ServiceRequest/none", Days: 1}}}
		c := buildCard(f, "D", tr)
		if c.Indicator != tc.indicator || c.UUID != "D-2" || c.Extension.Block != tc.block || c.Extension.DecisionID != "D" || c.Source.Topic.Code != "DRUG_GENDER" {
			t.Errorf("%v: %+v", tc.action, c)
		}
		if n := utf8.RuneCountInString(c.Summary); n >= 140 {
			t.Errorf("summary of %d characters", n)
		}
		if (len(c.OverrideReasons) > 0) != tc.overridable {
			t.Errorf("%v: override reasons %v", tc.action, c.OverrideReasons)
		}
		for _, r := range c.OverrideReasons {
			if r.System != SystemReason || r.Display == "" {
				t.Errorf("reason %+v", r)
			}
		}
		// A fix naming no draft order has no action: no suggestion, no
		// selectionBehavior.
		if len(c.Suggestions) != 0 || c.SelectionBehavior != "" {
			t.Errorf("suggestion for an unknown line: %+v", c.Suggestions)
		}
		if !strings.Contains(c.Detail, "**依据**: 第一批") || !strings.Contains(c.Detail, "艾附暖宫丸 (MedicationRequest/rx-1)") {
			t.Errorf("detail %q", c.Detail)
		}
	}
}

// The FHIR mapping of the realistic request.
func TestDecodeMapping(t *testing.T) {
	tr := decodeFile(t, "order-sign-block.request.json", "order-sign")
	r := tr.req
	o := r.Orders[0]
	if r.Patient.Gender != rxguardv1.Gender_GENDER_MALE || r.Patient.BirthDate != "1978-03-14" || r.Patient.InsuranceType != rxguardv1.InsuranceType_INSURANCE_EMPLOYEE ||
		r.Encounter.Type != rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT || r.Scene != rxguardv1.Scene_SCENE_OUTPATIENT ||
		r.Physician.Code != "D370800000001" || len(r.Diagnoses) != 1 || !r.Diagnoses[0].Primary || r.Diagnoses[0].Code != "R10.400" ||
		o.LineId != "MedicationRequest/rx-1" || o.ItemCode != "ZD03AAA0043010100166" || o.Quantity != 2 || o.Unit != "盒" || o.Days != 7 ||
		o.TimesPerDay != 2 || o.StartTime != "2026-11-22T09:58:00+08:00" || r.Hospital.Code != "H1" || r.RequestId == "" {
		t.Errorf("mapped request: %v", r)
	}
	if p := tr.fhirPath("orders[0].quantity"); p != "context.draftOrders.entry[0].resource.dispenseRequest.quantity" {
		t.Errorf("path %q", p)
	}
}

func TestTimesPerDayAndDays(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		r    timingRepeat
		want float64
		ok   bool
	}{
		{timingRepeat{Frequency: f(3), Period: f(1), PeriodUnit: "d"}, 3, true},
		{timingRepeat{Frequency: f(1), Period: f(8), PeriodUnit: "h"}, 3, true},
		{timingRepeat{Frequency: f(3), Period: f(1), PeriodUnit: "wk"}, 0.43, true},
		{timingRepeat{Frequency: f(1), Period: f(0), PeriodUnit: "d"}, 0, false},
		{timingRepeat{Frequency: f(1), PeriodUnit: "fortnight"}, 0, false},
	} {
		if got, ok := timesPerDay(tc.r); ok != tc.ok || got != tc.want {
			t.Errorf("%+v: %v %v", tc.r, got, ok)
		}
	}
	for _, tc := range []struct {
		v    float64
		unit string
		want int32
		ok   bool
	}{{7, "d", 7, true}, {2, "wk", 14, true}, {36, "h", 2, true}, {1, "mo", 30, true}, {5, "天", 0, false}, {-1, "d", 0, false}} {
		if got, ok := durationDays(tc.v, tc.unit); ok != tc.ok || got != tc.want {
			t.Errorf("%v %s: %v %v", tc.v, tc.unit, got, ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"valid", testCfg(), ""},
		{"disabled is not checked", Config{}, ""},
		{"no hospital", Config{Enabled: true}, "cds_hooks.hospital.code"},
		{"bad level", Config{Enabled: true, Hospital: HospitalConfig{Code: "H", Level: 4}}, "cds_hooks.hospital.level"},
		{"bad insurance", func() Config { c := testCfg(); c.DefaultInsuranceType = "GOLD"; return c }(), "cds_hooks.default_insurance_type"},
		{"jwt without base_url", func() Config {
			c := testCfg()
			c.JWT.Issuers = []IssuerConfig{{Iss: "ehr", JWKSFile: "k.json"}}
			return c
		}(), "cds_hooks.base_url"},
		{"issuer with both sources", func() Config {
			c := testCfg()
			c.BaseURL = "https://x"
			c.JWT.Issuers = []IssuerConfig{{Iss: "ehr", JWKSFile: "k.json", JWKSURL: "https://ehr/jwks"}}
			return c
		}(), "cds_hooks.jwt.issuers[0]"},
		{"bad max_iat_age", func() Config { c := testCfg(); c.JWT.MaxIATAge = "soon"; return c }(), "cds_hooks.jwt.max_iat_age"},
		{"relative base_url", func() Config { c := testCfg(); c.BaseURL = "/cds"; return c }(), "cds_hooks.base_url"},
	} {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

package cdshooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// httpError is an answer other than 200: a status and the OperationOutcome
// issues naming the paths (FHIRPath-like, as the client sent them).
type httpError struct {
	status int
	issues []issue
}

func (e *httpError) Error() string {
	if len(e.issues) == 0 {
		return http.StatusText(e.status)
	}
	return e.issues[0].Diagnostics
}

func fail(status int, code, expr, format string, args ...any) *httpError {
	is := issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}
	if expr != "" {
		is.Expression = []string{expr}
	}
	return &httpError{status: status, issues: []issue{is}}
}

func invalid(expr, format string, args ...any) *httpError {
	return fail(http.StatusBadRequest, "invalid", expr, format, args...)
}

// draftLine is one draft order under check: the resource as the client
// sent it (suggestions return it with a change applied) and its path.
type draftLine struct {
	ref  string // "MedicationRequest/<id>", also the order's line_id
	kind string // resourceType
	raw  json.RawMessage
	path string // context.draftOrders.entry[i].resource
}

// translated is a hook request mapped onto CheckOrders.
type translated struct {
	req   *rxguardv1.CheckOrdersRequest
	lines []draftLine // orders[i] is lines[i]
	// selected is order-select's selections (nil: every line is shown).
	selected map[string]bool
	// diagPaths[i] is where diagnoses[i] came from.
	diagPaths []string
}

// translator maps hook requests onto the check service's request.
type translator struct {
	hospital  *rxguardv1.Hospital
	insurance rxguardv1.InsuranceType
	hilist    map[string]bool
	icd10     map[string]bool
}

func newTranslator(c Config) *translator {
	t := &translator{
		hospital:  &rxguardv1.Hospital{Code: c.Hospital.Code, Level: c.Hospital.Level},
		insurance: c.insuranceType(),
		hilist:    map[string]bool{SystemHIList: true},
		icd10:     map[string]bool{SystemICD10: true},
	}
	for _, s := range c.CodeSystems.HIList {
		t.hilist[s] = true
	}
	for _, s := range c.CodeSystems.ICD10 {
		t.icd10[s] = true
	}
	return t
}

// decodeJSON decodes one JSON value, naming the path of a type error.
func decodeJSON(b []byte, v any, at string) *httpError {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			p := at
			if te.Field != "" {
				p = joinPath(at, te.Field)
			}
			return invalid(p, "%s: expected %s, got JSON %s", orRoot(p), te.Type, te.Value)
		case errors.As(err, &se):
			return invalid(at, "%s: malformed JSON at byte %d: %v", orRoot(at), se.Offset, err)
		case errors.Is(err, io.EOF):
			return invalid(at, "%s: empty body: a CDS Hooks request is a JSON object", orRoot(at))
		}
		return invalid(at, "%s: %v", orRoot(at), err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return invalid(at, "%s: trailing data after the JSON value", orRoot(at))
	}
	return nil
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func orRoot(p string) string {
	if p == "" {
		return "request body"
	}
	return p
}

// decode reads a hook request for service hook ("order-sign" or
// "order-select") and maps it onto CheckOrders. A request without a
// usable patient is 412 (the EHR must prefetch it); malformed parts are
// 400 naming their path.
func (t *translator) decode(body []byte, hook string) (*translated, *httpError) {
	var hr hookRequest
	if e := decodeJSON(body, &hr, ""); e != nil {
		return nil, e
	}
	if hr.Hook != hook {
		return nil, invalid("hook", "hook is %q; this service answers %q", clipS(hr.Hook), hook)
	}
	if strings.TrimSpace(hr.HookInstance) == "" {
		return nil, invalid("hookInstance", "hookInstance is required (a UUID per hook call)")
	}
	out := &translated{req: &rxguardv1.CheckOrdersRequest{RequestId: hr.HookInstance, Hospital: t.hospital}}
	req := out.req

	// Patient: prefetch.patient, or 412.
	raw, ok := hr.Prefetch["patient"]
	if !ok || isNull(raw) {
		return nil, fail(http.StatusPreconditionFailed, "required", "prefetch.patient",
			"prefetch.patient is missing: rxguard has no FHIR client; send the Patient (prefetch template Patient/{{context.patientId}})")
	}
	var pt patientResource
	if e := decodeJSON(raw, &pt, "prefetch.patient"); e != nil {
		return nil, e
	}
	if pt.ResourceType != "Patient" {
		return nil, fail(http.StatusPreconditionFailed, "required", "prefetch.patient.resourceType",
			"prefetch.patient is a %q, not a Patient", clipS(pt.ResourceType))
	}
	if len(pt.BirthDate) != len("2006-01-02") {
		// FHIR allows "1978" and "1978-03"; age rules need the day.
		return nil, fail(http.StatusPreconditionFailed, "required", "prefetch.patient.birthDate",
			"prefetch.patient.birthDate must be a full date (YYYY-MM-DD) for the age rules; got %q", clipS(pt.BirthDate))
	}
	patientID := pt.ID
	if patientID == "" {
		patientID = hr.Context.PatientID
	}
	if hr.Context.PatientID != "" && pt.ID != "" && hr.Context.PatientID != pt.ID {
		return nil, invalid("prefetch.patient.id", "prefetch.patient.id %q is not context.patientId %q", clipS(pt.ID), clipS(hr.Context.PatientID))
	}
	gender, ok := genders[pt.Gender]
	if !ok {
		return nil, invalid("prefetch.patient.gender", "gender %q is not one of male, female, other, unknown", clipS(pt.Gender))
	}
	req.Patient = &rxguardv1.Patient{Id: patientID, Gender: gender, BirthDate: pt.BirthDate, InsuranceType: t.insurance}
	if ins, e := t.coverage(hr.Prefetch["coverage"]); e != nil {
		return nil, e
	} else if ins != rxguardv1.InsuranceType_INSURANCE_UNSPECIFIED {
		req.Patient.InsuranceType = ins
	}

	// Encounter: prefetch.encounter; none means an outpatient visit.
	enc, e := t.encounter(hr.Prefetch["encounter"], hr.Context.EncounterID)
	if e != nil {
		return nil, e
	}
	req.Encounter = enc.proto

	// Physician: context.userId is Practitioner/<national physician code>.
	code, ok := strings.CutPrefix(hr.Context.UserID, "Practitioner/")
	if !ok || strings.TrimSpace(code) == "" {
		return nil, invalid("context.userId", "context.userId must be Practitioner/<医保医师编码>, got %q", clipS(hr.Context.UserID))
	}
	req.Physician = &rxguardv1.Physician{Code: code}

	if e := t.conditions(hr.Prefetch["conditions"], enc.primary, out); e != nil {
		return nil, e
	}
	if e := t.orders(hr.Context.DraftOrders, out); e != nil {
		return nil, e
	}
	req.Scene = scene(req.Encounter.Type, out.discharge())
	if hook == "order-select" {
		if len(hr.Context.Selections) == 0 {
			return nil, invalid("context.selections", "context.selections is required for order-select (the orders just selected)")
		}
		out.selected = map[string]bool{}
		for i, s := range hr.Context.Selections {
			if !out.has(s) {
				return nil, invalid(fmt.Sprintf("context.selections[%d]", i), "selection %q is not a MedicationRequest or ServiceRequest of context.draftOrders", clipS(s))
			}
			out.selected[s] = true
		}
	}
	return out, nil
}

func (t *translated) has(ref string) bool {
	for _, l := range t.lines {
		if l.ref == ref {
			return true
		}
	}
	return false
}

// discharge reports whether a draft medication is 出院带药 (FHIR category
// "discharge").
func (t *translated) discharge() bool {
	for _, l := range t.lines {
		if l.kind != "MedicationRequest" {
			continue
		}
		var mr medicationRequest
		if json.Unmarshal(l.raw, &mr) != nil {
			continue
		}
		for _, c := range mr.Category {
			for _, cd := range c.Coding {
				if cd.Code == "discharge" {
					return true
				}
			}
		}
	}
	return false
}

var genders = map[string]rxguardv1.Gender{
	"male": rxguardv1.Gender_GENDER_MALE, "female": rxguardv1.Gender_GENDER_FEMALE,
	"other": rxguardv1.Gender_GENDER_UNKNOWN, "unknown": rxguardv1.Gender_GENDER_UNKNOWN, "": rxguardv1.Gender_GENDER_UNKNOWN,
}

// encounterClasses maps R4 Encounter.class (v3 ActEncounterCode).
var encounterClasses = map[string]rxguardv1.EncounterType{
	"AMB": rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT, "VR": rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT,
	"HH": rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT, "OBSENC": rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT,
	"IMP": rxguardv1.EncounterType_ENCOUNTER_INPATIENT, "ACUTE": rxguardv1.EncounterType_ENCOUNTER_INPATIENT,
	"NONAC": rxguardv1.EncounterType_ENCOUNTER_INPATIENT, "SS": rxguardv1.EncounterType_ENCOUNTER_INPATIENT,
	"EMER": rxguardv1.EncounterType_ENCOUNTER_EMERGENCY,
}

func scene(t rxguardv1.EncounterType, discharge bool) rxguardv1.Scene {
	switch {
	case t == rxguardv1.EncounterType_ENCOUNTER_INPATIENT && discharge:
		return rxguardv1.Scene_SCENE_DISCHARGE
	case t == rxguardv1.EncounterType_ENCOUNTER_INPATIENT:
		return rxguardv1.Scene_SCENE_INPATIENT
	case t == rxguardv1.EncounterType_ENCOUNTER_EMERGENCY:
		return rxguardv1.Scene_SCENE_EMERGENCY
	}
	return rxguardv1.Scene_SCENE_OUTPATIENT
}

type encounterInfo struct {
	proto   *rxguardv1.Encounter
	primary string // Condition id ranked 1 in Encounter.diagnosis
}

func (t *translator) encounter(raw json.RawMessage, contextID string) (encounterInfo, *httpError) {
	info := encounterInfo{proto: &rxguardv1.Encounter{Id: contextID, Type: rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT}}
	if len(raw) == 0 || isNull(raw) {
		return info, nil
	}
	var enc encounterResource
	if e := decodeJSON(raw, &enc, "prefetch.encounter"); e != nil {
		return info, e
	}
	if enc.ResourceType != "Encounter" {
		return info, invalid("prefetch.encounter.resourceType", "prefetch.encounter is a %q, not an Encounter", clipS(enc.ResourceType))
	}
	if enc.ID != "" {
		info.proto.Id = enc.ID
	}
	if enc.Class != nil {
		typ, ok := encounterClasses[enc.Class.Code]
		if !ok {
			return info, invalid("prefetch.encounter.class.code", "encounter class %q is not one of AMB, IMP, EMER (or VR, HH, OBSENC, ACUTE, NONAC, SS)", clipS(enc.Class.Code))
		}
		info.proto.Type = typ
	}
	if enc.Period != nil && len(enc.Period.Start) >= 10 && info.proto.Type == rxguardv1.EncounterType_ENCOUNTER_INPATIENT {
		info.proto.AdmitDate = enc.Period.Start[:10]
	}
	for _, d := range enc.Diagnosis {
		if d.Rank != nil && *d.Rank == 1 {
			info.primary = strings.TrimPrefix(d.Condition.Reference, "Condition/")
		}
	}
	return info, nil
}

// conditions reads prefetch.conditions (a searchset Bundle of Condition):
// each active, not refuted Condition with an ICD-10 医保版 coding is a
// diagnosis; the one Encounter.diagnosis ranks 1, else the first, is
// primary.
func (t *translator) conditions(raw json.RawMessage, primaryID string, out *translated) *httpError {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	const at = "prefetch.conditions"
	var b bundle
	if e := decodeJSON(raw, &b, at); e != nil {
		return e
	}
	if b.ResourceType != "Bundle" {
		return invalid(at+".resourceType", "prefetch.conditions must be a Bundle (a Condition search), got %q", clipS(b.ResourceType))
	}
	primarySet := false
	for i, en := range b.Entry {
		p := fmt.Sprintf("%s.entry[%d].resource", at, i)
		var c conditionResource
		if e := decodeJSON(en.Resource, &c, p); e != nil {
			return e
		}
		if c.ResourceType != "Condition" || !activeCondition(c) || c.Code == nil {
			continue // an OperationOutcome entry of the search, a resolved problem
		}
		for j, cd := range c.Code.Coding {
			if !t.icd10[cd.System] {
				continue
			}
			d := &rxguardv1.Diagnosis{Code: cd.Code, Name: firstNonEmpty(cd.Display, c.Code.Text)}
			if primaryID != "" && c.ID == primaryID {
				d.Primary, primarySet = true, true
			}
			out.req.Diagnoses = append(out.req.Diagnoses, d)
			out.diagPaths = append(out.diagPaths, fmt.Sprintf("%s.code.coding[%d]", p, j))
			break
		}
	}
	if !primarySet && len(out.req.Diagnoses) > 0 {
		out.req.Diagnoses[0].Primary = true
	}
	return nil
}

func activeCondition(c conditionResource) bool {
	if s := c.ClinicalStatus; s != nil {
		for _, cd := range s.Coding {
			if cd.Code == "inactive" || cd.Code == "resolved" || cd.Code == "remission" {
				return false
			}
		}
	}
	if s := c.VerificationStatus; s != nil {
		for _, cd := range s.Coding {
			if cd.Code == "refuted" || cd.Code == "entered-in-error" {
				return false
			}
		}
	}
	return true
}

// insuTypes maps the national 险种 codes (insutype) onto InsuranceType
// (docs/cds-hooks.md). Values of 330/340 (大额补助, 离休) ride on the
// employee scheme.
var insuTypes = map[string]rxguardv1.InsuranceType{
	"310": rxguardv1.InsuranceType_INSURANCE_EMPLOYEE, "320": rxguardv1.InsuranceType_INSURANCE_EMPLOYEE,
	"330": rxguardv1.InsuranceType_INSURANCE_EMPLOYEE, "340": rxguardv1.InsuranceType_INSURANCE_EMPLOYEE,
	"390": rxguardv1.InsuranceType_INSURANCE_RESIDENT, "391": rxguardv1.InsuranceType_INSURANCE_RESIDENT,
	"392": rxguardv1.InsuranceType_INSURANCE_RESIDENT, "510": rxguardv1.InsuranceType_INSURANCE_MATERNITY,
}

// coverage reads prefetch.coverage (a Coverage or a Bundle of them): the
// first active one with a type coded in urn:rxguard:nhsa:insutype or
// urn:rxguard:insurance-type overrides the configured default.
func (t *translator) coverage(raw json.RawMessage) (rxguardv1.InsuranceType, *httpError) {
	if len(raw) == 0 || isNull(raw) {
		return 0, nil
	}
	const at = "prefetch.coverage"
	var head resourceHead
	if e := decodeJSON(raw, &head, at); e != nil {
		return 0, e
	}
	var resources []json.RawMessage
	var paths []string
	switch head.ResourceType {
	case "Coverage":
		resources, paths = []json.RawMessage{raw}, []string{at}
	case "Bundle":
		var b bundle
		if e := decodeJSON(raw, &b, at); e != nil {
			return 0, e
		}
		for i, en := range b.Entry {
			resources = append(resources, en.Resource)
			paths = append(paths, fmt.Sprintf("%s.entry[%d].resource", at, i))
		}
	default:
		return 0, invalid(at+".resourceType", "prefetch.coverage must be a Coverage or a Bundle of them, got %q", clipS(head.ResourceType))
	}
	for i, r := range resources {
		var c coverageResource
		if e := decodeJSON(r, &c, paths[i]); e != nil {
			return 0, e
		}
		if c.ResourceType != "Coverage" || (c.Status != "" && c.Status != "active") || c.Type == nil {
			continue
		}
		for j, cd := range c.Type.Coding {
			switch cd.System {
			case SystemInsuType:
				if v, ok := insuTypes[cd.Code]; ok {
					return v, nil
				}
				return 0, invalid(fmt.Sprintf("%s.type.coding[%d].code", paths[i], j), "险种 %q is not one of 310, 320, 330, 340, 390, 391, 392, 510", clipS(cd.Code))
			case SystemInsuranceType:
				if v := rxguardv1.InsuranceType_value[cd.Code]; v != 0 {
					return rxguardv1.InsuranceType(v), nil
				}
				return 0, invalid(fmt.Sprintf("%s.type.coding[%d].code", paths[i], j), "%q is not an rxguard InsuranceType (INSURANCE_EMPLOYEE …)", clipS(cd.Code))
			}
		}
	}
	return 0, nil
}

// orders maps the draft MedicationRequests and ServiceRequests; other
// resources of the Bundle are not checked.
func (t *translator) orders(b *bundle, out *translated) *httpError {
	const at = "context.draftOrders"
	if b == nil {
		return invalid(at, "context.draftOrders is required (a Bundle of the draft orders)")
	}
	if b.ResourceType != "Bundle" {
		return invalid(at+".resourceType", "context.draftOrders must be a Bundle, got %q", clipS(b.ResourceType))
	}
	for i, en := range b.Entry {
		p := fmt.Sprintf("%s.entry[%d].resource", at, i)
		var head resourceHead
		if e := decodeJSON(en.Resource, &head, p); e != nil {
			return e
		}
		var line *rxguardv1.OrderLine
		var e *httpError
		switch head.ResourceType {
		case "MedicationRequest":
			line, e = t.medication(en.Resource, p)
		case "ServiceRequest":
			line, e = t.service(en.Resource, p)
		default:
			continue
		}
		if e != nil {
			return e
		}
		if strings.TrimSpace(head.ID) == "" {
			return invalid(p+".id", "%s.id is required: cards, selections and suggestions refer to the draft order by it", p)
		}
		ref := head.ResourceType + "/" + head.ID
		if out.has(ref) {
			return invalid(p+".id", "%s appears twice in context.draftOrders", clipS(ref))
		}
		line.LineId = ref
		out.req.Orders = append(out.req.Orders, line)
		out.lines = append(out.lines, draftLine{ref: ref, kind: head.ResourceType, raw: en.Resource, path: p})
	}
	return nil
}

func (t *translator) nationalCode(cc *codeableConcept, at string) (code, name string, e *httpError) {
	if cc != nil {
		for _, cd := range cc.Coding {
			if t.hilist[cd.System] && strings.TrimSpace(cd.Code) != "" {
				return cd.Code, firstNonEmpty(cd.Display, cc.Text), nil
			}
		}
	}
	return "", "", invalid(at+".coding", "%s has no coding with system %s (the national 医保目录 code): rxguard cannot check the order without it", at, SystemHIList)
}

func (t *translator) medication(raw json.RawMessage, at string) (*rxguardv1.OrderLine, *httpError) {
	var mr medicationRequest
	if e := decodeJSON(raw, &mr, at); e != nil {
		return nil, e
	}
	code, name, e := t.nationalCode(mr.MedicationCodeableConcept, at+".medicationCodeableConcept")
	if e != nil {
		return nil, e
	}
	line := &rxguardv1.OrderLine{ItemCode: code, ItemName: name, Kind: rxguardv1.ItemKind_ITEM_DRUG, StartTime: dateTime(mr.AuthoredOn)}
	if d := mr.DispenseRequest; d != nil {
		if q := d.Quantity; q != nil && q.Value != nil {
			line.Quantity, line.Unit = *q.Value, firstNonEmpty(q.Unit, q.Code)
		}
		if s := d.ExpectedSupplyDuration; s != nil && s.Value != nil {
			days, ok := durationDays(*s.Value, firstNonEmpty(s.Code, s.Unit))
			if !ok {
				return nil, invalid(at+".dispenseRequest.expectedSupplyDuration", "expectedSupplyDuration %v %q is not a duration in d, wk, mo or h between 0 and 3650 days", *s.Value, clipS(firstNonEmpty(s.Code, s.Unit)))
			}
			line.Days = days
		}
	}
	for i, d := range mr.DosageInstruction {
		if d.Timing == nil || d.Timing.Repeat == nil || d.Timing.Repeat.Frequency == nil {
			continue
		}
		tpd, ok := timesPerDay(*d.Timing.Repeat)
		if !ok {
			return nil, invalid(fmt.Sprintf("%s.dosageInstruction[%d].timing.repeat", at, i), "timing.repeat frequency/period/periodUnit do not give a number of times per day (periodUnit s, min, h, d, wk, mo, a)")
		}
		line.TimesPerDay = tpd
		break
	}
	line.SelfPay, line.RestrictionAttested = flags(mr.Extension)
	return line, nil
}

func (t *translator) service(raw json.RawMessage, at string) (*rxguardv1.OrderLine, *httpError) {
	var sr serviceRequest
	if e := decodeJSON(raw, &sr, at); e != nil {
		return nil, e
	}
	code, name, e := t.nationalCode(sr.Code, at+".code")
	if e != nil {
		return nil, e
	}
	line := &rxguardv1.OrderLine{ItemCode: code, ItemName: name, Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, StartTime: dateTime(sr.AuthoredOn)}
	if q := sr.QuantityQuantity; q != nil && q.Value != nil {
		line.Quantity, line.Unit = *q.Value, firstNonEmpty(q.Unit, q.Code)
	}
	line.SelfPay, line.RestrictionAttested = flags(sr.Extension)
	return line, nil
}

func flags(exts []extension) (selfPay, attested bool) {
	for _, x := range exts {
		if x.ValueBoolean == nil {
			continue
		}
		switch x.URL {
		case ExtSelfPay:
			selfPay = *x.ValueBoolean
		case ExtRestrictionAttested:
			attested = *x.ValueBoolean
		}
	}
	return
}

// dateTime keeps a FHIR dateTime that has a time (and zone); a bare date
// says nothing about the hour, which the hourly rules need.
func dateTime(s string) string {
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return s
	}
	return ""
}

// durationDays converts a supply duration to whole days, rounding up.
func durationDays(v float64, unit string) (int32, bool) {
	per := map[string]float64{"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "mo": 30, "month": 30, "h": 1.0 / 24, "hour": 1.0 / 24}[unit]
	if per == 0 || math.IsNaN(v) || v < 0 {
		return 0, false
	}
	d := math.Ceil(v*per - 1e-9)
	if d > 3650 {
		return 0, false
	}
	return int32(d), true
}

func timesPerDay(r timingRepeat) (float64, bool) {
	period := 1.0
	if r.Period != nil {
		period = *r.Period
	}
	perDay := map[string]float64{"s": 86400, "min": 1440, "h": 24, "d": 1, "wk": 1.0 / 7, "mo": 1.0 / 30, "a": 1.0 / 365}[r.PeriodUnit]
	f := *r.Frequency
	if perDay == 0 || period <= 0 || f <= 0 || math.IsNaN(f) || math.IsInf(f, 0) || math.IsNaN(period) || math.IsInf(period, 0) {
		return 0, false
	}
	tpd := f / period * perDay
	// Two decimals: "three times a week" is 0.43 a day.
	tpd = math.Round(tpd*100) / 100
	if tpd <= 0 {
		tpd = 0.01
	}
	return tpd, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// clipS bounds what a message quotes of client input (80 bytes, cut at a
// rune boundary so the quote stays valid UTF-8).
func clipS(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 80
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// fhirPath maps a CheckOrders field path of a validation violation
// ("orders[2].quantity") to where the client sent it.
func (t *translated) fhirPath(field string) string {
	head, rest, _ := strings.Cut(field, ".")
	name, idx := head, -1
	if i := strings.IndexByte(head, '['); i > 0 && strings.HasSuffix(head, "]") {
		if n, err := strconv.Atoi(head[i+1 : len(head)-1]); err == nil {
			name, idx = head[:i], n
		}
	}
	switch name {
	case "orders":
		if idx < 0 || idx >= len(t.lines) {
			return "context.draftOrders"
		}
		l := t.lines[idx]
		med := l.kind == "MedicationRequest"
		switch rest {
		case "quantity", "unit":
			if med {
				return l.path + ".dispenseRequest.quantity"
			}
			return l.path + ".quantityQuantity"
		case "days":
			return l.path + ".dispenseRequest.expectedSupplyDuration"
		case "times_per_day":
			return l.path + ".dosageInstruction.timing.repeat"
		case "item_code", "item_name":
			if med {
				return l.path + ".medicationCodeableConcept.coding"
			}
			return l.path + ".code.coding"
		case "start_time":
			return l.path + ".authoredOn"
		case "line_id":
			return l.path + ".id"
		}
		return l.path
	case "diagnoses":
		if idx >= 0 && idx < len(t.diagPaths) {
			return t.diagPaths[idx]
		}
		return "prefetch.conditions"
	case "patient":
		switch rest {
		case "birth_date":
			return "prefetch.patient.birthDate"
		case "gender":
			return "prefetch.patient.gender"
		case "id":
			return "prefetch.patient.id"
		case "insurance_type":
			return "prefetch.coverage"
		}
		return "prefetch.patient"
	case "encounter":
		return "prefetch.encounter"
	case "physician":
		return "context.userId"
	case "hospital":
		return "cds_hooks.hospital (sidecar configuration)"
	case "request_id":
		return "hookInstance"
	}
	return field
}

// Package opabench measures rxguard side by side with OPA (Open Policy
// Agent) on the same subset of rules over the same data: the rules of
// policy.rego, over the records of a synthetic release exported as OPA
// data (Export). It is its own Go module so that rxguard's go.mod never
// depends on OPA.
package opabench

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Policy is the Rego of the compared rules.
//
//go:embed policy.rego
var Policy string

// Query is what both the library and the REST server evaluate.
const Query = "data.rx.findings"

// RuleTypes are the rxguard rule types policy.rego implements.
var RuleTypes = []knowledge.RuleType{
	knowledge.RuleDrugGender, knowledge.RuleItemGender, knowledge.RuleDrugAge, knowledge.RuleItemAge,
	knowledge.RuleInsuranceType, knowledge.RuleHospitalLevel, knowledge.RuleEncounterType, knowledge.RuleDrugInteraction,
}

// Export is the OPA data document (under data.rx) for the compared rules:
// every restriction of those types by code, the product table's generic
// names by code, and the interaction pairs by "a+b" (names sorted).
func Export(c *knowledge.Content) map[string]any {
	gender, age, insurance, level, inpatient := map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}
	for i := range c.Restrictions {
		r := &c.Restrictions[i]
		switch r.Type {
		case knowledge.RuleDrugGender, knowledge.RuleItemGender:
			if r.Gender != "" {
				gender[r.Code] = map[string]any{"gender": string(r.Gender), "rule": string(r.Type)}
			}
		case knowledge.RuleDrugAge, knowledge.RuleItemAge:
			switch r.AgeBand {
			case knowledge.AgeChild, knowledge.AgeInfant, knowledge.AgeNewborn, knowledge.AgeWorkingAge:
				age[r.Code] = map[string]any{"band": string(r.AgeBand), "rule": string(r.Type)}
			}
		case knowledge.RuleInsuranceType:
			if r.Insurance == "工伤" || r.Insurance == "生育" {
				insurance[r.Code] = r.Insurance
			}
		case knowledge.RuleHospitalLevel:
			if r.MinLevel > 0 {
				level[r.Code] = r.MinLevel
			}
		case knowledge.RuleEncounterType:
			inpatient[r.Code] = map[string]any{"allow_emergency": r.AllowEmergency}
		}
	}
	generic := make(map[string]any, len(c.Drugs))
	for i := range c.Drugs {
		generic[c.Drugs[i].Code] = c.Drugs[i].GenericName
	}
	interactions := make(map[string]any, len(c.Interactions))
	for i := range c.Interactions {
		it := &c.Interactions[i]
		interactions[pairKey(it.DrugA, it.DrugB)] = it.Severity
	}
	return map[string]any{"rx": map[string]any{
		"gender": gender, "age": age, "insurance": insurance, "level": level, "inpatient": inpatient,
		"generic": generic, "interactions": interactions,
	}}
}

func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "+" + b
}

// Input is the OPA input for a CheckOrdersRequest: what the policy reads,
// with the age already computed (as a HIS adapter in front of OPA would).
func Input(req *rxguardv1.CheckOrdersRequest, checkTime time.Time) (map[string]any, error) {
	birth, err := time.ParseInLocation(time.DateOnly, req.GetPatient().GetBirthDate(), checkTime.Location())
	if err != nil {
		return nil, fmt.Errorf("patient.birth_date: %w", err)
	}
	years := checkTime.Year() - birth.Year()
	if checkTime.YearDay() < birth.YearDay() {
		years--
	}
	gender := map[rxguardv1.Gender]string{rxguardv1.Gender_GENDER_MALE: "男", rxguardv1.Gender_GENDER_FEMALE: "女"}[req.GetPatient().GetGender()]
	insurance := map[rxguardv1.InsuranceType]string{rxguardv1.InsuranceType_INSURANCE_WORK_INJURY: "工伤", rxguardv1.InsuranceType_INSURANCE_MATERNITY: "生育"}[req.GetPatient().GetInsuranceType()]
	encounter := strings.ToLower(strings.TrimPrefix(req.GetEncounter().GetType().String(), "ENCOUNTER_"))
	lines := make([]any, len(req.GetOrders()))
	for i, o := range req.GetOrders() {
		lines[i] = map[string]any{"id": o.GetLineId(), "code": o.GetItemCode()}
	}
	return map[string]any{
		"patient":   map[string]any{"gender": gender, "age_years": years, "age_days": int(checkTime.Sub(birth).Hours() / 24), "insurance": insurance},
		"hospital":  map[string]any{"level": int(req.GetHospital().GetLevel())},
		"encounter": encounter,
		"lines":     lines,
	}, nil
}

// Verdict is one finding as both sides report it: the line and rule type.
type Verdict struct{ Line, Rule string }

// RxguardVerdicts are rxguard's findings of the compared rule types.
func RxguardVerdicts(resp *rxguardv1.CheckOrdersResponse) []Verdict {
	var out []Verdict
	for _, f := range resp.GetFindings() {
		for _, t := range RuleTypes {
			if f.GetRuleType() == string(t) && len(f.GetLineIds()) > 0 {
				out = append(out, Verdict{Line: f.GetLineIds()[0], Rule: f.GetRuleType()})
			}
		}
	}
	return sortVerdicts(out)
}

// OPAVerdicts reads the policy's findings (a set of {"line", "rule"}).
func OPAVerdicts(v any) ([]Verdict, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("OPA findings: %T, want an array", v)
	}
	out := make([]Verdict, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("OPA finding: %T, want an object", e)
		}
		line, _ := m["line"].(string)
		rule, _ := m["rule"].(string)
		out = append(out, Verdict{Line: line, Rule: rule})
	}
	return sortVerdicts(out), nil
}

func sortVerdicts(v []Verdict) []Verdict {
	sort.Slice(v, func(i, j int) bool {
		if v[i].Line != v[j].Line {
			return v[i].Line < v[j].Line
		}
		return v[i].Rule < v[j].Rule
	})
	return v
}

// Orders are the compared orders over a release's content: a 10-line
// outpatient order at a level-1 hospital for a 68-year-old employee-insured
// man, whose lines hit each compared rule (a female-only drug, a child
// drug, a 工伤-only drug, a level-3 drug, an inpatient-only drug, two
// interacting products) plus three products no compared rule restricts;
// and the same order for a 30-year-old woman insured for 工伤 at a level-3
// hospital's inpatient ward, where almost nothing fires. Codes are taken
// from generated records where the release has them.
func Orders(c *knowledge.Content) ([]*rxguardv1.CheckOrdersRequest, error) {
	pick := func(ok func(r *knowledge.Restriction) bool) string {
		code := ""
		for i := range c.Restrictions {
			r := &c.Restrictions[i]
			if ok(r) {
				code = r.Code
				if strings.HasPrefix(r.Source.File, "synthetic-") {
					return code
				}
			}
		}
		return code
	}
	restricted := map[string]bool{}
	for i := range c.Restrictions {
		restricted[c.Restrictions[i].Code] = true
	}
	codes := []string{
		pick(func(r *knowledge.Restriction) bool {
			return r.Type == knowledge.RuleDrugGender && r.Gender == knowledge.GenderFemale
		}),
		pick(func(r *knowledge.Restriction) bool {
			return r.Type == knowledge.RuleDrugAge && r.AgeBand == knowledge.AgeChild
		}),
		pick(func(r *knowledge.Restriction) bool {
			return r.Type == knowledge.RuleInsuranceType && r.Insurance == "工伤"
		}),
		pick(func(r *knowledge.Restriction) bool { return r.Type == knowledge.RuleHospitalLevel && r.MinLevel == 3 }),
		pick(func(r *knowledge.Restriction) bool { return r.Type == knowledge.RuleEncounterType && !r.AllowEmergency }),
	}
	for i, code := range codes {
		if code == "" {
			return nil, fmt.Errorf("the release has no restriction for order line %d", i+1)
		}
	}
	// Two products whose generic names interact, and three unrestricted.
	byGeneric := map[string]string{}
	for i := range c.Drugs {
		d := &c.Drugs[i]
		if !restricted[d.Code] && len(d.Code) <= 23 {
			if _, ok := byGeneric[d.GenericName]; !ok {
				byGeneric[d.GenericName] = d.Code
			}
		}
	}
	found := false
	for i := len(c.Interactions) - 1; i >= 0 && !found; i-- { // generated pairs come last
		it := &c.Interactions[i]
		a, okA := byGeneric[it.DrugA]
		b, okB := byGeneric[it.DrugB]
		if okA && okB {
			codes = append(codes, a, b)
			delete(byGeneric, it.DrugA)
			delete(byGeneric, it.DrugB)
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("the release has no interaction pair between two products of its table")
	}
	names := make([]string, 0, len(byGeneric))
	for n := range byGeneric {
		names = append(names, n)
	}
	sort.Strings(names)
	pairs := make(map[string]bool, len(c.Interactions))
	for i := range c.Interactions {
		pairs[pairKey(c.Interactions[i].DrugA, c.Interactions[i].DrugB)] = true
	}
	generic := make(map[string]string, len(c.Drugs))
	for i := range c.Drugs {
		generic[c.Drugs[i].Code] = c.Drugs[i].GenericName
	}
	for _, n := range names {
		if len(codes) == 10 {
			break
		}
		clash := false
		for _, code := range codes {
			if g, ok := generic[code]; ok && pairs[pairKey(n, g)] {
				clash = true
			}
		}
		if !clash {
			codes = append(codes, byGeneric[n])
		}
	}
	if len(codes) != 10 {
		return nil, fmt.Errorf("the release has too few unrestricted products")
	}
	mk := func(gender rxguardv1.Gender, birth string, ins rxguardv1.InsuranceType, level int32, enc rxguardv1.EncounterType, scene rxguardv1.Scene) *rxguardv1.CheckOrdersRequest {
		req := &rxguardv1.CheckOrdersRequest{
			RequestId: "opa", Scene: scene,
			Hospital:  &rxguardv1.Hospital{Code: "H1", Level: level},
			Patient:   &rxguardv1.Patient{Id: "P1", Gender: gender, BirthDate: birth, InsuranceType: ins},
			Encounter: &rxguardv1.Encounter{Id: "E1", Type: enc, AdmitDate: "2026-11-20"},
			Physician: &rxguardv1.Physician{Code: "D370800000001", Title: rxguardv1.Title_TITLE_CHIEF},
			Diagnoses: []*rxguardv1.Diagnosis{{Code: "I10.X00", Primary: true}},
			CheckTime: "2026-11-22T10:00:00+08:00",
		}
		for i, code := range codes {
			req.Orders = append(req.Orders, &rxguardv1.OrderLine{LineId: fmt.Sprintf("L%02d", i+1), ItemCode: code,
				Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, Days: 3, StartTime: "2026-11-22T10:00:00+08:00", UnitPrice: 10})
		}
		return req
	}
	return []*rxguardv1.CheckOrdersRequest{
		mk(rxguardv1.Gender_GENDER_MALE, "1958-06-01", rxguardv1.InsuranceType_INSURANCE_EMPLOYEE, 1, rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT, rxguardv1.Scene_SCENE_OUTPATIENT),
		mk(rxguardv1.Gender_GENDER_FEMALE, "1996-03-15", rxguardv1.InsuranceType_INSURANCE_WORK_INJURY, 3, rxguardv1.EncounterType_ENCOUNTER_INPATIENT, rxguardv1.Scene_SCENE_INPATIENT),
	}, nil
}

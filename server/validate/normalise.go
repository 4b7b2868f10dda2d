package validate

import (
	"strconv"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Normalisation is one code field of a request that arrived in another form
// than the national one and was normalised before evaluation
// (knowledge.CanonicalCode: padding trimmed, letters upper-cased).
type Normalisation struct {
	Field string // request path: "orders[0].item_code", "physician.code"
	Line  int    // index into orders for orders[].item_code, else -1
	From  string // as received
	To    string // as judged
}

// normaliseCodes returns the request the rules are to judge: req itself
// when every code field is already canonical (the common case: a byte scan,
// no allocation), otherwise a copy with canonical codes and the list of
// what changed. req is never modified: the request as received is what the
// decision record keeps.
func normaliseCodes(req *rxguardv1.CheckOrdersRequest) (*rxguardv1.CheckOrdersRequest, []Normalisation) {
	clean := true
	forEachCode(req, func(_ string, _ int, _ int, s *string) {
		if _, changed := knowledge.CanonicalCode(*s); changed {
			clean = false
		}
	})
	if clean {
		return req, nil
	}
	out := proto.Clone(req).(*rxguardv1.CheckOrdersRequest)
	var ns []Normalisation
	forEachCode(out, func(field string, i, line int, s *string) {
		c, changed := knowledge.CanonicalCode(*s)
		if !changed {
			return
		}
		path := field
		if i >= 0 {
			path = elementPath(field, i)
		}
		ns = append(ns, Normalisation{Field: path, Line: line, From: *s, To: c})
		*s = c
	})
	return out, ns
}

// forEachCode calls fn with a pointer to every national-code field of req:
// field is its path ("orders[].item_code" with i the element index, or -1
// for a field outside a list); line is the order index for order lines.
func forEachCode(req *rxguardv1.CheckOrdersRequest, fn func(field string, i, line int, s *string)) {
	if h := req.Hospital; h != nil {
		fn("hospital.code", -1, -1, &h.Code)
	}
	if e := req.Encounter; e != nil {
		fn("encounter.department_code", -1, -1, &e.DepartmentCode)
	}
	if p := req.Physician; p != nil {
		fn("physician.code", -1, -1, &p.Code)
		fn("physician.department_code", -1, -1, &p.DepartmentCode)
	}
	for i, d := range req.Diagnoses {
		if d != nil {
			fn("diagnoses[].code", i, -1, &d.Code)
		}
	}
	for i, o := range req.Orders {
		if o != nil {
			fn("orders[].item_code", i, i, &o.ItemCode)
		}
	}
	for i, h := range req.History {
		if h != nil {
			fn("history[].item_code", i, -1, &h.ItemCode)
			fn("history[].hospital_code", i, -1, &h.HospitalCode)
		}
	}
	for i, p := range req.PreviousEncounters {
		if p != nil {
			fn("previous_encounters[].hospital_code", i, -1, &p.HospitalCode)
			fn("previous_encounters[].primary_diagnosis", i, -1, &p.PrimaryDiagnosis)
		}
	}
}

// elementPath turns "orders[].item_code" and 3 into "orders[3].item_code".
func elementPath(field string, i int) string {
	for j := 0; j+1 < len(field); j++ {
		if field[j] == '[' && field[j+1] == ']' {
			return field[:j+1] + strconv.Itoa(i) + field[j+1:]
		}
	}
	return field
}

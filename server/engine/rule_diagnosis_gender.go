package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// DIAGNOSIS_GENDER (a safety rule): a diagnosis whose ICD-10 category is
// specific to the other gender. Female only: O00–O9A (pregnancy), Z32–Z39,
// C51–C58, N70–N98; male only: N40–N53, C60–C63. The finding names no line.
var diagnosisGenderRule = &ruleSpec{
	typ: knowledge.RuleDiagnosisGender, action: rxguardv1.Action_ACTION_WARN,
	title: "诊断与性别不符", checkRequest: checkDiagnosisGender,
}

type icdRange struct{ from, to string }

var (
	femaleOnly = []icdRange{{"O00", "O9A"}, {"Z32", "Z39"}, {"C51", "C58"}, {"N70", "N98"}}
	maleOnly   = []icdRange{{"N40", "N53"}, {"C60", "C63"}}
)

func inRanges(category string, rs []icdRange) bool {
	for _, r := range rs {
		if category >= r.from && category <= r.to {
			return true
		}
	}
	return false
}

func checkDiagnosisGender(ev *evaluation) []violation {
	var gender, other string
	var wrong []icdRange
	switch ev.req.GetPatient().GetGender() {
	case rxguardv1.Gender_GENDER_MALE:
		gender, other, wrong = "男", "女", femaleOnly
	case rxguardv1.Gender_GENDER_FEMALE:
		gender, other, wrong = "女", "男", maleOnly
	default:
		return nil
	}
	var out []violation
	for _, dx := range ev.req.Diagnoses {
		code := normaliseICD(dx.Code)
		if len(code) < 3 || !inRanges(code[:3], wrong) {
			continue
		}
		id := ev.cat("DIAGNOSIS_GENDER/", dx.Code)
		dup := false
		for _, v := range out {
			dup = dup || v.ruleID == id
		}
		if dup {
			continue
		}
		name := dx.Name
		if name == "" {
			name = dx.Code
		}
		out = append(out, violation{
			ruleID:     id,
			noLine:     true,
			message:    ev.cat("诊断 ", name, "（", dx.Code, "）仅适用于", other, "性，患者性别为", gender, "。"),
			evidence:   "ICD-10 性别特异类目：女性 O00–O9A、Z32–Z39、C51–C58、N70–N98；男性 N40–N53、C60–C63",
			suggestion: "核对患者性别或诊断编码。",
		})
	}
	return out
}

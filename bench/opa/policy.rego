# The subset of rxguard's rules the OPA comparison evaluates (gender, age,
# insurance type, hospital level, inpatient-only, drug interaction), over
# data exported from the same release (export.go). One finding per order
# line and rule type, as rxguard reports them.
package rx

findings contains {"line": line.id, "rule": rule} if {
	some line in input.lines
	g := data.rx.gender[line.code]
	g.gender != input.patient.gender
	rule := g.rule
}

findings contains {"line": line.id, "rule": a.rule} if {
	some line in input.lines
	a := data.rx.age[line.code]
	not in_band(a.band)
}

findings contains {"line": line.id, "rule": "INSURANCE_TYPE"} if {
	some line in input.lines
	data.rx.insurance[line.code] != input.patient.insurance
}

findings contains {"line": line.id, "rule": "HOSPITAL_LEVEL"} if {
	some line in input.lines
	input.hospital.level < data.rx.level[line.code]
}

findings contains {"line": line.id, "rule": "ENCOUNTER_TYPE"} if {
	some line in input.lines
	r := data.rx.inpatient[line.code]
	input.encounter != "inpatient"
	not emergency_allowed(r)
}

findings contains {"line": input.lines[j].id, "rule": "DRUG_INTERACTION"} if {
	some i, j
	input.lines[i]
	input.lines[j]
	i < j
	a := data.rx.generic[input.lines[i].code]
	b := data.rx.generic[input.lines[j].code]
	data.rx.interactions[pair(a, b)]
}

emergency_allowed(r) if {
	r.allow_emergency
	input.encounter == "emergency"
}

in_band("儿童") if input.patient.age_years < 18

in_band("婴幼儿") if input.patient.age_years < 3

in_band("新生儿") if input.patient.age_days <= 28

in_band("法定就业年龄") if {
	input.patient.age_years >= 16
	input.patient.age_years < 60
}

pair(a, b) := concat("+", [a, b]) if a <= b

pair(a, b) := concat("+", [b, a]) if a > b

package validate

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// enumType is what validation needs of one generated enum, computed once
// from its descriptor: asking the descriptor per value costs a lazy-init
// check and a map lookup, and a request has dozens of enum values.
type enumType[E ~int32] struct {
	desc protoreflect.EnumDescriptor
	// dense: every number in [0, dense) is defined, so most values are
	// known by one comparison. Numbers outside fall back to ByNumber, which
	// stays the definition of "defined".
	dense E
	names string // accepted values for descriptions, without *_UNSPECIFIED
}

func enumTypeOf[E interface {
	~int32
	Descriptor() protoreflect.EnumDescriptor
}]() *enumType[E] {
	var zero E
	d := zero.Descriptor()
	t := &enumType[E]{desc: d}
	for d.Values().ByNumber(protoreflect.EnumNumber(t.dense)) != nil {
		t.dense++
	}
	var b []byte
	vs := d.Values()
	for i := range vs.Len() {
		if v := vs.Get(i); v.Number() != 0 {
			if len(b) > 0 {
				b = append(b, ", "...)
			}
			b = append(b, v.Name()...)
		}
	}
	t.names = string(b)
	return t
}

var (
	scenes         = enumTypeOf[rxguardv1.Scene]()
	genders        = enumTypeOf[rxguardv1.Gender]()
	insuranceTypes = enumTypeOf[rxguardv1.InsuranceType]()
	maternities    = enumTypeOf[rxguardv1.Maternity]()
	encounterTypes = enumTypeOf[rxguardv1.EncounterType]()
	titles         = enumTypeOf[rxguardv1.Title]()
	itemKinds      = enumTypeOf[rxguardv1.ItemKind]()
)

func (t *enumType[E]) known(e E) bool {
	return (e >= 0 && e < t.dense) || t.desc.Values().ByNumber(protoreflect.EnumNumber(e)) != nil
}

// requiredEnum reports an unspecified (0) or undefined value.
func requiredEnum[E ~int32](r *report, at path, name, zh string, e E, t *enumType[E]) {
	switch {
	case e != 0 && t.known(e), r.full(): // valid, or only counted
	case e == 0:
		r.addf(at.field(name), "%s未指定 (%s is required; one of %s)", zh, name, t.names)
	default:
		r.unknownEnum(at, name, zh, int32(e), t.names)
	}
}

// optionalEnum accepts unspecified (0) but not an undefined value.
func optionalEnum[E ~int32](r *report, at path, name, zh string, e E, t *enumType[E]) {
	if e != 0 && !t.known(e) && !r.full() {
		r.unknownEnum(at, name, zh, int32(e), t.names)
	}
}

func (r *report) unknownEnum(at path, name, zh string, v int32, names string) {
	r.addf(at.field(name), "%s取值%d未定义 (%s: unknown value %d; one of %s)", zh, v, name, v, names)
}

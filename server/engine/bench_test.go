package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// passRequest is a 10-line inpatient order of restricted codes that all
// pass: every rule type bound to them runs and none fires.
func passRequest() *rxguardv1.CheckOrdersRequest {
	req := baseRequest()
	req.Scene = rxguardv1.Scene_SCENE_INPATIENT
	req.Encounter.Type = rxguardv1.EncounterType_ENCOUNTER_INPATIENT
	req.Diagnoses = []*rxguardv1.Diagnosis{{Code: "I10.x00", Primary: true}}
	svc := func(l *rxguardv1.OrderLine) *rxguardv1.OrderLine { l.Kind = rxguardv1.ItemKind_ITEM_SERVICE; return l }
	req.Orders = []*rxguardv1.OrderLine{
		line("A", metformin, 30, 30),
		line("B", simvastatin, 30, 30),
		line("C", warfarin, 30, 30),
		line("D", courseDrugA, 3, 3),
		line("E", inpatientDrug, 1, 1),
		line("F", level3Drug, 1, 1),
		svc(line("G", dailyItem, 1, 0)),
		svc(line("H", periodItem, 1, 0)),
		svc(line("I", courseItem, 1, 0)),
		svc(line("J", surgeryA, 1, 0)),
	}
	return req
}

// BenchmarkCheck10LinesPass is the hot path of the common case: a 10-line
// order with no finding. Building findings (and their fixes) must cost
// nothing here.
func BenchmarkCheck10LinesPass(b *testing.B) {
	e := testEngine(b, Config{})
	in := input(b, passRequest())
	if res := e.Check(in); len(res.Findings) != 0 {
		b.Fatalf("pass request has findings: %v", res.Findings)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Check(in)
	}
}

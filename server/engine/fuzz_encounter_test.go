package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// FuzzEncounterRules feeds arbitrary dates, diagnoses and hospital codes to
// READMISSION and LOW_STANDARD_ADMISSION (the engine reads the dates and
// ICD categories itself). Whatever arrives: no panic, and READMISSION
// fires exactly when the contract says, recomputed here independently.
func FuzzEncounterRules(f *testing.F) {
	f.Add("2026-11-22", "2026-11-12", "J18.900", "J18.000", "", false, false, 15)
	f.Add("2026-11-22", "2026-11-07", "j18900", " J18.1", "H1", false, false, 15)
	f.Add("2026-11-22", "2026-11-22", "Z51.102", "Z51.102", "", false, false, 1)
	f.Add("2026-11-22", "2026-11-23", "J06.900", "J06", "H2", true, true, 365)
	f.Add("1900-01-01", "1899-12-31", "J1", "", "", false, false, 30)
	f.Add("not-a-date", "2026-02-30", "\u3000", "J18", "", false, false, 7)
	f.Fuzz(func(t *testing.T, admit, discharge, primary, prevDx, hospital string, planned, rescue bool, n int) {
		if n < 1 || n > MaxReadmissionDays {
			n = DefaultReadmissionDays
		}
		e := encounterEngine(t, Config{Rules: map[knowledge.RuleType]RuleConfig{knowledge.RuleReadmission: {WindowDays: &n}}})
		req := baseRequest()
		admission(&rxguardv1.PreviousEncounter{Id: "E1", Type: rxguardv1.EncounterType_ENCOUNTER_INPATIENT, HospitalCode: hospital,
			DischargeDate: discharge, PrimaryDiagnosis: prevDx, Planned: planned})(req)
		req.Encounter.AdmitDate, req.Encounter.Rescue = admit, rescue
		req.Diagnoses[0].Code = primary
		res := e.Check(input(t, req))
		got := len(findingsOf(res, knowledge.RuleReadmission))

		a, aok := dateDay(admit)
		d, dok := dateDay(discharge)
		cat := icdCategory(primary)
		want := 0
		if aok && dok && d <= a && a-d <= n && !planned && !rescue && (hospital == "" || hospital == "H1") &&
			cat != "" && cat != "Z51" && icdCategory(prevDx) == cat {
			want = 1
		}
		if got != want {
			t.Fatalf("READMISSION findings %d, want %d (admit %q discharge %q dx %q/%q hospital %q planned %v rescue %v N %d)",
				got, want, admit, discharge, primary, prevDx, hospital, planned, rescue, n)
		}
		for _, f := range res.Findings {
			if len(f.LineIds) != 0 {
				t.Fatalf("%s names lines %v in an admission without orders", f.RuleType, f.LineIds)
			}
		}
	})
}

package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// check_time is 2026-11-22 (Asia/Shanghai).
func born(date string, ls ...*rxguardv1.OrderLine) func(r *rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		r.Patient.BirthDate = date
		r.Orders = ls
	}
}

func TestDrugAge(t *testing.T) {
	runRuleCases(t, knowledge.RuleDrugAge, []ruleCase{
		{name: "child 10 passes", mutate: born("2016-03-01", line("1", childDrug, 1, 3))},
		{name: "17 years 364 days passes", mutate: born("2008-11-23", line("1", childDrug, 1, 3))},
		{name: "exactly 18 fires", mutate: born("2008-11-22", line("1", childDrug, 1, 3)), lines: one("1")},
		{name: "adult fires", mutate: born("1980-05-01", line("1", childDrug, 1, 3)), lines: one("1")},
		{name: "adult self-pay skipped", mutate: born("1980-05-01", selfPay(line("1", childDrug, 1, 3)))},
	})
}

func TestItemAge(t *testing.T) {
	runRuleCases(t, knowledge.RuleItemAge, []ruleCase{
		{name: "infant 2 passes", mutate: born("2024-01-01", line("1", infantItem, 1, 0))},
		{name: "infant exactly 3 fires", mutate: born("2023-11-22", line("1", infantItem, 1, 0)), lines: one("1")},
		{name: "newborn 28 days passes", mutate: born("2026-10-25", line("1", newbornItem, 1, 0))},
		{name: "newborn 29 days fires", mutate: born("2026-10-24", line("1", newbornItem, 1, 0)), lines: one("1")},
		{name: "working age 15 fires", mutate: born("2011-01-01", line("1", workAgeItem, 1, 0)), lines: one("1")},
		{name: "working age exactly 16 passes", mutate: born("2010-11-22", line("1", workAgeItem, 1, 0))},
		{name: "working age 59 passes", mutate: born("1967-11-23", line("1", workAgeItem, 1, 0))},
		{name: "working age exactly 60 fires", mutate: born("1966-11-22", line("1", workAgeItem, 1, 0)), lines: one("1")},
	})
}

func TestAgeAtLeapDay(t *testing.T) {
	birth := mustTime(t, "2008-02-29T00:00:00+08:00")
	for _, c := range []struct {
		at    string
		years int
	}{{"2026-02-28T12:00:00+08:00", 17}, {"2026-03-01T12:00:00+08:00", 18}} {
		if y, _ := ageAt(birth, mustTime(t, c.at)); y != c.years {
			t.Errorf("age at %s = %d, want %d", c.at, y, c.years)
		}
	}
}

package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func TestDrugInteraction(t *testing.T) {
	running := []*rxguardv1.HistoryOrder{hist(clarithro, "2026-11-19T09:00:00+08:00", "E0", 14, 7)}  // covers 11-19 … 11-25
	finished := []*rxguardv1.HistoryOrder{hist(clarithro, "2026-11-12T09:00:00+08:00", "E0", 14, 7)} // covers 11-12 … 11-18
	lastDay := []*rxguardv1.HistoryOrder{hist(clarithro, "2026-11-16T09:00:00+08:00", "E0", 14, 7)}  // last day 11-22
	runRuleCases(t, knowledge.RuleDrugInteraction, []ruleCase{
		{name: "辛伐他汀 + 克拉霉素 blocks naming both", mutate: orders(line("1", simvastatin, 7, 7), line("2", clarithro, 14, 7)),
			lines: [][]string{{"2", "1"}}, action: rxguardv1.Action_ACTION_BLOCK},
		{name: "华法林 + 阿司匹林 warns", mutate: orders(line("1", warfarin, 7, 7), line("2", aspirin, 7, 7)),
			lines: [][]string{{"2", "1"}}, action: rxguardv1.Action_ACTION_WARN},
		{name: "history supply running blocks", mutate: withHistory(running, line("1", simvastatin, 7, 7)), lines: one("1"), action: rxguardv1.Action_ACTION_BLOCK},
		{name: "last day of history supply still running", mutate: withHistory(lastDay, line("1", simvastatin, 7, 7)), lines: one("1"), action: rxguardv1.Action_ACTION_BLOCK},
		{name: "history supply finished passes", mutate: withHistory(finished, line("1", simvastatin, 7, 7))},
		{name: "self-pay still checked (safety)", mutate: orders(selfPay(line("1", simvastatin, 7, 7)), selfPay(line("2", clarithro, 14, 7))),
			lines: [][]string{{"2", "1"}}, action: rxguardv1.Action_ACTION_BLOCK},
		{name: "no pair passes", mutate: orders(line("1", simvastatin, 7, 7), line("2", metformin, 14, 7))},
	})
}

func TestDuplicateTherapy(t *testing.T) {
	runRuleCases(t, knowledge.RuleDuplicateTherapy, []ruleCase{
		{name: "same generic, two products", mutate: orders(line("1", aspirin, 7, 7), line("2", aspirin2, 7, 7)), lines: [][]string{{"2", "1"}}},
		{name: "same code twice", mutate: orders(line("1", metformin, 7, 7), line("2", metformin, 7, 7)), lines: [][]string{{"2", "1"}}},
		{name: "history supply running", mutate: withHistory([]*rxguardv1.HistoryOrder{hist(aspirin2, "2026-11-20T09:00:00+08:00", "E0", 30, 30)}, line("1", aspirin, 7, 7)), lines: one("1")},
		{name: "history supply finished", mutate: withHistory([]*rxguardv1.HistoryOrder{hist(aspirin2, "2026-10-20T09:00:00+08:00", "E0", 30, 30)}, line("1", aspirin, 7, 7))},
		{name: "self-pay still checked (safety)", mutate: orders(selfPay(line("1", aspirin, 7, 7)), line("2", aspirin2, 7, 7)), lines: [][]string{{"2", "1"}}},
		{name: "different generics pass", mutate: orders(line("1", aspirin, 7, 7), line("2", warfarin, 7, 7))},
	})
}

func TestDiagnosisGender(t *testing.T) {
	gender := func(g rxguardv1.Gender) func(*rxguardv1.CheckOrdersRequest) {
		return func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = g }
	}
	male, female := gender(rxguardv1.Gender_GENDER_MALE), gender(rxguardv1.Gender_GENDER_FEMALE)
	noLine := [][]string{nil}
	drug := orders(line("1", metformin, 7, 7))
	runRuleCases(t, knowledge.RuleDiagnosisGender, []ruleCase{
		{name: "male with pregnancy diagnosis", mutate: all(male, dx("O80.000"), drug), lines: noLine},
		{name: "male with O9A", mutate: all(male, dx("O9A.100"), drug), lines: noLine},
		{name: "male with Z35 supervision of pregnancy", mutate: all(male, dx("Z35.900"), drug), lines: noLine},
		{name: "female with pregnancy passes", mutate: all(female, dx("O80.000"), drug)},
		{name: "female with prostate hyperplasia", mutate: all(female, dx("N40.x00"), drug), lines: noLine},
		{name: "female with C61", mutate: all(female, dx("C61.x00"), drug), lines: noLine},
		{name: "male with N40 passes", mutate: all(male, dx("N40.x00"), drug)},
		{name: "male with N39 (outside N40–N53) passes", mutate: all(male, dx("N39.000"), drug)},
		{name: "unknown gender passes", mutate: all(gender(rxguardv1.Gender_GENDER_UNKNOWN), dx("O80.000"), drug)},
		{name: "duplicate diagnosis reported once", mutate: all(male, dx("O80.000", "O80.000"), drug), lines: noLine},
	})
}

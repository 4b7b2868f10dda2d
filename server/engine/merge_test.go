package engine

import (
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestMergePluginFindings(t *testing.T) {
	e := testEngine(t, Config{})
	req := baseRequest()
	req.Orders = []*rxguardv1.OrderLine{line("a", metformin, 1, 7), line("b", periodItem, 1, 0), line("c", metformin, 1, 3)}
	req.History = []*rxguardv1.HistoryOrder{hist(periodItem, "2026-11-20T09:00:00+08:00", "E0", 1, 0)}
	res := e.Check(input(t, req)) // WARN ITEM_PERIOD_FREQUENCY on b, WARN DUPLICATE_THERAPY on c
	if res.Verdict != rxguardv1.Verdict_VERDICT_WARN {
		t.Fatalf("built-in verdict %v: %v", res.Verdict, res.Findings)
	}
	Merge(req, res, []*rxguardv1.Finding{
		{RuleType: "HIGH_COST", Action: rxguardv1.Action_ACTION_WARN, LineIds: []string{"a"}, Source: "plugin:high-cost"},
		{RuleType: "ANTIBIOTIC_TIER", Action: rxguardv1.Action_ACTION_BLOCK, LineIds: []string{"c"}, Source: "plugin:antibiotic-tier"},
		{RuleType: "NOTE", Action: rxguardv1.Action_ACTION_INFO, Source: "plugin:x"},
	})
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.RuleType)
	}
	want := []string{"ANTIBIOTIC_TIER", "HIGH_COST", "ITEM_PERIOD_FREQUENCY", "DUPLICATE_THERAPY", "NOTE"}
	if !equalStrings(got, want) || res.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
		t.Errorf("merged %v (%v), want %v BLOCK", got, res.Verdict, want)
	}
}

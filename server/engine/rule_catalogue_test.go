package engine

import (
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func dx(codes ...string) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		r.Diagnoses = nil
		for _, c := range codes {
			r.Diagnoses = append(r.Diagnoses, &rxguardv1.Diagnosis{Code: c})
		}
	}
}

func all(ms ...func(*rxguardv1.CheckOrdersRequest)) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		for _, m := range ms {
			m(r)
		}
	}
}

func named(l *rxguardv1.OrderLine, name string) *rxguardv1.OrderLine { l.ItemName = name; return l }
func attested(l *rxguardv1.OrderLine) *rxguardv1.OrderLine           { l.RestrictionAttested = true; return l }
func kind(l *rxguardv1.OrderLine, k rxguardv1.ItemKind) *rxguardv1.OrderLine {
	l.Kind = k
	return l
}

func TestUnknownItem(t *testing.T) {
	runRuleCases(t, knowledge.RuleUnknownItem, []ruleCase{
		{name: "demo drug known", mutate: orders(line("1", metformin, 1, 3))},
		{name: "batch item known", mutate: orders(kind(line("1", dailyItem, 1, 0), rxguardv1.ItemKind_ITEM_SERVICE))},
		{name: "well-formed but unknown drug", mutate: orders(line("1", "XN02BEA001A001010100001", 1, 3)), lines: one("1")},
		{name: "malformed code", mutate: orders(line("1", "HIS-LOCAL-123", 1, 3)), lines: one("1")},
		{name: "unknown 15-digit service item", mutate: orders(kind(line("1", "001201000010000", 1, 0), rxguardv1.ItemKind_ITEM_SERVICE)), lines: one("1")},
		{name: "catalogue knows category and name", mutate: orders(named(line("1", "XC07ABD123A001010100001", 1, 3), "美托洛尔片"))},
		{name: "catalogue cell listing two products, second name", mutate: orders(named(line("1", "XA10BAD777A001010100001", 1, 3), "丁二胍Ⅱ片"))},
		{name: "catalogue category but other name", mutate: orders(named(line("1", "XC07ABD123A001010100001", 1, 3), "比索洛尔片")), lines: one("1")},
		{name: "self-pay skipped", mutate: orders(selfPay(line("1", "HIS-LOCAL-123", 1, 3)))},
	})
	if !WellFormedCodeFor("C0101012340000012345", rxguardv1.ItemKind_ITEM_CONSUMABLE) || WellFormedCodeFor("C0101", rxguardv1.ItemKind_ITEM_CONSUMABLE) {
		t.Error("consumable code format")
	}
}

func TestNotCovered(t *testing.T) {
	runRuleCases(t, knowledge.RuleNotCovered, []ruleCase{
		{name: "西地那非 insured warns", mutate: orders(line("1", sildenafil, 1, 3)), lines: one("1")},
		{name: "甲类 passes", mutate: orders(line("1", metformin, 1, 3))},
		{name: "self-pay skipped", mutate: orders(selfPay(line("1", sildenafil, 1, 3)))},
		{name: "self-pay patient skipped", mutate: all(orders(line("1", sildenafil, 1, 3)), func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.InsuranceType = rxguardv1.InsuranceType_INSURANCE_SELF_PAY
		})},
	})
}

func TestDrugIndication(t *testing.T) {
	runRuleCases(t, knowledge.RuleDrugIndication, []ruleCase{
		{name: "莫西沙星 with J18.900 passes", mutate: all(dx("J18.900"), orders(line("1", moxifloxacin, 1, 3)))},
		{name: "莫西沙星 with I10 only warns", mutate: all(dx("I10.x00"), orders(line("1", moxifloxacin, 1, 3))), lines: one("1")},
		{name: "莫西沙星 without diagnoses warns", mutate: orders(line("1", moxifloxacin, 1, 3)), lines: one("1")},
		{name: "莫西沙星 attested passes", mutate: all(dx("I10.x00"), orders(attested(line("1", moxifloxacin, 1, 3))))},
		{name: "莫西沙星 self-pay skipped", mutate: all(dx("I10.x00"), orders(selfPay(line("1", moxifloxacin, 1, 3))))},
		{name: "text-only restriction informs", mutate: orders(line("1", textOnlyDrug, 1, 3)), lines: one("1"), action: rxguardv1.Action_ACTION_INFO},
		{name: "text-only attested passes", mutate: orders(attested(line("1", textOnlyDrug, 1, 3)))},
		{name: "catalogue text restriction informs", mutate: orders(named(line("1", "XC07ABD123A001010100002", 1, 3), "美托洛尔缓释片")),
			lines: one("1"), action: rxguardv1.Action_ACTION_INFO},
		{name: "unrestricted drug passes", mutate: orders(line("1", metformin, 1, 3))},
	})
	e := testEngine(t, Config{})
	req := baseRequest()
	all(dx("I10.x00"), orders(line("1", moxifloxacin, 1, 3)))(req)
	f := findingsOf(e.Check(input(t, req)), knowledge.RuleDrugIndication)[0]
	if !strings.Contains(f.Message, "限有明确药敏试验证据") {
		t.Errorf("WARN must quote the restriction text: %s", f.Message)
	}
}

func TestSecondLine(t *testing.T) {
	runRuleCases(t, knowledge.RuleSecondLine, []ruleCase{
		{name: "艾普拉唑 warns", mutate: all(dx("K26.900"), orders(line("1", ilaprazole, 1, 3))), lines: one("1")},
		{name: "艾普拉唑 attested passes", mutate: all(dx("K26.900"), orders(attested(line("1", ilaprazole, 1, 3))))},
		{name: "self-pay skipped", mutate: orders(selfPay(line("1", ilaprazole, 1, 3)))},
		{name: "catalogue 二线 warns", mutate: orders(named(line("1", "XC07ABD123A001010100002", 1, 3), "美托洛尔缓释片")), lines: one("1")},
		{name: "first-line drug passes", mutate: orders(line("1", metformin, 1, 3))},
	})
}

func TestQuantityLimit(t *testing.T) {
	inpatient := func(r *rxguardv1.CheckOrdersRequest) {
		r.Encounter.Type = rxguardv1.EncounterType_ENCOUNTER_INPATIENT
		r.Scene = rxguardv1.Scene_SCENE_INPATIENT
	}
	runRuleCases(t, knowledge.RuleQuantityLimit, []ruleCase{
		{name: "7 days passes", mutate: orders(line("1", metformin, 14, 7))},
		{name: "8 days warns", mutate: orders(line("1", metformin, 16, 8)), lines: one("1")},
		{name: "chronic 30 days passes", mutate: all(dx("I10.x00"), orders(line("1", metformin, 60, 30)))},
		{name: "chronic 31 days warns", mutate: all(dx("E11.900"), orders(line("1", metformin, 62, 31))), lines: one("1")},
		{name: "84 days warns (acute limit)", mutate: orders(line("1", metformin, 168, 84)), lines: one("1")},
		{name: "85 days blocks", mutate: all(dx("I10.x00"), orders(line("1", metformin, 170, 85))), lines: one("1"), action: rxguardv1.Action_ACTION_BLOCK},
		{name: "inpatient not limited", mutate: all(inpatient, orders(line("1", metformin, 60, 30)))},
		{name: "self-pay skipped", mutate: orders(selfPay(line("1", metformin, 170, 85)))},
	})
}

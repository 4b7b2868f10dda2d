package engine

import (
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func withHistory(h []*rxguardv1.HistoryOrder, ls ...*rxguardv1.OrderLine) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) { r.History = h; r.Orders = ls }
}

func at(l *rxguardv1.OrderLine, t string) *rxguardv1.OrderLine { l.StartTime = t; return l }

func TestPaymentCourse(t *testing.T) {
	ten := []*rxguardv1.HistoryOrder{hist(courseDrugA, "2026-11-12T09:00:00+08:00", "E1", 10, 10)}
	runRuleCases(t, knowledge.RulePaymentCourse, []ruleCase{
		{name: "day 14 of 14 passes", mutate: withHistory(ten, line("1", courseDrugA, 4, 4))},
		{name: "day 15 of 14 fires", mutate: withHistory(ten, line("1", courseDrugA, 5, 5)), lines: one("1")},
		{name: "order alone over 14 fires", mutate: orders(line("1", courseDrugA, 15, 15)), lines: one("1")},
		{name: "other maker of the same generic counts", mutate: withHistory(ten, line("1", courseDrugB, 5, 5)), lines: one("1")},
		{name: "other encounter does not count", mutate: withHistory(
			[]*rxguardv1.HistoryOrder{hist(courseDrugA, "2026-11-12T09:00:00+08:00", "E0", 10, 10)}, line("1", courseDrugA, 5, 5))},
		{name: "two lines in one order add up", mutate: orders(line("1", courseDrugA, 10, 10), line("2", courseDrugB, 5, 5)), lines: one("2")},
		{name: "self-pay skipped", mutate: withHistory(ten, selfPay(line("1", courseDrugA, 5, 5)))},
	})
	e := testEngine(t, Config{})
	req := baseRequest()
	withHistory(ten, line("1", courseDrugA, 5, 5))(req)
	f := findingsOf(e.Check(input(t, req)), knowledge.RulePaymentCourse)[0]
	if !strings.Contains(f.Suggestion, "4天") || !strings.Contains(f.Suggestion, "自费") {
		t.Errorf("suggestion should offer the 4 payable days and self-pay: %s", f.Suggestion)
	}
}

func TestItemFrequency(t *testing.T) {
	sameDay := []*rxguardv1.HistoryOrder{hist(dailyItem, "2026-11-22T00:30:00+08:00", "E1", 1, 0)}
	yesterday := []*rxguardv1.HistoryOrder{hist(dailyItem, "2026-11-21T23:30:00+08:00", "E1", 1, 0)}
	runRuleCases(t, knowledge.RuleItemFrequency, []ruleCase{
		{name: "first of the day passes", mutate: orders(line("1", dailyItem, 1, 0))},
		{name: "second of the day fires", mutate: withHistory(sameDay, line("1", dailyItem, 1, 0)), lines: one("1")},
		{name: "yesterday 23:30 local is another day", mutate: withHistory(yesterday, line("1", dailyItem, 1, 0))},
		{name: "quantity 2 in one line fires", mutate: orders(line("1", dailyItem, 2, 0)), lines: one("1")},
		{name: "two lines same day: second fires", mutate: orders(line("1", dailyItem, 1, 0), line("2", dailyItem, 1, 0)), lines: one("2")},
		{name: "24 hours exactly passes", mutate: withHistory([]*rxguardv1.HistoryOrder{hist(hourlyItem, "2026-11-22T01:00:00+08:00", "E1", 20, 0)}, line("1", hourlyItem, 4, 0))},
		{name: "25 hours fires", mutate: withHistory([]*rxguardv1.HistoryOrder{hist(hourlyItem, "2026-11-22T01:00:00+08:00", "E1", 20, 0)}, line("1", hourlyItem, 5, 0)), lines: one("1")},
		{name: "order dated tomorrow by start_time passes", mutate: withHistory(sameDay, at(line("1", dailyItem, 1, 0), "2026-11-23T08:00:00+08:00"))},
		{name: "self-pay skipped", mutate: withHistory(sameDay, selfPay(line("1", dailyItem, 1, 0)))},
	})
}

func TestItemPeriodFrequency(t *testing.T) {
	ago := func(date string) []*rxguardv1.HistoryOrder {
		return []*rxguardv1.HistoryOrder{hist(periodItem, date+"T09:00:00+08:00", "E0", 1, 0)}
	}
	runRuleCases(t, knowledge.RuleItemPeriodFrequency, []ruleCase{
		{name: "first passes", mutate: orders(line("1", periodItem, 1, 0))},
		{name: "14 days after (inside 15) fires", mutate: withHistory(ago("2026-11-08"), line("1", periodItem, 1, 0)), lines: one("1")},
		{name: "15 days after passes", mutate: withHistory(ago("2026-11-07"), line("1", periodItem, 1, 0))},
		{name: "same day twice in the order fires", mutate: orders(line("1", periodItem, 1, 0), line("2", periodItem, 1, 0)), lines: one("2")},
		{name: "self-pay skipped", mutate: withHistory(ago("2026-11-20"), selfPay(line("1", periodItem, 1, 0)))},
	})
	e := testEngine(t, Config{})
	req := baseRequest()
	withHistory(ago("2026-11-10"), line("1", periodItem, 1, 0))(req)
	f := findingsOf(e.Check(input(t, req)), knowledge.RuleItemPeriodFrequency)[0]
	if !strings.Contains(f.Evidence, "2026-11-10") {
		t.Errorf("evidence should give the date of the last one: %s", f.Evidence)
	}
}

func TestItemCourse(t *testing.T) {
	h := func(date, enc string) *rxguardv1.HistoryOrder {
		return hist(courseItem, date+"T09:00:00+08:00", enc, 1, 0)
	}
	runRuleCases(t, knowledge.RuleItemCourse, []ruleCase{
		{name: "first passes", mutate: orders(line("1", courseItem, 1, 0))},
		// 2026-08-24 is 90 days before 2026-11-22.
		{name: "90 days since first passes", mutate: withHistory([]*rxguardv1.HistoryOrder{h("2026-08-24", "E1"), h("2026-10-01", "E1")}, line("1", courseItem, 1, 0))},
		{name: "91 days since first fires", mutate: withHistory([]*rxguardv1.HistoryOrder{h("2026-08-23", "E1"), h("2026-10-01", "E1")}, line("1", courseItem, 1, 0)), lines: one("1")},
		{name: "first in another encounter does not start this course", mutate: withHistory([]*rxguardv1.HistoryOrder{h("2026-08-01", "E0")}, line("1", courseItem, 1, 0))},
		{name: "13 days since last fires", mutate: withHistory([]*rxguardv1.HistoryOrder{h("2026-11-09", "E0")}, line("1", courseItem, 1, 0)), lines: one("1")},
		{name: "14 days since last passes", mutate: withHistory([]*rxguardv1.HistoryOrder{h("2026-11-08", "E0")}, line("1", courseItem, 1, 0))},
		{name: "self-pay skipped", mutate: withHistory([]*rxguardv1.HistoryOrder{h("2026-11-20", "E1")}, selfPay(line("1", courseItem, 1, 0)))},
	})
}

func TestDuplicateCharge(t *testing.T) {
	primaryAt := func(ts, enc string) []*rxguardv1.HistoryOrder {
		return []*rxguardv1.HistoryOrder{hist(primaryItem, ts, enc, 1, 0)}
	}
	sec := func(code, ts string) *rxguardv1.OrderLine { return at(line("s", code, 1, 0), ts) }
	runRuleCases(t, knowledge.RuleDuplicateCharge, []ruleCase{
		{name: "单日 same day fires", mutate: withHistory(primaryAt("2026-11-22T01:00:00+08:00", "E0"), sec(secondaryDay, "2026-11-22T23:00:00+08:00")), lines: one("s")},
		{name: "单日 previous day passes", mutate: withHistory(primaryAt("2026-11-21T23:59:00+08:00", "E1"), sec(secondaryDay, "2026-11-22T00:01:00+08:00"))},
		{name: "单次就诊 same encounter fires", mutate: withHistory(primaryAt("2026-11-19T10:00:00+08:00", "E1"), line("s", secondaryEnc, 1, 0)), lines: one("s")},
		{name: "单次就诊 other encounter passes", mutate: withHistory(primaryAt("2026-11-22T09:00:00+08:00", "E0"), line("s", secondaryEnc, 1, 0))},
		{name: "6小时 5h59m fires", mutate: withHistory(primaryAt("2026-11-22T04:01:00+08:00", "E1"), sec(secondary6h, "2026-11-22T10:00:00+08:00")), lines: one("s")},
		{name: "6小时 exactly 6h passes", mutate: withHistory(primaryAt("2026-11-22T04:00:00+08:00", "E1"), sec(secondary6h, "2026-11-22T10:00:00+08:00"))},
		{name: "6小时 across midnight fires", mutate: withHistory(primaryAt("2026-11-21T22:00:00+08:00", "E1"), sec(secondary6h, "2026-11-22T02:00:00+08:00")), lines: one("s")},
		// 同一小时 is less than 60 minutes apart, a rolling window (RULES.md).
		{name: "同一小时 50 minutes within the clock hour fires", mutate: withHistory(primaryAt("2026-11-22T10:05:00+08:00", "E1"), sec(secondaryHour, "2026-11-22T10:55:00+08:00")), lines: one("s")},
		{name: "同一小时 10 minutes across the clock hour fires", mutate: withHistory(primaryAt("2026-11-22T09:55:00+08:00", "E1"), sec(secondaryHour, "2026-11-22T10:05:00+08:00")), lines: one("s")},
		{name: "同一小时 59 minutes fires", mutate: withHistory(primaryAt("2026-11-22T09:06:00+08:00", "E1"), sec(secondaryHour, "2026-11-22T10:05:00+08:00")), lines: one("s")},
		{name: "同一小时 59:59 across midnight fires", mutate: withHistory(primaryAt("2026-11-21T23:20:01+08:00", "E1"), sec(secondaryHour, "2026-11-22T00:20:00+08:00")), lines: one("s")},
		{name: "同一小时 exactly 60 minutes passes", mutate: withHistory(primaryAt("2026-11-22T09:05:00+08:00", "E1"), sec(secondaryHour, "2026-11-22T10:05:00+08:00"))},
		{name: "同一小时 61 minutes within one clock hour pair passes", mutate: withHistory(primaryAt("2026-11-22T09:00:00+08:00", "E1"), sec(secondaryHour, "2026-11-22T10:01:00+08:00"))},
		{name: "both in this order names both lines", mutate: orders(line("p", primaryItem, 1, 0), line("s", secondaryDay, 1, 0)), lines: [][]string{{"s", "p"}}},
		{name: "primary alone passes", mutate: orders(line("p", primaryItem, 1, 0))},
		{name: "self-pay 从项 skipped", mutate: orders(line("p", primaryItem, 1, 0), selfPay(line("s", secondaryDay, 1, 0)))},
		{name: "self-pay 主项 not charged, 从项 passes", mutate: orders(selfPay(line("p", primaryItem, 1, 0)), line("s", secondaryDay, 1, 0))},
	})
}

func TestSurgeryGroup(t *testing.T) {
	runRuleCases(t, knowledge.RuleSurgeryGroup, []ruleCase{
		{name: "two of one group: second warns", mutate: orders(line("1", surgeryA, 1, 0), line("2", surgeryB, 1, 0)), lines: one("2")},
		{name: "different groups pass", mutate: orders(line("1", surgeryA, 1, 0), line("2", surgeryOther, 1, 0))},
		{name: "item in several groups pairs through its second group", mutate: orders(line("1", surgeryOther, 1, 0), line("2", surgeryMulti, 1, 0)), lines: one("2")},
		{name: "single operation passes", mutate: orders(line("1", surgeryA, 1, 0))},
		{name: "earlier the same day in history", mutate: withHistory([]*rxguardv1.HistoryOrder{hist(surgeryA, "2026-11-22T08:00:00+08:00", "E1", 1, 0)}, line("2", surgeryB, 1, 0)), lines: one("2")},
		{name: "history on another day passes", mutate: withHistory([]*rxguardv1.HistoryOrder{hist(surgeryA, "2026-11-21T08:00:00+08:00", "E1", 1, 0)}, line("2", surgeryB, 1, 0))},
		{name: "self-pay skipped", mutate: orders(line("1", surgeryA, 1, 0), selfPay(line("2", surgeryB, 1, 0)))},
	})
}

// Recorded history (RecordSigned) counts like the request's own history.
func TestRecordedHistoryCounts(t *testing.T) {
	e := testEngine(t, Config{})
	req := baseRequest()
	req.Orders = []*rxguardv1.OrderLine{at(line("s", secondaryDay, 1, 0), "2026-11-22T10:00:00+08:00")}
	in := input(t, req)
	if len(findingsOf(e.Check(in), knowledge.RuleDuplicateCharge)) != 0 {
		t.Fatal("no history yet")
	}
	in.Recorded = HistoryEntries{{ItemCode: primaryItem, Quantity: 1, Time: mustTime(t, "2026-11-22T08:00:00+08:00"), EncounterID: "E1"}}
	if len(findingsOf(e.Check(in), knowledge.RuleDuplicateCharge)) != 1 {
		t.Error("recorded 主项 the same day should make the 从项 a duplicate charge")
	}
}

package engine

import (
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// exam is a service line for code.
func exam(id, code string) *rxguardv1.OrderLine {
	return kind(line(id, code, 1, 0), rxguardv1.ItemKind_ITEM_SERVICE)
}

// done is a history entry of code on date (09:00 local), done at hospital
// (empty = here) with report id report.
func done(code, date, hospital, report string) *rxguardv1.HistoryOrder {
	h := hist(code, date+"T09:00:00+08:00", "E0", 1, 0)
	h.HospitalCode, h.ReportId = hospital, report
	return h
}

func TestRepeatExam(t *testing.T) {
	// The line's day D is 2026-11-22. CT: W=30, so D−29 = 2026-10-24 is in
	// the window and D−30 = 2026-10-23 is not.
	ct := func(h ...*rxguardv1.HistoryOrder) func(*rxguardv1.CheckOrdersRequest) {
		return withHistory(h, exam("1", ctItem))
	}
	runRuleCasesOn(t, encounterEngine(t, Config{}), knowledge.RuleRepeatExam, []ruleCase{
		{name: "10 days earlier here fires", mutate: ct(done(ctItem, "2026-11-12", "", "")), lines: one("1")},
		{name: "day D−W+1 fires", mutate: ct(done(ctItem, "2026-10-24", "", "")), lines: one("1")},
		{name: "day D−W does not", mutate: ct(done(ctItem, "2026-10-23", "", ""))},
		{name: "same day fires", mutate: ct(done(ctItem, "2026-11-22", "", "")), lines: one("1")},
		{name: "after the line's day does not", mutate: ct(done(ctItem, "2026-11-23", "", ""))},
		{name: "another hospital fires", mutate: ct(done(ctItem, "2026-11-12", "H370800002", "RPT-1")), lines: one("1")},
		{name: "another item does not", mutate: ct(done(cbcItem, "2026-11-20", "", ""))},
		{name: "no history does not", mutate: orders(exam("1", ctItem))},
		{name: "item not on the list does not", mutate: withHistory([]*rxguardv1.HistoryOrder{done(periodItem, "2026-11-20", "", "")}, exam("1", periodItem))},
		{name: "self-pay line still fires", mutate: withHistory([]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-12", "", "")}, selfPay(exam("1", ctItem))), lines: one("1")},
		{name: "self-pay patient still fires", mutate: all(ct(done(ctItem, "2026-11-12", "", "")), func(r *rxguardv1.CheckOrdersRequest) {
			r.Patient.InsuranceType = rxguardv1.InsuranceType_INSURANCE_SELF_PAY
		}), lines: one("1")},
		{name: "line dated later by start_time leaves the window", mutate: withHistory(
			[]*rxguardv1.HistoryOrder{done(ctItem, "2026-10-24", "", "")}, at(exam("1", ctItem), "2026-11-23T08:00:00+08:00"))},
		{name: "W=7: day D−6 fires", mutate: withHistory([]*rxguardv1.HistoryOrder{done(cbcItem, "2026-11-16", "", "")}, exam("1", cbcItem)), lines: one("1")},
		{name: "W=7: day D−7 does not", mutate: withHistory([]*rxguardv1.HistoryOrder{done(cbcItem, "2026-11-15", "", "")}, exam("1", cbcItem))},
		{name: "each repeated line fires", mutate: withHistory([]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-12", "", ""), done(cbcItem, "2026-11-20", "", "")},
			exam("1", ctItem), line("2", metformin, 1, 3), exam("3", cbcItem)), lines: [][]string{{"1"}, {"3"}}},
		{name: "rescue still fires", mutate: all(ct(done(ctItem, "2026-11-12", "", "")), func(r *rxguardv1.CheckOrdersRequest) { r.Encounter.Rescue = true }), lines: one("1")},
	})
}

func TestRepeatExamMessageAndFix(t *testing.T) {
	e := encounterEngine(t, Config{})
	tests := []struct {
		name    string
		history []*rxguardv1.HistoryOrder
		want    []string
		notWant []string
		exact   string // the whole message, when given
	}{
		{"another hospital with a report id",
			[]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-12", "H370800002", "RPT-2026-1112-07")},
			[]string{"医院 H370800002", "2026-11-12 09:00", "报告号 RPT-2026-1112-07", "可调阅互认结果", "30天"}, []string{"本院"},
			"胸部CT平扫 已于2026-11-12 09:00在医院 H370800002做过（30天互认期内），报告号 RPT-2026-1112-07，可调阅互认结果。"},
		{"here, no report id",
			[]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-12", "", "")},
			[]string{"本院", "2026-11-12 09:00", "可调阅互认结果"}, []string{"报告号"},
			"胸部CT平扫 已于2026-11-12 09:00在本院做过（30天互认期内），可调阅互认结果。"},
		{"this hospital's own code is 本院",
			[]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-12", "H1", "R9")},
			[]string{"本院", "报告号 R9"}, []string{"医院 H1"}, ""},
		{"the latest of several is quoted",
			[]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-02", "H2", "OLD"), done(ctItem, "2026-11-18", "H3", "NEW"), done(ctItem, "2026-11-10", "H4", "MID")},
			[]string{"医院 H3", "2026-11-18", "报告号 NEW"}, []string{"OLD", "MID"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := baseRequest()
			// A second line: removing the only line is a cancellation, no fix.
			withHistory(tt.history, named(exam("L1", ctItem), "胸部CT平扫"), line("L2", metformin, 1, 3))(req)
			got := findingsOf(e.Check(input(t, req)), knowledge.RuleRepeatExam)
			if len(got) != 1 {
				t.Fatalf("REPEAT_EXAM findings: %d, want 1", len(got))
			}
			f := got[0]
			for _, w := range append([]string{"胸部CT平扫"}, tt.want...) {
				if !strings.Contains(f.Message, w) {
					t.Errorf("message lacks %q: %s", w, f.Message)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(f.Message, w) {
					t.Errorf("message should not say %q: %s", w, f.Message)
				}
			}
			if tt.exact != "" && f.Message != tt.exact {
				t.Errorf("message %q, want %q", f.Message, tt.exact)
			}
			if !strings.Contains(f.Evidence, "exam-recognition.csv") || !strings.Contains(f.Evidence, "省内互认") {
				t.Errorf("evidence should name the recognition list's source and scope: %s", f.Evidence)
			}
			if !strings.Contains(f.Suggestion, "调阅并互认") || !strings.Contains(f.Suggestion, "理由") {
				t.Errorf("suggestion should offer viewing the result or a reason: %s", f.Suggestion)
			}
			if len(f.Fixes) != 1 || f.Fixes[0].Kind != rxguardv1.FixKind_FIX_KIND_REMOVE_LINE || f.Fixes[0].LineId != "L1" || f.Fixes[0].Label != "删除本项，调阅互认结果" {
				t.Errorf("fixes %v: want one REMOVE_LINE of L1", f.Fixes)
			}
			if f.RuleId != "REPEAT_EXAM/"+ctItem || f.Action != rxguardv1.Action_ACTION_WARN {
				t.Errorf("rule_id %q action %v", f.RuleId, f.Action)
			}
		})
	}
}

// Recorded history (RecordSigned, RecordSharedResults) carries where and
// which report like the request's; both count and are quoted alike.
func TestRepeatExamRecordedHistory(t *testing.T) {
	e := encounterEngine(t, Config{})
	req := baseRequest()
	req.History = []*rxguardv1.HistoryOrder{done(cbcItem, "2026-11-20", "", "")}
	req.Orders = []*rxguardv1.OrderLine{exam("1", ctItem), exam("2", cbcItem)}
	in := input(t, req)
	in.Recorded = HistoryEntries{{ItemCode: ctItem, Quantity: 1, EncounterID: "E9",
		Time: time.Date(2026, 11, 15, 14, 30, 0, 0, Shanghai), HospitalCode: "H370800009", ReportID: "SHARE-77"}}
	got := findingsOf(e.Check(in), knowledge.RuleRepeatExam)
	if len(got) != 2 {
		t.Fatalf("REPEAT_EXAM findings: %d, want 2 (recorded CT, request 血常规)", len(got))
	}
	if m := got[0].Message; got[0].LineIds[0] != "1" || !strings.Contains(m, "医院 H370800009") || !strings.Contains(m, "2026-11-15 14:30") || !strings.Contains(m, "SHARE-77") {
		t.Errorf("recorded CT finding: %v %s", got[0].LineIds, m)
	}
	if m := got[1].Message; got[1].LineIds[0] != "2" || !strings.Contains(m, "本院") || strings.Contains(m, "SHARE-77") {
		t.Errorf("request 血常规 finding: %v %s", got[1].LineIds, m)
	}
}

func TestExplainRecognitionItem(t *testing.T) {
	resp := encounterEngine(t, Config{}).Explain(ctItem, "")
	var found bool
	for _, en := range resp.Entries {
		if en.RuleType == string(knowledge.RuleUnknownItem) {
			t.Errorf("a recognition-list item is a known code: %v", en)
		}
		if en.RuleType == string(knowledge.RuleRepeatExam) {
			found = true
			if !strings.Contains(en.Summary, "30天") || !strings.Contains(en.Summary, "省内互认") || !strings.Contains(en.Source, "exam-recognition.csv") ||
				!en.Enabled || en.Action != rxguardv1.Action_ACTION_WARN {
				t.Errorf("REPEAT_EXAM entry %v", en)
			}
		}
	}
	if !found || resp.ItemName != "X线计算机体层(CT)平扫" {
		t.Errorf("Explain(%s) = %v: want the REPEAT_EXAM entry and the item's name", ctItem, resp)
	}
}

package engine

import (
	"slices"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/fix"
)

// Codes only the fix proof's release carries.
const (
	periodItem3  = "002503020040000" // 3 per 30 days: room to reduce
	twoLimits    = "001109000020000" // ITEM_FREQUENCY 2/日 and 1/日
	looseSecond  = "001109000030000" // ITEM_FREQUENCY 2/日 and 5/日
	unknownDrug  = "XZ99ZZZ9999A0010101999"
	suspendedDoc = "D370800000003" // suspended 2026-10-01 … 2027-01-31
)

// fixEngine is the test release plus restrictions the proof needs: a period
// limit above 1 (so a reduced quantity can pass) and codes bound twice by
// one rule type.
func fixEngine(t testing.TB) *Engine {
	t.Helper()
	c := testContent()
	for _, r := range []knowledge.Restriction{
		{Type: knowledge.RuleItemPeriodFrequency, Code: periodItem3, Name: "尿微量白蛋白测定", PeriodCount: 3, PeriodDays: 30},
		{Type: knowledge.RuleItemFrequency, Code: twoLimits, Name: "监护病房床位费", DailyLimit: 2, Unit: "日"},
		{Type: knowledge.RuleItemFrequency, Code: twoLimits, Name: "监护病房床位费", DailyLimit: 1, Unit: "日"},
		{Type: knowledge.RuleItemFrequency, Code: looseSecond, Name: "陪护床位费", DailyLimit: 2, Unit: "日"},
		{Type: knowledge.RuleItemFrequency, Code: looseSecond, Name: "陪护床位费", DailyLimit: 5, Unit: "日"},
	} {
		r.Source = testSource
		c.Restrictions = append(c.Restrictions, r)
	}
	c.Recognition = []knowledge.RecognitionItem{
		{Code: ctItem, Name: "X线计算机体层(CT)平扫", WindowDays: 30, Scope: "省内互认", Source: recognitionSource}}
	idx, err := Compile(knowledge.Manifest{Version: "test-fix"}, c)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(idx)
	return e
}

func svcLine(id, code string, qty float64) *rxguardv1.OrderLine {
	return &rxguardv1.OrderLine{LineId: id, ItemCode: code, Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: qty}
}

func diagnosed(codes ...string) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		for _, c := range codes {
			r.Diagnoses = append(r.Diagnoses, &rxguardv1.Diagnosis{Code: c})
		}
	}
}

func both(fs ...func(*rxguardv1.CheckOrdersRequest)) func(*rxguardv1.CheckOrdersRequest) {
	return func(r *rxguardv1.CheckOrdersRequest) {
		for _, f := range fs {
			f(r)
		}
	}
}

// fixCase is a request that fires typ on line, and the kinds of fix (in
// order) that finding must carry; nil kinds: a case of the type that has
// no fix.
type fixCase struct {
	name   string
	typ    knowledge.RuleType
	mutate func(*rxguardv1.CheckOrdersRequest)
	line   string
	kinds  []rxguardv1.FixKind
	values []float64 // per fix: quantity or days it sets (0 = none)
}

var (
	kSelfPay = []rxguardv1.FixKind{fixSelfPay}
	kAttest  = []rxguardv1.FixKind{fixAttest, fixSelfPay}
	kRemove  = []rxguardv1.FixKind{fixRemoveLine}
	kDrop    = []rxguardv1.FixKind{fixRemoveLine, fixSelfPay}
)

func fixCases() []fixCase {
	day := "2026-11-22T"
	filler := line("Z", metformin, 7, 7) // a harmless second line, so a line may be removed
	return []fixCase{
		{name: "suspended physician", typ: knowledge.RulePhysicianQualification, line: "1", kinds: kSelfPay,
			mutate: both(orders(line("1", metformin, 7, 7)), func(r *rxguardv1.CheckOrdersRequest) { r.Physician.Code = suspendedDoc })},
		{name: "suspended physician in a rescue: no fix", typ: knowledge.RulePhysicianQualification, line: "1",
			mutate: both(orders(line("1", metformin, 7, 7)), func(r *rxguardv1.CheckOrdersRequest) {
				r.Physician.Code, r.Encounter.Rescue = suspendedDoc, true
			})},
		{name: "unregistered physician: no fix", typ: knowledge.RulePhysicianQualification, line: "1",
			mutate: both(orders(line("1", metformin, 7, 7)), func(r *rxguardv1.CheckOrdersRequest) { r.Physician.Code = "D379999999999" })},
		{name: "CT again within its 30-day recognition window, at another hospital", typ: knowledge.RuleRepeatExam, line: "1",
			kinds:  []rxguardv1.FixKind{fixRemoveLine},
			mutate: withHistory([]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-10", "H370800099", "R-1")}, exam("1", ctItem), filler)},
		{name: "repeat exam, only line: no fix", typ: knowledge.RuleRepeatExam, line: "1",
			mutate: withHistory([]*rxguardv1.HistoryOrder{done(ctItem, "2026-11-10", "", "")}, exam("1", ctItem))},
		{name: "female drug for a man", typ: knowledge.RuleDrugGender, line: "1", kinds: kSelfPay, mutate: orders(line("1", femaleDrug, 1, 1))},
		{name: "male item for a woman", typ: knowledge.RuleItemGender, line: "1", kinds: kSelfPay,
			mutate: both(orders(svcLine("1", maleItem, 1)), func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = rxguardv1.Gender_GENDER_FEMALE })},
		{name: "child drug for an adult", typ: knowledge.RuleDrugAge, line: "1", kinds: kSelfPay, mutate: orders(line("1", childDrug, 1, 1))},
		{name: "infant item for an adult", typ: knowledge.RuleItemAge, line: "1", kinds: kSelfPay, mutate: orders(svcLine("1", infantItem, 1))},
		{name: "work-injury drug, employee insurance", typ: knowledge.RuleInsuranceType, line: "1", kinds: kSelfPay, mutate: orders(line("1", injuryDrug, 1, 1))},
		{name: "inpatient drug in outpatients", typ: knowledge.RuleEncounterType, line: "1", kinds: kSelfPay, mutate: orders(line("1", inpatientDrug, 1, 1))},
		{name: "level-3 drug at a level-2 hospital", typ: knowledge.RuleHospitalLevel, line: "1", kinds: kSelfPay,
			mutate: both(orders(line("1", level3Drug, 1, 1)), func(r *rxguardv1.CheckOrdersRequest) { r.Hospital.Level = 2 })},
		{name: "course: 4 of 14 days left", typ: knowledge.RulePaymentCourse, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceDays, fixSelfPay}, values: []float64{4, 0},
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(courseDrugA, "2026-11-12T09:00:00+08:00", "E1", 10, 10)}, line("1", courseDrugB, 5, 5))},
		{name: "course: two lines of one order add up", typ: knowledge.RulePaymentCourse, line: "2",
			kinds: []rxguardv1.FixKind{fixReduceDays, fixSelfPay}, values: []float64{1, 0},
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(courseDrugA, "2026-11-15T09:00:00+08:00", "E1", 6, 6)}, line("1", courseDrugA, 7, 7), line("2", courseDrugA, 7, 7))},
		{name: "course used up", typ: knowledge.RulePaymentCourse, line: "1", kinds: kDrop,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(courseDrugA, "2026-11-08T09:00:00+08:00", "E1", 14, 14)}, line("1", courseDrugA, 2, 2), filler)},
		{name: "course used up, only line", typ: knowledge.RulePaymentCourse, line: "1", kinds: kSelfPay,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(courseDrugA, "2026-11-08T09:00:00+08:00", "E1", 14, 14)}, line("1", courseDrugA, 2, 2))},
		{name: "daily: quantity 2 of 1", typ: knowledge.RuleItemFrequency, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceQuantity, fixSelfPay}, values: []float64{1, 0}, mutate: orders(svcLine("1", dailyItem, 2))},
		{name: "daily: 20 hours in history, 5 ordered, 24 a day", typ: knowledge.RuleItemFrequency, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceQuantity, fixSelfPay}, values: []float64{4, 0},
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(hourlyItem, day+"01:00:00+08:00", "E1", 20, 0)}, svcLine("1", hourlyItem, 5))},
		{name: "daily: already charged today", typ: knowledge.RuleItemFrequency, line: "1", kinds: kDrop,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(dailyItem, day+"00:30:00+08:00", "E1", 1, 0)}, svcLine("1", dailyItem, 1), filler)},
		{name: "daily: two limits bind, both fire: the smaller reduction", typ: knowledge.RuleItemFrequency, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceQuantity, fixSelfPay}, values: []float64{1, 0}, mutate: orders(svcLine("1", twoLimits, 3), filler)},
		{name: "daily: two limits bind, one used up: no reduction", typ: knowledge.RuleItemFrequency, line: "1", kinds: kDrop,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(twoLimits, "2026-11-22T00:30:00+08:00", "E1", 1, 0)}, svcLine("1", twoLimits, 2), filler)},
		{name: "daily: two limits bind, one fires: reduction kept", typ: knowledge.RuleItemFrequency, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceQuantity, fixSelfPay}, values: []float64{2, 0}, mutate: orders(svcLine("1", looseSecond, 3))},
		{name: "period: 2 of 3 in history, 3 ordered", typ: knowledge.RuleItemPeriodFrequency, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceQuantity, fixSelfPay}, values: []float64{1, 0},
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(periodItem3, "2026-11-10T09:00:00+08:00", "E0", 2, 0)}, svcLine("1", periodItem3, 3))},
		{name: "period: 1 per 15 days, done 5 days ago", typ: knowledge.RuleItemPeriodFrequency, line: "1", kinds: kDrop,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(periodItem, "2026-11-17T09:00:00+08:00", "E0", 1, 0)}, svcLine("1", periodItem, 1), filler)},
		{name: "period: twice in one order", typ: knowledge.RuleItemPeriodFrequency, line: "2", kinds: kDrop,
			mutate: orders(svcLine("1", periodItem, 1), svcLine("2", periodItem, 1))},
		{name: "item course: interval 14, last 5 days ago", typ: knowledge.RuleItemCourse, line: "1", kinds: kDrop,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(courseItem, "2026-11-17T09:00:00+08:00", "E0", 1, 0)}, svcLine("1", courseItem, 1), filler)},
		{name: "item course: 90 days exceeded, only line", typ: knowledge.RuleItemCourse, line: "1", kinds: kSelfPay,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(courseItem, "2026-08-01T09:00:00+08:00", "E1", 1, 0)}, svcLine("1", courseItem, 1))},
		{name: "duplicate charge: 从项 before its 主项", typ: knowledge.RuleDuplicateCharge, line: "1", kinds: kDrop,
			mutate: orders(svcLine("1", secondaryDay, 1), svcLine("2", primaryItem, 1))},
		{name: "duplicate charge: 主项 in history", typ: knowledge.RuleDuplicateCharge, line: "1", kinds: kDrop,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(primaryItem, day+"08:00:00+08:00", "E1", 1, 0)}, svcLine("1", secondaryEnc, 1), filler)},
		{name: "unknown well-formed code", typ: knowledge.RuleUnknownItem, line: "1", kinds: kSelfPay, mutate: orders(named(line("1", unknownDrug, 1, 1), "某新药"))},
		{name: "malformed code: no fix", typ: knowledge.RuleUnknownItem, line: "1", mutate: orders(line("1", "BAD-CODE", 1, 1))},
		{name: "not covered", typ: knowledge.RuleNotCovered, line: "1", kinds: kSelfPay, mutate: orders(line("1", sildenafil, 1, 1))},
		{name: "indication: no matching diagnosis", typ: knowledge.RuleDrugIndication, line: "1", kinds: kAttest,
			mutate: both(orders(line("1", moxifloxacin, 5, 5)), diagnosed("I10.x00"))},
		{name: "indication: text only (INFO)", typ: knowledge.RuleDrugIndication, line: "1", kinds: kAttest, mutate: orders(line("1", textOnlyDrug, 5, 5))},
		{name: "second line", typ: knowledge.RuleSecondLine, line: "1", kinds: kAttest,
			mutate: both(orders(line("1", ilaprazole, 5, 5)), diagnosed("K21.000"))},
		{name: "acute 10 days", typ: knowledge.RuleQuantityLimit, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceDays}, values: []float64{7}, mutate: orders(line("1", metformin, 10, 10))},
		{name: "chronic 40 days", typ: knowledge.RuleQuantityLimit, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceDays}, values: []float64{30}, mutate: both(orders(line("1", metformin, 40, 40)), diagnosed("E11.900"))},
		{name: "acute over 84 days", typ: knowledge.RuleQuantityLimit, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceDays, fixSelfPay}, values: []float64{7, 0}, mutate: orders(line("1", metformin, 90, 90))},
		{name: "chronic over 84 days", typ: knowledge.RuleQuantityLimit, line: "1",
			kinds: []rxguardv1.FixKind{fixReduceDays, fixSelfPay}, values: []float64{30, 0}, mutate: both(orders(line("1", metformin, 90, 90)), diagnosed("I10.x00"))},
		{name: "禁忌 in one order", typ: knowledge.RuleDrugInteraction, line: "2", kinds: kRemove,
			mutate: orders(line("1", simvastatin, 7, 7), line("2", clarithro, 7, 7))},
		{name: "禁忌 with a running history supply", typ: knowledge.RuleDrugInteraction, line: "1", kinds: kRemove,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(simvastatin, "2026-11-20T09:00:00+08:00", "E0", 30, 30)}, line("1", clarithro, 7, 7), filler)},
		{name: "禁忌 with two partners", typ: knowledge.RuleDrugInteraction, line: "2", kinds: kRemove,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(simvastatin, "2026-11-20T09:00:00+08:00", "E0", 30, 30)},
				line("1", simvastatin, 7, 7), line("2", clarithro, 7, 7))},
		{name: "慎用: no fix", typ: knowledge.RuleDrugInteraction, line: "2", mutate: orders(line("1", warfarin, 7, 7), line("2", aspirin, 7, 7))},
		{name: "same generic twice", typ: knowledge.RuleDuplicateTherapy, line: "2", kinds: kRemove,
			mutate: orders(line("1", aspirin, 7, 7), line("2", aspirin2, 7, 7))},
		{name: "history supply still running", typ: knowledge.RuleDuplicateTherapy, line: "1", kinds: kRemove,
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(aspirin, "2026-11-20T09:00:00+08:00", "E0", 30, 30)}, line("1", aspirin2, 7, 7), filler)},
		{name: "history supply running, only line: no fix", typ: knowledge.RuleDuplicateTherapy, line: "1",
			mutate: withHistory([]*rxguardv1.HistoryOrder{hist(aspirin, "2026-11-20T09:00:00+08:00", "E0", 30, 30)}, line("1", aspirin2, 7, 7))},
	}
}

func verdictRank(v rxguardv1.Verdict) int {
	switch v {
	case rxguardv1.Verdict_VERDICT_BLOCK:
		return 2
	case rxguardv1.Verdict_VERDICT_WARN:
		return 1
	}
	return 0
}

// onLine returns the findings of typ anchored on line id.
func onLine(res *Result, typ knowledge.RuleType, id string) []*rxguardv1.Finding {
	var out []*rxguardv1.Finding
	for _, f := range findingsOf(res, typ) {
		if len(f.LineIds) > 0 && f.LineIds[0] == id {
			out = append(out, f)
		}
	}
	return out
}

// TestFixesClearTheirFinding is the proof of issue 11 item 5: for every
// rule type that offers fixes, a request that fires it, and for each fix
// of that finding: apply it (server/fix.Apply), check again, and no finding
// of that type remains on the line, and the verdict is no stronger.
func TestFixesClearTheirFinding(t *testing.T) {
	e := fixEngine(t)
	proven := map[knowledge.RuleType]map[rxguardv1.FixKind]bool{}
	for _, c := range fixCases() {
		t.Run(string(c.typ)+"/"+c.name, func(t *testing.T) {
			req := baseRequest()
			c.mutate(req)
			before := e.Check(input(t, req))
			fired := onLine(before, c.typ, c.line)
			if len(fired) == 0 {
				for _, f := range before.Findings {
					t.Logf("finding %s %v %s", f.RuleType, f.LineIds, f.Message)
				}
				t.Fatalf("%s does not fire on line %s", c.typ, c.line)
			}
			offered := fixesOffered[c.typ].kinds
			for _, f := range fired {
				var got []rxguardv1.FixKind
				for _, x := range f.Fixes {
					got = append(got, x.Kind)
				}
				if !slices.Equal(got, c.kinds) {
					t.Fatalf("finding %s fixes %v, want %v", f.RuleId, got, c.kinds)
				}
				for i, x := range f.Fixes {
					if !slices.Contains(offered, x.Kind) {
						t.Errorf("%s offers %v, not in its fixesOffered entry %v", c.typ, x.Kind, offered)
					}
					if x.LineId != c.line || x.Label == "" {
						t.Errorf("fix %d: line %q label %q, want line %q and a label", i, x.LineId, x.Label, c.line)
					}
					if i < len(c.values) && c.values[i] != 0 {
						if v := x.Quantity + float64(x.Days); v != c.values[i] {
							t.Errorf("fix %d (%v) sets %v, want %v", i, x.Kind, v, c.values[i])
						}
					}
					fixed, err := fix.Apply(req, x)
					if err != nil {
						t.Fatalf("apply %v: %v", x, err)
					}
					after := e.Check(input(t, fixed))
					if left := onLine(after, c.typ, c.line); len(left) > 0 {
						t.Errorf("after %s (%v) %s still fires: %s", x.Label, x.Kind, c.typ, left[0].Message)
					}
					if verdictRank(after.Verdict) > verdictRank(before.Verdict) {
						t.Errorf("after %s the verdict rose from %v to %v", x.Label, before.Verdict, after.Verdict)
					}
					if proven[c.typ] == nil {
						proven[c.typ] = map[rxguardv1.FixKind]bool{}
					}
					proven[c.typ][x.Kind] = true
				}
			}
		})
	}
	// Every kind the inventory promises is proven by some case above.
	for _, s := range ruleList {
		for _, k := range fixesOffered[s.typ].kinds {
			if !proven[s.typ][k] {
				t.Errorf("%s offers %v but no case proves it clears the finding", s.typ, k)
			}
		}
	}
}

// TestFixInventory: every built-in rule type has decided whether it offers
// fixes (kinds) or not (a reason); a rule type added to ruleList without a
// decision fails here.
func TestFixInventory(t *testing.T) {
	inList := map[knowledge.RuleType]bool{}
	for _, s := range ruleList {
		inList[s.typ] = true
		o, ok := fixesOffered[s.typ]
		switch {
		case !ok:
			t.Errorf("%s has no fixesOffered entry: decide which fixes it offers (or why none) in fixes.go", s.typ)
		case len(o.kinds) == 0 && o.none == "":
			t.Errorf("%s offers no fix and says not why", s.typ)
		case len(o.kinds) > 0 && o.none != "":
			t.Errorf("%s both offers fixes and says it has none", s.typ)
		}
	}
	for typ := range fixesOffered {
		if !inList[typ] {
			t.Errorf("fixesOffered has %s, which is not in ruleList", typ)
		}
	}
}

// TestPassAllocatesNoFixes: a passing 10-line order allocates the same
// whether or not rules can build fixes — nothing is prepared ahead.
func TestPassAllocatesNoFixes(t *testing.T) {
	e := testEngine(t, Config{})
	in := input(t, passRequest())
	if res := e.Check(in); len(res.Findings) != 0 {
		t.Fatalf("pass request has findings: %v", res.Findings)
	}
	// The evaluation, its lines, the result and the rank slice: fixed
	// costs of a check, none per rule or per line.
	if got := testing.AllocsPerRun(100, func() { e.Check(in) }); got > 5 {
		t.Errorf("a passing check allocates %v times, want ≤ 5", got)
	}
}

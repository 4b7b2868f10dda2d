package decisionlog

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// A HIS reading fixed-width CHAR columns pads and lower-cases codes; the
// check service queries with knowledge.CanonicalCode. The indexes and the
// reports use the canonical code; the stored request keeps what was sent.
func TestCodesIndexedCanonical(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	padded := warnSpec(1)
	padded.physician, padded.encDept, padded.physDept = "d370800000001 ", " a03\u3000", "x99"
	e1 := entry(padded)
	clean := warnSpec(2)
	e2 := entry(clean) // D370800000001, A03
	onlyPadding := warnSpec(3)
	onlyPadding.physician, onlyPadding.encDept, onlyPadding.physDept = "\x00D370800000001", "   ", "a03 "
	e3 := entry(onlyPadding)
	other := warnSpec(4)
	other.physician, other.encDept = "D370800000002", "B01"
	e4 := entry(other)
	for _, e := range []Entry{e1, e2, e3, e4} {
		l.Append(ctx, e)
	}
	flush(t, l)

	want := []string{e3.ID, e2.ID, e1.ID} // newest first
	for _, q := range []Query{
		{PhysicianCode: "D370800000001"},
		{PhysicianCode: " d370800000001\t"}, // the log canonicalizes queries too
		{DepartmentCode: "A03"},
		{DepartmentCode: "a03"},
		{PhysicianCode: "D370800000001", DepartmentCode: "A03"},
		{PhysicianCode: "D370800000001", PageSize: 1},
	} {
		if got := all(t, l, q); !slices.Equal(got, want) {
			t.Errorf("query %+v: %v, want %v", q, got, want)
		}
	}
	// A page token issued for one spelling continues another.
	page, next, err := l.Query(ctx, Query{PhysicianCode: "d370800000001 ", PageSize: 1})
	if err != nil || len(page) != 1 || next == "" {
		t.Fatalf("first page: %v %q %v", page, next, err)
	}
	if rest := all(t, l, Query{PhysicianCode: "D370800000001", PageSize: 1, PageToken: next}); !slices.Equal(rest, want[1:]) {
		t.Errorf("continued with the canonical code: %v, want %v", rest, want[1:])
	}

	// The stored request is the one received.
	d, err := l.Get(ctx, e1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(d.Request, e1.Request) || d.Request.Physician.Code != "d370800000001 " {
		t.Errorf("stored request changed:\n%s", prototext.Format(d.Request))
	}

	pr, err := l.PhysicianReport(ctx, "d370800000001", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.PhysicianCode != "D370800000001" || pr.Decisions != 3 || pr.Name != "张明" {
		t.Errorf("physician report: code %q, %d decisions, name %q", pr.PhysicianCode, pr.Decisions, pr.Name)
	}
	dr, err := l.DepartmentReport(ctx, " A03", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if dr.DepartmentCode != "A03" || dr.Decisions != 3 || len(dr.Physicians) != 1 ||
		dr.Physicians[0].PhysicianCode != "D370800000001" || dr.Physicians[0].Decisions != 3 {
		t.Errorf("department report: %s", prototext.Format(dr))
	}
}

func TestReportItemsCanonical(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	warn := rxguardv1.Action_ACTION_WARN
	e1 := reportEntry(1, t0, "D1", "张明", "A03", "A03", rxguardv1.Verdict_VERDICT_WARN, []string{itemY + " ", itemX},
		fspec{ruleType: "PAYMENT_COURSE", action: warn, overridable: true, lines: []int{0}},
		// Two lines of one finding with the same item, spelled apart:
		// counted once.
		fspec{ruleType: "ITEM_FREQUENCY", action: warn, overridable: true, lines: []int{0, 1}})
	e1.Request.Orders[1].ItemCode = "zd03aaa0043010100166"
	e2 := reportEntry(2, t0.Add(time.Minute), "d1", "张明", "A03", "A03", rxguardv1.Verdict_VERDICT_WARN, []string{itemY},
		fspec{ruleType: "PAYMENT_COURSE", action: warn, overridable: true, lines: []int{0}})
	l.Append(ctx, e1)
	l.Append(ctx, e2)
	flush(t, l)
	pr, err := l.PhysicianReport(ctx, "D1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*rxguardv1.ItemCount{{ItemCode: itemY, ItemName: "名" + itemY[:3], Findings: 3}}
	if pr.Decisions != 2 || len(pr.TopItems) != len(want) || !proto.Equal(pr.TopItems[0], want[0]) {
		t.Errorf("physician report: %d decisions, top items %v, want %v", pr.Decisions, pr.TopItems, want)
	}
}

package engine

import (
	"strconv"

	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// TestTextArenaKeepsEveryText builds far more text than one chunk holds,
// across chunk changes and texts longer than a chunk, and checks that
// every text handed out still reads as built: nothing written later may
// change an earlier one.
func TestTextArenaKeepsEveryText(t *testing.T) {
	ev := &evaluation{}
	ev.text.first = textFirstChunk(1)
	type made struct{ got, want string }
	var all []made
	for i := 0; i < 5000; i++ {
		var got, want string
		switch i % 5 {
		case 0:
			got, want = ev.cat("第", strconv.Itoa(i), "行：", "医保限定支付范围"), "第"+strconv.Itoa(i)+"行："+"医保限定支付范围"
		case 1:
			got, want = ev.itoa(i*7919), strconv.Itoa(i*7919)
		case 2:
			got, want = ev.dayText(19000+i), dayString(19000+i)
		case 3:
			long := strings.Repeat("长", 2000+i) // longer than any chunk
			got, want = ev.cat(long, "。"), long+"。"
		case 4:
			got, want = ev.cat("", ""), ""
		}
		if got != want {
			t.Fatalf("text %d = %q, want %q", i, got, want)
		}
		all = append(all, made{got, want})
	}
	for i, m := range all {
		if m.got != m.want {
			t.Fatalf("text %d changed after later texts were built: %q, want %q", i, m.got, m.want)
		}
	}
}

func TestTextHelpers(t *testing.T) {
	ev := &evaluation{}
	ev.text.first = textFirstChunk(10)
	tm := time.Date(2026, 3, 4, 5, 6, 0, 0, Shanghai)
	for _, tc := range []struct{ got, want string }{
		{ev.itoa(0), "0"},
		{ev.itoa(99), "99"},
		{ev.itoa(100), "100"},
		{ev.itoa(-5), "-5"},
		{ev.itoa(1 << 40), strconv.Itoa(1 << 40)},
		{ev.dayText(dayNumber(tm)), "2026-03-04"},
		{ev.timeText(tm, "2006-01-02 15:04"), "2026-03-04 05:06"},
		{ev.bytes(nil), ""},
		{ev.cat("a", "", "b"), "ab"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestSlabsNeverShare: line-id lists have exactly the capacity asked for,
// so appending to one can never overwrite the next; findings and fixes are
// distinct objects however many are handed out.
func TestSlabsNeverShare(t *testing.T) {
	ev := &evaluation{lines: make([]event, 3), req: &rxguardv1.CheckOrdersRequest{Orders: []*rxguardv1.OrderLine{{LineId: "L0"}}}}
	a := ev.lineIDs(2)
	b := ev.lineIDs(1)
	a = append(a, "L1", "L2")
	b = append(b, "L3")
	if cap(a) != 2 || cap(b) != 1 {
		t.Fatalf("capacities %d, %d; want 2, 1", cap(a), cap(b))
	}
	a = append(a, "L4") // past its capacity: must move, not write into b
	if b[0] != "L3" || a[2] != "L4" {
		t.Fatalf("lists share memory: a=%v b=%v", a, b)
	}
	seen := map[any]bool{}
	for i := 0; i < 200; i++ {
		f, x := ev.newFinding(), ev.newFix(fixRemoveLine, 0, labelRemove)
		if seen[f] || seen[x] {
			t.Fatalf("slab handed out an object twice (round %d)", i)
		}
		seen[f], seen[x] = true, true
		f.RuleId = strconv.Itoa(i)
	}
}

func TestRestrictionKeyIsKey(t *testing.T) {
	ev := &evaluation{}
	for _, r := range []knowledge.Restriction{
		{Type: knowledge.RuleDrugGender, Code: "XA01"},
		{Type: knowledge.RuleDuplicateCharge, Code: "001", PrimaryCode: "002", Window: knowledge.WindowSameDay},
		{Type: knowledge.RuleItemCourse},
	} {
		if got, want := ev.restrictionKey(&r), r.Key(); got != want {
			t.Errorf("restrictionKey = %q, Key() = %q", got, want)
		}
	}
}

package engine

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// TestHistoryIndexDifferential: rules finding a code's history events
// through the per-check index (historyOf) give exactly the findings of
// walking every event, as they did before it. Random orders and
// histories (TestHistoryNeedsDifferential's generator), part of each
// history sent in the request's history[] and the rest recorded, judged
// by every rule with and without the index.
func TestHistoryIndexDifferential(t *testing.T) {
	g, idx := newHistoryGen(t, 41)
	indexed, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	indexed.Swap(idx)
	walked, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	walked.Swap(idx)
	walked.historyWalk = true
	fired, fromHistory := map[string]int{}, 0
	const cases = 4000
	for c := range cases {
		req, recorded := g.request(c%4 == 0)
		// Some entries go in the request's own history[], in any order.
		var rest HistoryEntries
		for i, h := range recorded {
			if i%3 == c%3 {
				req.History = append(req.History, &rxguardv1.HistoryOrder{ItemCode: h.ItemCode, Quantity: h.Quantity, Days: h.Days,
					Time: h.Time.Format(time.RFC3339), EncounterId: h.EncounterID, HospitalCode: h.HospitalCode, ReportId: h.ReportID})
				continue
			}
			rest = append(rest, h)
		}
		in := input(t, req)
		in.Recorded = rest
		want := walked.Check(in)
		got := indexed.Check(in)
		if got.Verdict != want.Verdict || len(got.Findings) != len(want.Findings) {
			t.Fatalf("case %d: indexed %s with %d findings, walked %s with %d\norders %v\nhistory %v\nrecorded %v",
				c, got.Verdict, len(got.Findings), want.Verdict, len(want.Findings), req.Orders, req.History, rest)
		}
		for i := range want.Findings {
			if !proto.Equal(got.Findings[i], want.Findings[i]) {
				t.Fatalf("case %d finding %d:\nindexed %v\nwalked  %v", c, i, got.Findings[i], want.Findings[i])
			}
			fired[want.Findings[i].RuleType]++
		}
		if len(req.History)+len(rest) > 0 && len(want.Findings) > 0 {
			fromHistory++
		}
	}
	// The comparison proves something only if the rules that use the
	// index fired.
	for _, typ := range []string{"ITEM_COURSE", "ITEM_FREQUENCY", "ITEM_PERIOD_FREQUENCY", "DUPLICATE_CHARGE", "REPEAT_EXAM"} {
		if fired[typ] == 0 {
			t.Errorf("no case made %s fire: the index is untested for it", typ)
		}
	}
	t.Logf("%d cases, findings per rule type: %v", cases, fired)
}

// historyOf returns a code's events in ascending positions, the same
// slice again when asked again, and nothing without history; a walk
// returns every event.
func TestHistoryOf(t *testing.T) {
	ev := &evaluation{}
	if got := ev.historyOf("A"); got != nil {
		t.Fatalf("no history: %v", got)
	}
	for _, c := range []string{"A", "B", "A", "C", "B", "A"} {
		ev.history = append(ev.history, event{code: c, line: -1})
	}
	cases := []struct {
		code string
		want []int32
	}{{"A", []int32{0, 2, 5}}, {"B", []int32{1, 4}}, {"Z", nil}, {"A", []int32{0, 2, 5}}, {"C", []int32{3}}}
	for _, tc := range cases {
		got := ev.historyOf(tc.code)
		if len(got) != len(tc.want) {
			t.Fatalf("historyOf(%s) = %v, want %v", tc.code, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("historyOf(%s) = %v, want %v", tc.code, got, tc.want)
			}
		}
		if cap(got) != len(got) {
			t.Fatalf("historyOf(%s) has room to append into the next code's positions", tc.code)
		}
	}
	if len(ev.byCode.pos) != len(ev.history) || cap(ev.byCode.pos) != len(ev.history) {
		t.Fatalf("positions %d of capacity %d for %d events", len(ev.byCode.pos), cap(ev.byCode.pos), len(ev.history))
	}
	walk := &evaluation{history: ev.history, byCode: historyIndex{walk: true}}
	if got := walk.historyOf("B"); len(got) != len(ev.history) {
		t.Fatalf("a walk gave %v", got)
	}
}

package engine

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// TestHistoryIndexDifferential: rules finding history events through the
// per-check indexes — a code's events (historyOf), a day's events
// (historyOnDay), the supplies running on a day with their drugs
// (historyRunning), the encounter's events with their course groups
// (historyCourse) — give exactly the findings of walking every event, as
// they did before them. Random orders and histories
// (TestHistoryNeedsDifferential's generator), part of each history sent in
// the request's history[] and the rest recorded, some orders' lines spread
// over several days and some times off the whole second, judged by every
// rule with and without the indexes.
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
	fired, fromHistory := map[string]int{}, map[string]int{}
	const cases = 4000
	for c := range cases {
		req, recorded := g.request(c%4 == 0)
		if c%3 == 0 {
			// Lines on up to three days: the per-day lists must keep
			// their days apart.
			for _, o := range req.Orders {
				o.StartTime = g.checkAt.Add(-time.Duration(g.rng.IntN(3)) * 24 * time.Hour).Format(time.RFC3339)
			}
		}
		// Some entries go in the request's own history[], in any order.
		var rest HistoryEntries
		for i, h := range recorded {
			if i%3 == c%3 {
				req.History = append(req.History, &rxguardv1.HistoryOrder{ItemCode: h.ItemCode, Quantity: h.Quantity, Days: h.Days,
					Time: h.Time.Format(time.RFC3339), EncounterId: h.EncounterID, HospitalCode: h.HospitalCode, ReportId: h.ReportID})
				continue
			}
			if c%5 == 0 {
				// Within the same second, a later nanosecond is later
				// (REPEAT_EXAM's latest result).
				h.Time = h.Time.Add(time.Duration(g.rng.IntN(1e9)))
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
		if len(req.History)+len(rest) == 0 {
			continue
		}
		without := proto.Clone(req).(*rxguardv1.CheckOrdersRequest)
		without.History = nil
		bare := walked.Check(input(t, without)).Findings
		for _, f := range want.Findings {
			if !containsFinding(bare, f) {
				fromHistory[f.RuleType]++
			}
		}
	}
	// The comparison proves something only if history made every rule
	// that reads it through an index fire.
	for _, typ := range []string{"ITEM_COURSE", "ITEM_FREQUENCY", "ITEM_PERIOD_FREQUENCY", "DUPLICATE_CHARGE", "REPEAT_EXAM",
		"SURGERY_GROUP", "PAYMENT_COURSE", "DRUG_INTERACTION", "DUPLICATE_THERAPY"} {
		if fromHistory[typ] == 0 {
			t.Errorf("no case made %s fire from history: its index is untested", typ)
		}
	}
	t.Logf("%d cases, findings per rule type: %v; from history: %v", cases, fired, fromHistory)
}

func containsFinding(fs []*rxguardv1.Finding, f *rxguardv1.Finding) bool {
	for _, x := range fs {
		if proto.Equal(x, f) {
			return true
		}
	}
	return false
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
		ev.history = append(ev.history, event{code: c})
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

// An event keeps its time as Unix seconds and nanoseconds: rebuilt, it is
// the same instant (formatted alike in Shanghai), at and around the edges
// a request can carry, and after orders events as time.Time.After does.
func TestEventTime(t *testing.T) {
	times := []time.Time{
		{}, // a history entry without a time
		time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1985, 4, 14, 1, 30, 0, 0, Shanghai), // daylight saving time then
		time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)),
		time.Date(2026, 11, 22, 10, 0, 0, 1, time.UTC),
		time.Date(2026, 11, 22, 10, 0, 0, 999_999_999, time.UTC),
		time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	for i, a := range times {
		ea := newEvent("X", a, 1, 1)
		if got := ea.time(); !got.Equal(a) || got.In(Shanghai).Format(time.RFC3339Nano) != a.In(Shanghai).Format(time.RFC3339Nano) {
			t.Errorf("time %d: %v rebuilt as %v", i, a, got)
		}
		if ea.day != dayNumber(a) {
			t.Errorf("time %d: day %d, want %d", i, ea.day, dayNumber(a))
		}
		for j, b := range times {
			eb := newEvent("X", b, 1, 1)
			if got, want := ea.after(&eb), a.After(b); got != want {
				t.Errorf("%v after %v = %v, want %v (%d, %d)", a, b, got, want, i, j)
			}
			if got, want := apart(&ea, &eb), a.Sub(b); got != want && got != -want {
				t.Errorf("%v apart from %v = %v, want ±%v", a, b, got, want)
			}
		}
	}
}

// EventAt is At's fields (the engine builds every event from EventAt and
// quotes a finding's entry from At).
func TestHistoryEntriesEventAtIsAt(t *testing.T) {
	g, _ := newHistoryGen(t, 43)
	n := 0
	for c := range 300 {
		_, recorded := g.request(c%4 == 0)
		h := HistoryEntries(recorded)
		for i := range h.Len() {
			e := h.At(i)
			code, tm, qty, days, enc := h.EventAt(i)
			if code != e.ItemCode || !tm.Equal(e.Time) || qty != e.Quantity || days != e.Days || enc != e.EncounterID {
				t.Fatalf("case %d entry %d: EventAt %v %v %v %v %v, At %+v", c, i, code, tm, qty, days, enc, e)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("the generator made no recorded entries")
	}
}

package history

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	at := t0.Add(-time.Hour)
	withEnc := func(e Entry, enc string) Entry { e.EncounterID = enc; return e }
	withLine := func(e Entry, line string) Entry { e.LineID = line; return e }
	cases := []struct {
		name              string
		request, recorded []Entry
		want              []Entry
	}{
		{"both empty", nil, nil, []Entry{}},
		{"request only", []Entry{entry("A", at)}, nil, []Entry{entry("A", at)}},
		{"recorded only", nil, []Entry{entry("A", at)}, []Entry{entry("A", at)}},
		{"exact duplicate", []Entry{entry("A", at)}, []Entry{entry("A", at)}, []Entry{entry("A", at)}},
		{"same second, sub-second and line differ",
			[]Entry{entry("A", at)},
			[]Entry{withLine(entry("A", at.Add(900*time.Millisecond)), "L1")},
			[]Entry{entry("A", at)}},
		{"same second, other zone", []Entry{entry("A", at.In(time.FixedZone("CST", 8*3600)))}, []Entry{entry("A", at)},
			[]Entry{entry("A", at)}},
		{"same item, different second", []Entry{entry("A", at)}, []Entry{entry("A", at.Add(time.Second))},
			[]Entry{entry("A", at), entry("A", at.Add(time.Second))}},
		{"same second, different encounter", []Entry{entry("A", at)}, []Entry{withEnc(entry("A", at), "E2")},
			[]Entry{entry("A", at), withEnc(entry("A", at), "E2")}},
		{"different item", []Entry{entry("A", at)}, []Entry{entry("B", at)},
			[]Entry{entry("A", at), entry("B", at)}},
		{"request duplicates kept; all matching recorded dropped",
			[]Entry{entry("A", at), entry("A", at)},
			[]Entry{withLine(entry("A", at), "L1"), withLine(entry("A", at), "L2"), entry("B", at)},
			[]Entry{entry("A", at), entry("A", at), entry("B", at)}},
		{"order kept", []Entry{entry("Z", at), entry("A", at)}, []Entry{entry("Y", at), entry("Z", at), entry("B", at)},
			[]Entry{entry("Z", at), entry("A", at), entry("Y", at), entry("B", at)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertEntries(t, Merge(tc.request, tc.recorded), tc.want)
			// NotInRequest is Merge's recorded part, in place.
			own := append([]Entry(nil), tc.recorded...)
			got := NotInRequest(tc.request, own)
			assertEntries(t, append(append([]Entry{}, tc.request...), got...), tc.want)
			// NotInRequestAt is the same on positions, reading recorded only.
			assertEntries(t, append(append([]Entry{}, tc.request...), notInRequestAt(tc.request, tc.recorded, nil)...), tc.want)
		})
	}
}

// TestMergeSameSecond: several request entries in one second are all
// considered, not just the last one indexed.
func TestMergeSameSecond(t *testing.T) {
	var req, rec, want []Entry
	for i := range 40 {
		e := entry(fmt.Sprint("C", i), t0.Add(-time.Duration(i%3)*time.Hour))
		req = append(req, e)
		want = append(want, e)
	}
	for i := range 60 {
		e := entry(fmt.Sprint("C", i), t0.Add(-time.Duration(i%3)*time.Hour))
		rec = append(rec, e)
		if i >= 40 {
			want = append(want, e)
		}
	}
	assertEntries(t, Merge(req, rec), want)
	assertEntries(t, append(append([]Entry{}, req...), NotInRequest(req, append([]Entry(nil), rec...))...), want)
	assertEntries(t, append(append([]Entry{}, req...), notInRequestAt(req, rec, nil)...), want)
}

// notInRequestAt runs NotInRequestAt over every position of recorded and
// returns the entries kept; recorded must come out unchanged.
func notInRequestAt(request, recorded []Entry, code func(string) string) []Entry {
	before := fmt.Sprint(recorded)
	pos := make([]int32, len(recorded))
	for i := range pos {
		pos[i] = int32(i)
	}
	var out []Entry
	for _, p := range NotInRequestAt(request, recorded, pos, code) {
		out = append(out, recorded[p])
	}
	if fmt.Sprint(recorded) != before {
		panic("NotInRequestAt changed the recorded entries")
	}
	return out
}

// NotInRequestAt compares recorded codes as code maps them, and keeps a
// subset of positions in their order.
func TestNotInRequestAtCode(t *testing.T) {
	at := t0.Add(-time.Hour)
	req := []Entry{entry("A", at)}
	rec := []Entry{entry("B", at), entry("a", at), entry("A", at.Add(time.Second)), entry("C", at)}
	upper := func(s string) string {
		if s == "a" {
			return "A"
		}
		return s
	}
	assertEntries(t, notInRequestAt(req, rec, upper), []Entry{rec[0], rec[2], rec[3]})
	assertEntries(t, notInRequestAt(req, rec, nil), rec)
	// A subset of positions: only those are judged, in their order.
	got := NotInRequestAt(req, rec, []int32{1, 3}, upper)
	if fmt.Sprint(got) != "[3]" {
		t.Fatalf("positions %v, want [3]", got)
	}
}

// Merge, NotInRequest and NotInRequestAt drop exactly the recorded entries
// the definition does (same code, encounter and second as some request
// entry), for random requests of up to 100 entries (past the index's stack
// buffer) in any order, with many entries per second.
func TestMergeMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	draw := func(n int) []Entry {
		var es []Entry
		for range n {
			e := entry(fmt.Sprint("C", rng.IntN(6)), t0.Add(-time.Duration(rng.IntN(8000))*time.Millisecond))
			e.EncounterID = fmt.Sprint("E", rng.IntN(2))
			es = append(es, e)
		}
		return es
	}
	for trial := range 300 {
		req, rec := draw(rng.IntN(100)), draw(rng.IntN(60))
		var want []Entry
		for _, r := range rec {
			dup := false
			for _, q := range req {
				dup = dup || (q.ItemCode == r.ItemCode && q.EncounterID == r.EncounterID && q.Time.Unix() == r.Time.Unix())
			}
			if !dup {
				want = append(want, r)
			}
		}
		assertEntries(t, Merge(req, rec), append(append([]Entry{}, req...), want...))
		assertEntries(t, NotInRequest(req, append([]Entry(nil), rec...)), want)
		if got := notInRequestAt(req, rec, nil); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d: NotInRequestAt kept %d, want %d", trial, len(got), len(want))
		}
	}
}

package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A view served from the cache (indexed by item code) filters exactly like
// a linear filter of the entries Lookup returns, for any window, and asks
// keep at most once per distinct code.
func TestViewFilterMatchesLinear(t *testing.T) {
	ctx := context.Background()
	c := newClock(time.Now().Truncate(time.Second))
	s := openTemp(t, Options{Now: c.Now})
	base := c.Now().Add(-100 * time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	var es []Entry
	for i := 0; i < 500; i++ {
		es = append(es, Entry{ItemCode: fmt.Sprintf("C%02d", rng.IntN(40)), Quantity: 1, EncounterID: "E",
			Time: base.Add(time.Duration(rng.IntN(100*60)) * time.Minute), LineID: fmt.Sprint(i)})
	}
	if _, err := s.Record(ctx, "P", es); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, "P", base, c.Now()); err != nil { // loads the cache
		t.Fatal(err)
	}
	for trial := 0; trial < 200; trial++ {
		since := base.Add(time.Duration(rng.IntN(110)-5) * time.Hour)
		until := since.Add(time.Duration(rng.IntN(120)) * time.Hour)
		if until.After(c.Now()) {
			until = c.Now()
		}
		wanted := map[string]bool{}
		for k := 0; k < rng.IntN(45); k++ {
			wanted[fmt.Sprintf("C%02d", rng.IntN(45))] = true
		}
		if trial%5 == 0 { // every code kept (Positions has a shortcut for it)
			for k := range 40 {
				wanted[fmt.Sprintf("C%02d", k)] = true
			}
		}
		v, err := s.LookupView(ctx, "P", since, until)
		if err != nil {
			t.Fatal(err)
		}
		if trial > 0 && v.Len() > 0 && v.codes == nil {
			t.Fatalf("trial %d: a cache hit is not indexed", trial)
		}
		plain := ViewOf(v.Entries())
		asked := map[string]int{}
		got := v.Filter(func(code string) bool { asked[code]++; return wanted[code] })
		want := plain.Filter(func(code string) bool { return wanted[code] })
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d [%v, %v]: indexed filter %d entries, linear %d", trial, since, until, len(got), len(want))
		}
		for code, n := range asked {
			if n > 1 {
				t.Fatalf("trial %d: keep asked %d times for %s", trial, n, code)
			}
		}
		// Positions are the same entries, in place.
		pos := v.Positions(func(code string) bool { return wanted[code] }, []int32{-7})
		if len(pos) != len(got)+1 || pos[0] != -7 {
			t.Fatalf("trial %d: Positions gave %d (after dst's one), Filter %d", trial, len(pos)-1, len(got))
		}
		for i, p := range pos[1:] {
			if fmt.Sprint(v.Entries()[p]) != fmt.Sprint(got[i]) {
				t.Fatalf("trial %d: position %d is %v, Filter has %v", trial, i, v.Entries()[p], got[i])
			}
		}
		if lin := plain.Positions(func(code string) bool { return wanted[code] }, nil); !slices.Equal(lin, pos[1:]) {
			t.Fatalf("trial %d: indexed positions %v, linear %v", trial, pos[1:], lin)
		}
		if len(got) > 0 && &got[0] == &v.Entries()[0] {
			t.Fatalf("trial %d: Filter returned the shared entries, not a new slice", trial)
		}
		if !slices.IsSortedFunc(got, func(a, b Entry) int { return a.Time.Compare(b.Time) }) {
			t.Fatalf("trial %d: filtered entries not oldest first", trial)
		}
	}
}

package engine

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

// TestSortBySeq: the yielding merge sort orders events by seq exactly as
// a plain sort does, for sizes around its run length and its merge passes.
func TestSortBySeq(t *testing.T) {
	for _, n := range []int{0, 1, 2, sortRun - 1, sortRun, sortRun + 1, 2*sortRun + 3, 5*sortRun - 7, 9000} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		events := make([]*knowledge.PhysicianEvent, n)
		for i, seq := range rng.Perm(n) {
			events[i] = &knowledge.PhysicianEvent{Seq: int64(seq)*3 - int64(n)} // negative seqs too
		}
		want := slices.Clone(events)
		slices.SortFunc(want, func(a, b *knowledge.PhysicianEvent) int { return int(a.Seq - b.Seq) })
		sortBySeq(events)
		for i := range events {
			if events[i] != want[i] {
				t.Fatalf("n=%d: event %d has seq %d, want %d", n, i, events[i].Seq, want[i].Seq)
			}
		}
	}
}

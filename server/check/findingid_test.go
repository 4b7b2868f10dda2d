package check

import (
	"strconv"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestSetFindingIDs(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 12, 105} {
		fs := make([]*rxguardv1.Finding, n)
		for i := range fs {
			fs[i] = &rxguardv1.Finding{}
		}
		setFindingIDs("D20261201-abc", fs)
		for i, f := range fs {
			if want := "D20261201-abc-" + strconv.Itoa(i+1); f.FindingId != want {
				t.Fatalf("n=%d: finding %d id %q, want %q", n, i, f.FindingId, want)
			}
		}
		if n > 1 {
			if a := testing.AllocsPerRun(20, func() { setFindingIDs("D20261201-abc", fs) }); a != 1 {
				t.Errorf("n=%d: %v allocations, want 1", n, a)
			}
		}
	}
}

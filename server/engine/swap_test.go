package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Checks running while the index is swapped each see exactly one release:
// release "with" restricts the drug to women, release "without" has no
// restriction, so a result naming one version with the other's findings
// would be a mix.
func TestSwapUnderLoadNeverMixesReleases(t *testing.T) {
	with, err := Compile(knowledge.Manifest{Version: "with"}, testContent())
	if err != nil {
		t.Fatal(err)
	}
	// The drug is known to both (no UNKNOWN_ITEM); only "with" restricts it.
	without, err := Compile(knowledge.Manifest{Version: "without"}, &knowledge.Content{
		Drugs:        []knowledge.Drug{{Code: femaleDrug, GenericName: "艾附暖宫丸", Class: "乙"}},
		Physicians:   testPhysicians(),
		Restrictions: []knowledge.Restriction{{Type: knowledge.RuleItemGender, Code: maleItem, Gender: knowledge.GenderMale}}})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := New(Config{})
	e.Swap(with)

	req := baseRequest()
	req.Orders = []*rxguardv1.OrderLine{line("1", femaleDrug, 1, 7), line("2", maleItem, 1, 0)}
	in := input(t, req)

	var stop atomic.Bool
	var seen [2]atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				res := e.Check(in)
				switch {
				case res.Version == "with" && len(res.Findings) == 1 && res.Findings[0].RuleType == "DRUG_GENDER":
					seen[0].Add(1)
				case res.Version == "without" && len(res.Findings) == 0:
					seen[1].Add(1)
				default:
					t.Errorf("mixed result: version %s with %d findings", res.Version, len(res.Findings))
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; (seen[0].Load() < 200 || seen[1].Load() < 200) && time.Now().Before(deadline); i++ {
		if i%2 == 0 {
			e.Swap(without)
		} else {
			e.Swap(with)
		}
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	if seen[0].Load() == 0 || seen[1].Load() == 0 {
		t.Errorf("both releases should have served checks: %d / %d", seen[0].Load(), seen[1].Load())
	}
}

package yield

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestSometimesLetsOthersRun: on one processor, a goroutine started during
// a pass that calls Sometimes runs before the pass ends; one that never
// yields would have to wait for preemption.
func TestSometimesLetsOthersRun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ran atomic.Bool
	go ran.Store(true)
	sawIt := -1
	for i := 0; i < 4*Batch; i++ {
		Sometimes(i)
		if sawIt < 0 && ran.Load() {
			sawIt = i
		}
	}
	if sawIt < 0 || sawIt >= Batch {
		t.Fatalf("the other goroutine ran at item %d, want within the first %d", sawIt, Batch)
	}
}

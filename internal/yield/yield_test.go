package yield

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
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

// TestPassesPauseOnOneProcessor: on one processor a pass that calls
// Sometimes for several work slices pauses about once a slice (parked, so
// the scheduler polls the network); with two processors it never pauses.
func TestPassesPauseOnOneProcessor(t *testing.T) {
	stop := Serving()
	defer stop()
	for _, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		before := pauses.Load()
		start := time.Now()
		for i := 0; time.Since(start) < 6*workSlice; i++ {
			Sometimes(i)
		}
		n := pauses.Load() - before
		runtime.GOMAXPROCS(prev)
		switch {
		case procs == 1 && n < 2:
			t.Errorf("one processor: %d pauses in a pass of %s, want one about every %s", n, 6*workSlice, workSlice)
		case procs > 1 && n != 0:
			t.Errorf("%d processors: %d pauses, want none", procs, n)
		}
	}
}

// TestNoPausesWhileNotServing: before the process answers checks (a cold
// start) and after it stops, a pass on one processor does not pause.
func TestNoPausesWhileNotServing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := Serving()
	stop()
	stop() // once
	before := pauses.Load()
	start := time.Now()
	for i := 0; time.Since(start) < 4*workSlice; i++ {
		Sometimes(i)
	}
	if n := pauses.Load() - before; n != 0 {
		t.Fatalf("%d pauses while not serving", n)
	}
}

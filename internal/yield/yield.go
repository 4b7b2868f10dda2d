// Package yield lets long passes over a whole release (its proof, decode,
// delta application and compile: seconds of CPU at the seeds' scale) give
// the processor to other goroutines now and then. On a sidecar with one
// core the checks served meanwhile must not wait for the scheduler's 10 ms
// preemption to get their turn.
//
// A Gosched is not enough on one processor: the scheduler polls the
// network only when it finds nothing else to run (or from sysmon, every
// 10 ms), and a pass that yields stays runnable, so a check's request that
// has arrived waits up to 10 ms to be read. Measured at the seeds' scale,
// a 10k-record delta with Gosched alone: checks during the apply took 10 ms
// at the median against 0.3 ms idle (docs/PERFORMANCE.md). So on one
// processor a pass also pauses after every workSlice of work: parked, it
// lets the scheduler poll the network and run the checks that are waiting.
// It pauses only while the process answers checks (Serving): a pause with
// nothing waiting idles for about a millisecond, which would make a cold
// start's passes, before any check is answered, a quarter slower.
package yield

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Batch is how many items such a pass handles between two yields: about
// 0.1 ms of work.
const Batch = 512

const (
	// workSlice is how long passes run on one processor between pauses:
	// a check that arrives meanwhile waits at most about this long.
	workSlice = 3 * time.Millisecond
	// pause is how long a pass sleeps; an idle scheduler's poll rounds it
	// up to a millisecond, and checks that are waiting use it.
	pause = 100 * time.Microsecond
)

// lastPause is when a pass last paused or found it need not (UnixNano);
// passes share it, so two passes at once do not pause twice as often as
// needed. pauses counts the pauses, for tests.
var (
	lastPause atomic.Int64
	pauses    atomic.Int64
	serving   atomic.Int32
)

// Serving marks the process as answering checks until the returned stop
// is called (once): passes pause for them meanwhile (package doc).
func Serving() (stop func()) {
	serving.Add(1)
	var once sync.Once
	return func() { once.Do(func() { serving.Add(-1) }) }
}

// Sometimes yields after every Batch items of a pass counting i from 0.
func Sometimes(i int) {
	if i%Batch == Batch-1 {
		Now()
	}
}

// Now yields (for passes that count their own batches), and on one
// processor pauses once workSlice has passed since the last pause.
func Now() {
	if now := time.Now().UnixNano(); now-lastPause.Load() < int64(workSlice) {
		runtime.Gosched()
		return
	}
	if serving.Load() == 0 || runtime.GOMAXPROCS(0) > 1 {
		// No check to wait for, or another processor polls the network
		// when it is idle.
		lastPause.Store(time.Now().UnixNano())
		runtime.Gosched()
		return
	}
	time.Sleep(pause)
	pauses.Add(1)
	lastPause.Store(time.Now().UnixNano())
}

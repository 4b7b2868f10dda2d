// Package yield lets long passes over a whole release (its proof, decode,
// delta application and compile: seconds of CPU at the seeds' scale) give
// the processor to other goroutines now and then. On a sidecar with one
// core the checks served meanwhile must not wait for the scheduler's 10 ms
// preemption to get their turn.
package yield

import "runtime"

// Batch is how many items such a pass handles between two yields: about
// 0.1 ms of work.
const Batch = 512

// Sometimes yields after every Batch items of a pass counting i from 0.
func Sometimes(i int) {
	if i%Batch == Batch-1 {
		runtime.Gosched()
	}
}

// Now yields (for passes that count their own batches).
func Now() { runtime.Gosched() }

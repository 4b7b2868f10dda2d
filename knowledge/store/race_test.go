//go:build race

package store

// raceEnabled shrinks the crash test's releases: the race detector slows
// Badger several-fold and the test must stay within its time budget.
const raceEnabled = true

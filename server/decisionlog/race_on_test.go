//go:build race

package decisionlog

// raceEnabled: the race detector slows the writer several times over.
const raceEnabled = true

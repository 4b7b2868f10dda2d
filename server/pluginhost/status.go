package pluginhost

import (
	"sync/atomic"
	"time"
)

// State is where a plugin's process is in its life.
type State string

const (
	// StateStarting: the first process is being started.
	StateStarting State = "starting"
	// StateRunning: a process is up and takes calls.
	StateRunning State = "running"
	// StateRestarting: the process died or could not be started; the
	// supervisor is starting a new one with backoff. Calls get the failure
	// policy meanwhile.
	StateRestarting State = "restarting"
	// StateNotStarted: the executable failed verification at Start (missing,
	// not a regular file, SHA-256 does not match the pin) and was never run.
	StateNotStarted State = "not_started"
	// StateFailed: the plugin cannot work with this host and is not retried:
	// it speaks another protocol version, or its file stopped matching the
	// pin before a restart. Fixing it needs a new binary or a new pin and a
	// restart of rxguard.
	StateFailed State = "failed"
	// StateStopped: the Manager was closed.
	StateStopped State = "stopped"
)

// PluginStatus is one plugin's state and counters, for health, metrics,
// `rxguard status` and the status page. Counters count since Start.
type PluginStatus struct {
	Name      string
	Path      string
	OnFailure Policy
	Timeout   time.Duration

	State  State
	Since  time.Time // when State was entered
	Reason string    // why the plugin is not running; empty when running
	PID    int       // of the running process; 0 when none

	// Describe's answer of the current (or last) process; zero until one
	// answered.
	Plugin Description

	Restarts      uint64 // processes brought up after the first one
	StartFailures uint64 // start attempts that failed

	Calls       uint64 // Evaluate calls that reached this plugin's turn
	Errors      uint64 // calls that failed (transport or plugin error)
	Timeouts    uint64 // calls that passed their deadline
	Unavailable uint64 // calls answered by the failure policy because no process was running
	Canceled    uint64 // calls whose caller gave up (its context ended) first
	// BadFixes counts structured suggestions (Finding.fixes) dropped from
	// the plugin's findings: not applicable to the request, unlabelled,
	// oversized, or beyond MaxPluginFixes. LastError says why.
	BadFixes uint64

	LastError   string
	LastErrorAt time.Time

	// Latency of the calls sent to the process (successes, errors and
	// timeouts; not Unavailable).
	Latency LatencyStats
}

// Description is what a plugin says about itself (rxguard.plugin.v1
// Describe).
type Description struct {
	Name        string
	Version     string
	RuleIDs     []string
	Description string
}

// latencyBounds are the upper bounds of the latency histogram buckets; one
// more bucket counts everything above the last.
var latencyBounds = [...]time.Duration{
	250 * time.Microsecond,
	500 * time.Microsecond,
	time.Millisecond,
	2 * time.Millisecond,
	5 * time.Millisecond,
	10 * time.Millisecond,
	20 * time.Millisecond,
	50 * time.Millisecond,
	100 * time.Millisecond,
}

// LatencyBounds returns the upper bounds (inclusive) of the latency
// histogram buckets; LatencyStats.Buckets has one more entry, for slower
// calls.
func LatencyBounds() []time.Duration { return append([]time.Duration(nil), latencyBounds[:]...) }

// LatencyStats summarises call latencies.
type LatencyStats struct {
	Count   uint64
	Sum     time.Duration
	Max     time.Duration
	Buckets []uint64 // per bucket (not cumulative); see LatencyBounds
}

// latency is the lock-free recorder behind LatencyStats.
type latency struct {
	count   atomic.Uint64
	sum     atomic.Int64
	max     atomic.Int64
	buckets [len(latencyBounds) + 1]atomic.Uint64
}

func (l *latency) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	l.buckets[i].Add(1)
	l.count.Add(1)
	l.sum.Add(int64(d))
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (l *latency) stats() LatencyStats {
	s := LatencyStats{
		Count:   l.count.Load(),
		Sum:     time.Duration(l.sum.Load()),
		Max:     time.Duration(l.max.Load()),
		Buckets: make([]uint64, len(l.buckets)),
	}
	for i := range l.buckets {
		s.Buckets[i] = l.buckets[i].Load()
	}
	return s
}

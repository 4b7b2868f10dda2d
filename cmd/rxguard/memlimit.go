package main

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// raiseMemoryLimitForLoad doubles the soft memory limit (GOMEMLIMIT) while
// the sidecar loads its knowledge at start, and returns what restores it
// (once; later calls do nothing).
//
// The limit bounds the steady heap: the compiled index and the checks'
// garbage. The cold load holds the release's decoded records besides the
// index it builds (at the seeds' scale a live heap of ≈ 440 MB), so under
// a limit below that the collector cannot free anything and runs back to
// back: measured with GOMEMLIMIT=256MiB, 22 collections, ≈ 30 % of the
// processor and a cold start of 4.2–5.0 s, against 6 collections and
// 2.6–2.9 s with the limit at 512 MiB — and a peak resident set of 450 MB
// against 465 MB (docs/PERFORMANCE.md). The doubled limit never exceeds
// 90 % of the cgroup's hard memory limit, so it cannot be what gets the
// process killed; without a limit set, nothing changes.
func raiseMemoryLimitForLoad(log *slog.Logger) (restore func()) {
	was := debug.SetMemoryLimit(-1)
	raised := loadMemoryLimit(was, cgroupMemoryMax())
	if raised <= was {
		return func() {}
	}
	debug.SetMemoryLimit(raised)
	log.Debug("memory limit raised for the knowledge load", "limit_bytes", was, "during_load_bytes", raised)
	return sync.OnceFunc(func() { debug.SetMemoryLimit(was) })
}

// loadMemoryLimit is the soft limit during the load: twice the configured
// one, at most 90 % of the cgroup's hard limit (0: none), and never below
// the configured one. math.MaxInt64 is Go's "no limit".
func loadMemoryLimit(limit, hard int64) int64 {
	if limit <= 0 || limit == math.MaxInt64 {
		return limit
	}
	raised := limit
	if limit < math.MaxInt64/2 {
		raised = 2 * limit
	}
	if hard > 0 {
		raised = min(raised, hard/10*9)
	}
	return max(raised, limit)
}

// cgroupMemoryMax is the hard memory limit of this process's cgroup
// (cgroup v2 memory.max, else v1 memory.limit_in_bytes), 0 if there is
// none or it cannot be read.
func cgroupMemoryMax() int64 {
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		if p, ok := cgroupV2Path(b); ok {
			if n := parseMemoryMax(filepath.Join("/sys/fs/cgroup", p, "memory.max")); n > 0 {
				return n
			}
		}
	}
	if n := parseMemoryMax("/sys/fs/cgroup/memory.max"); n > 0 {
		return n
	}
	return parseMemoryMax("/sys/fs/cgroup/memory/memory.limit_in_bytes")
}

// cgroupV2Path is the unified hierarchy's path in a /proc/self/cgroup
// listing ("0::/system.slice/rxguard.service").
func cgroupV2Path(b []byte) (string, bool) {
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "0::"); ok {
			return p, true
		}
	}
	return "", false
}

// parseMemoryMax reads a cgroup memory limit file: a byte count, or "max"
// (none); 0 for none, unreadable or malformed, and for v1's "no limit"
// (a page-rounded MaxInt64).
func parseMemoryMax(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0
	}
	return n
}

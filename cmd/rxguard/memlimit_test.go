package main

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestLoadMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		limit, hard, want int64
	}{
		{math.MaxInt64, 0, math.MaxInt64}, // no limit: none during the load either
		{math.MaxInt64, 512 * mib, math.MaxInt64},
		{256 * mib, 0, 512 * mib},
		{256 * mib, 1024 * mib, 512 * mib},
		{256 * mib, 400 * mib, 360 * mib}, // 90 % of the hard limit
		{256 * mib, 200 * mib, 256 * mib}, // never below the configured limit
		{math.MaxInt64/2 + 1, 0, math.MaxInt64/2 + 1},
		{0, 0, 0},
	} {
		if got := loadMemoryLimit(tc.limit, tc.hard); got != tc.want {
			t.Errorf("loadMemoryLimit(%d, %d) = %d, want %d", tc.limit, tc.hard, got, tc.want)
		}
	}
}

func TestParseMemoryMax(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]int64{
		"max\n":                 0,
		"536870912\n":           536870912,
		"9223372036854771712\n": 0, // cgroup v1's "no limit"
		"lots\n":                0,
		"":                      0,
		"-1\n":                  0,
	} {
		p := filepath.Join(dir, "memory.max")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := parseMemoryMax(p); got != want {
			t.Errorf("parseMemoryMax(%q) = %d, want %d", content, got, want)
		}
	}
	if got := parseMemoryMax(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("a missing file reads as %d", got)
	}
	for listing, want := range map[string]string{
		"0::/system.slice/rxguard.service\n":                  "/system.slice/rxguard.service",
		"12:memory:/docker/abc\n0::/\n":                       "/",
		"12:memory:/docker/abc\n11:cpu:/docker/abc\n":         "",
		"1:name=systemd:/\n0::/kubepods/pod1/c2\n5:pids:/x\n": "/kubepods/pod1/c2",
	} {
		got, ok := cgroupV2Path([]byte(listing))
		if got != want || ok != (want != "") {
			t.Errorf("cgroupV2Path(%q) = %q, %v; want %q", listing, got, ok, want)
		}
	}
}

// The limit is raised for the load and restored once: a second restore
// does not undo a limit set since.
func TestMemoryLimitRaisedForTheLoadAndRestored(t *testing.T) {
	const set = 300 << 20
	was := debug.SetMemoryLimit(set)
	defer debug.SetMemoryLimit(was)
	restore := raiseMemoryLimitForLoad(slog.New(slog.DiscardHandler))
	if got, want := debug.SetMemoryLimit(-1), loadMemoryLimit(set, cgroupMemoryMax()); got != want || want <= set && cgroupMemoryMax() == 0 {
		t.Errorf("during the load the limit is %d, want %d (configured %d)", got, want, set)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != set {
		t.Errorf("after the load the limit is %d, want the configured %d", got, set)
	}
	debug.SetMemoryLimit(set + 1)
	restore()
	if got := debug.SetMemoryLimit(-1); got != set+1 {
		t.Errorf("a second restore set the limit to %d", got)
	}
}

// A sidecar started under a memory limit serves with that limit.
func TestSidecarServesUnderTheConfiguredMemoryLimit(t *testing.T) {
	const set = 300 << 20
	was := debug.SetMemoryLimit(set)
	defer debug.SetMemoryLimit(was)
	cfg := defaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	startSidecarConfig(t, cfg) // returns once it serves
	if got := debug.SetMemoryLimit(-1); got != set {
		t.Errorf("the serving sidecar's memory limit is %d, want the configured %d", got, set)
	}
}

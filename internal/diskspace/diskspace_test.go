package diskspace

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeDisk is an injectable Statfs.
type fakeDisk struct {
	free atomic.Uint64
	fail atomic.Bool
}

func (d *fakeDisk) statfs(string) (uint64, error) {
	if d.fail.Load() {
		return 0, errors.New("statfs: input/output error")
	}
	return d.free.Load(), nil
}

func newFake(t *testing.T, free, min uint64) (*Guard, *fakeDisk) {
	t.Helper()
	d := &fakeDisk{}
	d.free.Store(free)
	return New("history", "/data/history", Options{MinFree: min, Logger: quiet(), Statfs: d.statfs}), d
}

func TestGuardAdmitsAboveThresholdAndRefusesBelow(t *testing.T) {
	g, d := newFake(t, 100, 50)
	if !g.Check() || !g.Writable() || g.Allow(0) != nil {
		t.Fatal("100 free, threshold 50: writes must go ahead")
	}
	if err := g.Allow(60); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a write needing 60 beyond the threshold with 50 spare: want ErrNoSpace, got %v", err)
	}
	// Allow re-measures: a disk that filled since the last poll is caught.
	d.free.Store(49)
	err := g.Allow(0)
	var ns *NoSpaceError
	if !errors.As(err, &ns) || ns.Free != 49 || ns.Min != 50 || ns.Dir != "/data/history" {
		t.Fatalf("49 free: want a NoSpaceError with the numbers, got %v", err)
	}
	if !strings.HasPrefix(err.Error(), "disk nearly full: free space on /data/history is 49 B") {
		t.Fatalf("message: %q", err)
	}
	if g.Writable() || g.Err() == nil {
		t.Fatal("after a refusal the guard must report not writable")
	}
	st := g.Status()
	if st.Writable || st.RefusedWrites != 2 || st.FreeBytes != 49 || st.LowSince.IsZero() || !strings.Contains(st.Detail, "disk nearly full") {
		t.Fatalf("status: %+v", st)
	}
	// Not writable: refused without measuring (one atomic load), until a
	// poll finds room.
	d.free.Store(1000)
	if g.Allow(0) == nil {
		t.Fatal("refused state must hold until the next measurement")
	}
	g.Poll()
	if !g.Writable() || g.Allow(0) != nil || !g.Status().LowSince.IsZero() {
		t.Fatalf("room again: want writable, got %+v", g.Status())
	}
	if n := g.Status().RefusedWrites; n != 3 {
		t.Fatalf("refused writes = %d, want 3", n)
	}
}

func TestGuardModeAndUnmeasurableSpace(t *testing.T) {
	g, d := newFake(t, 100, 50)
	g.Check()
	g.SetMode(ModeReadOnly)
	err := g.Allow(0)
	var ns *NoSpaceError
	if !errors.As(err, &ns) || ns.Mode != ModeReadOnly || !strings.Contains(err.Error(), "opened read-only") {
		t.Fatalf("a store opened read-only must refuse writes even with room: %v", err)
	}
	if st := g.Status(); st.Writable || st.Mode != "read-only" {
		t.Fatalf("status: %+v", st)
	}
	g.SetMode(ModeReadWrite)
	if g.Allow(0) != nil {
		t.Fatal("reopened read-write with room: writes must go ahead")
	}
	// Free space that cannot be measured counts as too little.
	d.fail.Store(true)
	if g.Check() || g.Allow(0) == nil || g.Status().CheckError == "" {
		t.Fatalf("statfs failing: want refused with the error reported, got %+v", g.Status())
	}
	d.fail.Store(false)
	if !g.Check() || g.Status().CheckError != "" {
		t.Fatalf("statfs back: %+v", g.Status())
	}
}

func TestPollRunsHooksOnlyWithRoom(t *testing.T) {
	g, d := newFake(t, 10, 50)
	var calls atomic.Int32
	g.OnRoom(func() { calls.Add(1) })
	g.Poll()
	if calls.Load() != 0 {
		t.Fatal("a hook ran while the disk was nearly full")
	}
	d.free.Store(100)
	g.Poll()
	g.Poll()
	if calls.Load() != 2 {
		t.Fatalf("hooks ran %d times over two polls with room, want 2", calls.Load())
	}
}

func TestNilGuardAdmitsEverything(t *testing.T) {
	var g *Guard
	if !g.Check() || !g.Writable() || g.Allow(1<<60) != nil || g.Err() != nil || g.Mode() != ModeReadWrite {
		t.Fatal("a nil guard must not refuse anything")
	}
	g.SetMode(ModeReadOnly)
	g.OnRoom(func() {})
	g.Poll()
	if st := g.Status(); !st.Writable {
		t.Fatalf("nil guard status: %+v", st)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 8 << 20: "8.0 MiB", 256 << 20: "256.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// Where free space cannot be measured at all, writes are admitted as before
// the guard, estimated ones too (free stays 0: before, every write with an
// estimate — every release install — was refused).
func TestUnsupportedPlatformAdmitsWrites(t *testing.T) {
	g := New("knowledge", t.TempDir(), Options{MinFree: 100, Logger: quiet(),
		Statfs: func(string) (uint64, error) { return 0, errUnsupported }})
	if !g.Check() {
		t.Fatal("Check on an unsupported platform reports no room")
	}
	for _, extra := range []uint64{0, 1, 1 << 30} {
		if err := g.Allow(extra); err != nil {
			t.Errorf("Allow(%d): %v", extra, err)
		}
	}
}

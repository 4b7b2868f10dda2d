package diskspace_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/internal/diskspace/disktest"
)

// The guard on a real filesystem: a small tmpfs filled to the last byte.
func TestGuardOnAFullTmpfs(t *testing.T) {
	mnt := disktest.Mount(t, 8<<20)
	dir := filepath.Join(mnt, "store", "not-created-yet")
	g := diskspace.New("history", dir, diskspace.Options{MinFree: 2 << 20, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if !g.Check() {
		t.Fatalf("an empty 8 MiB tmpfs, threshold 2 MiB: want room, got %+v", g.Status())
	}
	if st := g.Status(); st.FreeBytes < 7<<20 || st.FreeBytes > 8<<20 {
		t.Fatalf("free bytes of an empty 8 MiB tmpfs (measured on the nearest existing parent): %d", st.FreeBytes)
	}
	var room atomic.Int32
	g.OnRoom(func() { room.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()

	filler := disktest.Fill(t, mnt)
	// A write right after the disk filled is refused: Allow measures.
	if err := g.Allow(0); !errors.Is(err, diskspace.ErrNoSpace) {
		t.Fatalf("full tmpfs: want ErrNoSpace, got %v", err)
	}
	// (Run may have measured while the filler was growing; measure now.)
	if g.Check() {
		t.Fatal("Check on a full tmpfs reports room")
	}
	if st := g.Status(); st.Writable || st.FreeBytes != 0 {
		t.Fatalf("full tmpfs: %+v", st)
	}
	room.Store(0)
	time.Sleep(50 * time.Millisecond)
	if room.Load() != 0 {
		t.Fatal("OnRoom ran while the disk was full")
	}

	disktest.Free(t, filler)
	deadline := time.Now().Add(5 * time.Second)
	for !g.Writable() || room.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not notice the room: %+v", g.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := g.Allow(0); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the guard must not create the store's directory")
	}
}

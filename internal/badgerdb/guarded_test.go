package badgerdb

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/internal/diskspace"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeGuard is a guard over a settable free space.
func fakeGuard(free *atomic.Uint64, min uint64) *diskspace.Guard {
	return diskspace.New("test", "/nowhere", diskspace.Options{MinFree: min, Logger: quiet(),
		Statfs: func(string) (uint64, error) { return free.Load(), nil }})
}

func TestWriteReserveFollowsOptions(t *testing.T) {
	if got, want := WriteReserve(), uint64(128<<20); got != want {
		t.Fatalf("WriteReserve = %d, want %d (2 memtables × 16 MiB logs + 8 × 8 MiB level-0 tables + 32 MiB value log)", got, want)
	}
	if DefaultMinFreeBytes(3) != 3*WriteReserve() || DefaultMinFreeBytes(0) != WriteReserve() {
		t.Fatal("the default threshold covers every store on the filesystem")
	}
}

func writeKeys(t *testing.T, db *badger.DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.Update(func(txn *badger.Txn) error {
			return txn.Set(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%04d", i))
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func readKeys(t *testing.T, db *badger.DB, n int) {
	t.Helper()
	if err := db.View(func(txn *badger.Txn) error {
		for i := range n {
			item, err := txn.Get(fmt.Appendf(nil, "k%04d", i))
			if err != nil {
				return fmt.Errorf("k%04d: %w", i, err)
			}
			if v, _ := item.ValueCopy(nil); string(v) != fmt.Sprintf("v%04d", i) {
				return fmt.Errorf("k%04d = %q", i, v)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenGuardedWritesNothingWhileTheDiskIsFull(t *testing.T) {
	var free atomic.Uint64
	free.Store(10)
	g := fakeGuard(&free, 100)
	dir := filepath.Join(t.TempDir(), "store")
	c := Config{Dir: dir, Logger: quiet()}

	// No store yet: nothing is created, an empty stand-in serves reads.
	db, mode, err := OpenGuarded(c, g)
	if err != nil || mode != diskspace.ModeNotCreated || g.Mode() != diskspace.ModeNotCreated || g.Writable() {
		t.Fatalf("OpenGuarded on a full disk without a store: %v %v %+v", err, mode, g.Status())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the store's directory was created on a full disk")
	}
	if err := db.View(func(txn *badger.Txn) error { _, err := txn.Get([]byte("k")); return err }); !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatalf("stand-in read: %v", err)
	}
	if err := Close(db, g, quiet()); err != nil {
		t.Fatal(err)
	}

	// Room: read-write, and a store with data.
	free.Store(1000)
	db, mode, err = OpenGuarded(c, g)
	if err != nil || mode != diskspace.ModeReadWrite || !g.Writable() {
		t.Fatalf("OpenGuarded with room: %v %v", err, mode)
	}
	writeKeys(t, db, 50)
	if err := Close(db, g, quiet()); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, dir)

	// Full again: the existing store opens read-only, creates nothing.
	free.Store(10)
	db, mode, err = OpenGuarded(c, g)
	if err != nil || mode != diskspace.ModeReadOnly || g.Writable() {
		t.Fatalf("OpenGuarded on a full disk with a store: %v %v", err, mode)
	}
	readKeys(t, db, 50)
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("x"), nil) }); err == nil {
		t.Fatal("a write went through a read-only open")
	}
	if err := Close(db, g, quiet()); err != nil {
		t.Fatal(err)
	}
	if after := listDir(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a read-only open changed the store's files:\nbefore %v\nafter  %v", before, after)
	}
}

// listDir returns name=size of every file.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", e.Name(), info.Size()))
	}
	return out
}

func TestSwapWaitsForCallsAndStopsAtClose(t *testing.T) {
	var l Life
	if !l.Enter() {
		t.Fatal("Enter on an open database")
	}
	swapped := make(chan bool)
	go func() { swapped <- l.Swap(func() {}) }()
	select {
	case <-swapped:
		t.Fatal("Swap ran while a call was in progress")
	default:
	}
	l.Leave()
	if !<-swapped {
		t.Fatal("Swap on an open database reported closed")
	}
	if err := l.Close(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	ran := false
	if l.Swap(func() { ran = true }) || ran {
		t.Fatal("Swap ran after Close")
	}
}

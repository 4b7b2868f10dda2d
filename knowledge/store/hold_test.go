package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestHoldTablesAndStreaming(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	bm, brecs := baseRelease(400)
	mustPut(t, s, bm, brecs)
	mustActivate(t, s, bm.Version)
	if err := s.Close(); err != nil { // the memtable becomes a table
		t.Fatal(err)
	}
	s = openDisk(t, dir, nil)

	var held []string
	if err := s.HoldTables(func(paths []string) { held = paths }); err != nil {
		t.Fatal(err)
	}
	if len(held) == 0 {
		t.Fatal("HoldTables passed no table of a store with a release")
	}
	for _, p := range held {
		if _, err := os.Stat(p); err != nil || !strings.HasSuffix(p, ".sst") || filepath.Dir(p) != dir {
			t.Errorf("held %q (%v), want a table file in %s", p, err, dir)
		}
	}

	// Streaming reports a pass over a release's records while it reads.
	if s.Streaming() {
		t.Fatal("Streaming before any pass")
	}
	during := false
	err := s.db.View(func(txn *badger.Txn) error {
		return s.scanWhole(t.Context(), txn, bm.Version, func(_, _ []byte) error {
			during = during || s.Streaming()
			return nil
		})
	})
	if err != nil || !during || s.Streaming() {
		t.Errorf("scanWhole: %v; Streaming during it %v, after it %v (want true, false)", err, during, s.Streaming())
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldTables(func([]string) { t.Error("HoldTables called fn on a closed store") }); !errors.Is(err, ErrClosed) {
		t.Errorf("HoldTables on a closed store = %v, want ErrClosed", err)
	}
}

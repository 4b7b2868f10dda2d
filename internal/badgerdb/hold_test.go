package badgerdb

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHoldTablesKeepsThemUntilItReturns: the tables HoldTables passes are
// the store's, and a DropAll during the hold (which releases every table's
// reference) neither deletes nor unmaps them until the hold ends.
func TestHoldTablesKeepsThemUntilItReturns(t *testing.T) {
	dir := t.TempDir()
	createStore(t, dir, nil, 2000) // closed: the memtable is flushed to a table
	db, err := Open(encConfig(dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	onDisk, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(onDisk) == 0 {
		t.Fatal("the store has no table file")
	}
	mapped := func(path string) bool {
		b, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Skip("no /proc/self/maps:", err) // not Linux: the deletion is still checked
		}
		return strings.Contains(string(b), path)
	}

	var held []string
	HoldTables(db, dir, func(paths []string) {
		held = paths
		if err := db.DropAll(); err != nil {
			t.Fatalf("DropAll during the hold: %v", err)
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("table %s deleted during the hold: %v", p, err)
			}
		}
		if len(paths) > 0 && !mapped(paths[0]) {
			t.Errorf("table %s unmapped during the hold", paths[0])
		}
	})
	slices.Sort(held)
	if !slices.Equal(held, onDisk) {
		t.Fatalf("held %v, the store's tables are %v", held, onDisk)
	}
	for _, p := range held {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("table %s still on disk after the hold, dropped during it (%v)", p, err)
		}
	}
	if mapped(held[0]) {
		t.Errorf("table %s still mapped after the hold", held[0])
	}
}

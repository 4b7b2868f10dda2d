package decisionlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vlogBytes is the size of the store's value-log files (the store closed:
// Badger truncates them then).
func vlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".vlog") {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
	}
	return n
}

// Decisions past their retention leave the disk: the reclaimer's delete
// markers let compaction drop their keys from the last level (where, keys
// being in time order, nothing else would ever visit them again), and
// value-log GC then deletes the files that held only them. Decisions still
// within their retention stay readable through it.
func TestReclaimFreesExpiredDecisionsValueLog(t *testing.T) {
	defer func(n int64) { valueLogFileSize = n }(valueLogFileSize)
	valueLogFileSize = 1 << 20 // Badger's minimum: several files of test data
	dir := t.TempDir()
	ctx := context.Background()
	// Long enough that the first Close (which compacts level 0) is over
	// before the decisions expire, even under -race.
	const retention = 6 * time.Second
	open := func() *Log {
		l, err := Open(ctx, Options{Dir: dir, Logger: quietLogger(), SidecarID: "test-sidecar", Retention: retention})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	now := time.Now()
	var expiring, live []string
	for i := range 3000 {
		e := realistic(now, uint64(i), 200, 10, 5000)
		e.ID = idAt(now, uint64(i))
		expiring = append(expiring, e.ID)
		l.Append(ctx, e)
	}
	later := now.Add(time.Hour) // kept: its retention ends an hour after the others'
	for i := range 20 {
		e := realistic(later, uint64(i), 200, 10, 5000)
		e.ID = idAt(later, uint64(i))
		live = append(live, e.ID)
		l.Append(ctx, e)
	}
	flush(t, l)
	if err := l.Close(); err != nil { // its memtable goes to the tables
		t.Fatal(err)
	}
	if time.Since(now) > retention-time.Second {
		t.Fatalf("writing and closing took %v: the decisions expired before their keys were compacted; the test needs a longer retention", time.Since(now))
	}
	before := vlogBytes(t, dir)
	if before < 3<<20 {
		t.Fatalf("value log holds %d bytes for 3,020 decisions: they are not in the value log", before)
	}

	l = open()
	time.Sleep(time.Until(now.Add(retention).Truncate(time.Second).Add(time.Second)) + 200*time.Millisecond)
	if _, err := l.Get(ctx, expiring[0]); !errors.Is(err, ErrDecisionNotFound) {
		t.Fatalf("Get after retention: %v", err)
	}
	// Value-log GC alone frees nothing: no compaction has visited the
	// expired keys.
	if n, err := l.valueLogGC(ctx); err != nil || n != 0 {
		t.Fatalf("value-log GC before reclaiming: %d files, %v", n, err)
	}
	if err := l.reclaimSpace(ctx); err != nil {
		t.Fatal(err)
	}
	// Compaction of the markers into the tables below: what Badger's
	// compactors do in the course of time, here on Close.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	defer l.Close()
	if n, err := l.valueLogGC(ctx); err != nil || n == 0 {
		t.Fatalf("value-log GC after reclaiming: %d files, %v", n, err)
	}
	for _, id := range live {
		if _, err := l.Get(ctx, id); err != nil {
			t.Fatalf("decision %s within its retention: %v", id, err)
		}
	}
	if _, err := l.Get(ctx, expiring[len(expiring)-1]); !errors.Is(err, ErrDecisionNotFound) {
		t.Fatalf("Get after retention: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	after := vlogBytes(t, dir)
	t.Logf("value log %d → %d bytes", before, after)
	if after > before/4 {
		t.Fatalf("value log %d bytes after reclaiming, %d before: expired decisions' space not freed", after, before)
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
		t.Fatal(err)
	}
}

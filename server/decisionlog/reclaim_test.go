package decisionlog

import (
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// bulky gives e a request id of 8 kB of hex that S2 cannot squeeze much:
// a few hundred decisions fill several 1 MiB value-log files quickly
// (under -race, too, before their retention ends).
func bulky(e Entry, seed int) Entry {
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	req := proto.Clone(e.Request).(*rxguardv1.CheckOrdersRequest)
	req.RequestId = hex.EncodeToString(b)
	e.Request = req
	return e
}

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
		t.Cleanup(func() { l.Close() }) // if the test fails with it open; a second Close is a no-op
		return l
	}
	l := open()
	now := time.Now()
	var expiring, live []string
	for i := range 600 {
		e := bulky(realistic(now, uint64(i), 200, 10, 5000), i)
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
		t.Fatalf("value log holds %d bytes for 620 decisions: they are not in the value log", before)
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

// The reclaimer runs on its own every reclaimEvery while decisions are
// appended and answered, marks only expired decisions, and stops on Close
// (no call left waiting on a closed queue).
func TestReclaimerRunsBesideTheWriterAndStopsOnClose(t *testing.T) {
	defer func(d time.Duration) { reclaimEvery = d }(reclaimEvery)
	reclaimEvery = 5 * time.Millisecond
	ctx := context.Background()
	l := openTest(t, Options{Retention: time.Second})
	now := time.Now()
	for i := range 200 { // expire while the test runs
		e := realistic(now, uint64(i), 20, 4, 100)
		e.ID = idAt(now, uint64(i))
		l.Append(ctx, e)
	}
	later := now.Add(time.Hour)
	var kept []string
	for i := range 200 { // within their retention for the test's length
		e := realistic(later, uint64(i), 20, 4, 100)
		e.ID = idAt(later, uint64(i))
		kept = append(kept, e.ID)
		l.Append(ctx, e)
		if i%50 == 0 {
			flush(t, l)
		}
	}
	flush(t, l)
	deadline := time.Now().Add(10 * time.Second)
	for l.reclaimedKeys() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("reclaimer marked %d keys in 10 s, want the 200 expired decisions'", l.reclaimedKeys())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // more sweeps: nothing more to mark
	if n := l.reclaimedKeys(); n != 200 {
		t.Fatalf("reclaimer marked %d keys, want the 200 expired decisions' records only", n)
	}
	for _, id := range kept {
		if _, err := l.Get(ctx, id); err != nil {
			t.Fatalf("decision %s within its retention: %v", id, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with the reclaimer running")
	}
}

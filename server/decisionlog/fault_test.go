package decisionlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
)

// shortReopen makes the writer retry opening every few milliseconds.
func shortReopen(t *testing.T) {
	was := reopenInterval
	reopenInterval = 5 * time.Millisecond
	t.Cleanup(func() { reopenInterval = was })
}

// assertDegraded checks that appends are counted as failed, without a
// panic, and that Status says so.
func assertDegraded(t *testing.T, l *Log, wantMsg string) {
	t.Helper()
	before := l.Stats()
	l.Append(context.Background(), entry(warnSpec(100)))
	if err := l.Flush(context.Background()); err == nil {
		t.Error("Flush reported no failure")
	}
	if st := l.Stats(); st.Failed != before.Failed+1 || st.Written != before.Written {
		t.Errorf("stats %+v: want the decision counted as failed", st)
	}
	s := l.Status()
	if s.State != StateDegraded || s.Detail.Writable || s.Detail.Failed == 0 || !strings.Contains(s.Message+" "+s.Detail.LastError, wantMsg) {
		t.Errorf("status %+v: want degraded mentioning %q", s, wantMsg)
	}
}

func TestBrokenDirectoryDegrades(t *testing.T) {
	// A regular file where the directory should be: root cannot write
	// there either.
	dir := filepath.Join(t.TempDir(), "decisions")
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, Options{Dir: dir})
	assertDegraded(t, l, "could not be opened")
	ctx := context.Background()
	if _, err := l.Get(ctx, NewID(time.Now())); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get: %v", err)
	}
	if _, _, err := l.Query(ctx, Query{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Query: %v", err)
	}
	if _, err := l.PhysicianReport(ctx, "D1", time.Time{}, time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("PhysicianReport: %v", err)
	}
	if _, err := l.RecordResponses(ctx, NewID(time.Now()), []*rxguardv1.FindingResponse{modify("x")}, time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RecordResponses: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// An idle sidecar recovers too: the writer retries on its own, not only
// when a decision arrives (before, it stayed degraded until the next check).
func TestBrokenDirectoryRecoversWithoutTraffic(t *testing.T) {
	shortReopen(t)
	dir := filepath.Join(t.TempDir(), "decisions")
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, Options{Dir: dir})
	if s := l.Status(); s.State != StateDegraded {
		t.Fatalf("status with a broken directory %+v", s)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Status().State != StateOK || !l.Status().Detail.Writable {
		if time.Now().After(deadline) {
			t.Fatalf("still %+v 5 s after the directory was fixed, with no decision appended", l.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := l.Stats(); st.Written != 0 || st.Failed != 0 {
		t.Errorf("stats %+v: nothing was appended", st)
	}
}

func TestBrokenDirectoryRecovers(t *testing.T) {
	shortReopen(t)
	dir := filepath.Join(t.TempDir(), "decisions")
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, Options{Dir: dir})
	assertDegraded(t, l, "could not be opened")
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	e := entry(warnSpec(1))
	l.Append(context.Background(), e)
	flush(t, l)
	if _, err := l.Get(context.Background(), e.ID); err != nil {
		t.Fatal(err)
	}
	if s := l.Status(); s.State != StateOK || !s.Detail.Writable {
		t.Fatalf("status after recovery %+v", s)
	}
}

// fakeDisk is a disk guard whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

func (f *fakeDisk) guard(dir string) *diskspace.Guard {
	return diskspace.New("decisions", dir, diskspace.Options{
		MinFree: 1 << 30, Logger: quietLogger(),
		Statfs: func(string) (uint64, error) { return f.free.Load(), nil },
	})
}

func TestDiskNearlyFullRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	var disk fakeDisk
	disk.free.Store(10 << 30)
	l := openTest(t, Options{Dir: dir, Space: disk.guard(dir)})
	ctx := context.Background()
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	flush(t, l)

	disk.free.Store(1 << 20)
	assertDegraded(t, l, "disk nearly full")
	if s := l.Status(); s.Detail.Disk == nil || s.Detail.Disk.Writable {
		t.Errorf("status disk detail %+v", s.Detail.Disk)
	}
	_, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{})
	if !errors.Is(err, diskspace.ErrNoSpace) {
		t.Errorf("RecordResponses on a full disk: %v", err)
	}
	// Reads go on.
	if _, err := l.Get(ctx, e.ID); err != nil {
		t.Errorf("Get on a full disk: %v", err)
	}

	disk.free.Store(10 << 30)
	e2 := entry(warnSpec(2))
	l.Append(ctx, e2)
	flush(t, l)
	if _, err := l.Get(ctx, e2.ID); err != nil {
		t.Fatal(err)
	}
	if s := l.Status(); s.State != StateOK {
		t.Fatalf("status with room again %+v", s)
	}
}

func TestOpenedOnFullDiskReadsThenReopens(t *testing.T) {
	shortReopen(t)
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Open(ctx, Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	old := entry(warnSpec(1))
	l.Append(ctx, old)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	var disk fakeDisk
	disk.free.Store(1 << 20)
	l = openTest(t, Options{Dir: dir, Space: disk.guard(dir)})
	// Read-only: the compressed tables read without this store's options.
	if _, err := l.Get(ctx, old.ID); err != nil {
		t.Fatalf("Get from the read-only store: %v", err)
	}
	if n := countAll(t, l, Query{PhysicianCode: "D370800000001"}); n != 1 {
		t.Fatalf("query on the read-only store: %d", n)
	}
	assertDegraded(t, l, "disk nearly full")

	disk.free.Store(10 << 30)
	time.Sleep(10 * time.Millisecond)
	e := entry(warnSpec(2))
	l.Append(ctx, e)
	flush(t, l)
	if _, err := l.Get(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if s := l.Status(); s.State != StateOK || !s.Detail.Writable {
		t.Fatalf("status after reopening %+v", s)
	}
}

func TestOpenedOnFullDiskWithoutStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "decisions")
	var disk fakeDisk
	disk.free.Store(1 << 20)
	l := openTest(t, Options{Dir: dir, Space: disk.guard(dir)})
	assertDegraded(t, l, "disk nearly full")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the store was created on a full disk: %v", err)
	}
	if _, err := l.Get(context.Background(), NewID(time.Now())); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get: %v", err)
	}
}

// A kill between Badger creating a log file and sizing it leaves a
// zero-byte file that fails every later badger.Open (badger#2207); Open
// lets badgerdb repair it and opens the store with its own options.
func TestOpenRepairsEmptyLogFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Open(ctx, Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	l.Close()
	for _, name := range []string{"00042.mem", "000042.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := badger.Open(badgerdb.Options(storeConfig(dir, quietLogger(), nil))); err == nil {
		t.Fatal("the test's broken store opened without repair (Badger fixed #2207?)")
	} else {
		t.Logf("without repair: %v", err)
	}
	l = openTest(t, Options{Dir: dir})
	if s := l.Status(); s.State != StateOK {
		t.Fatalf("status %+v", s)
	}
	if _, err := l.Get(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if l.db.Opts().Compression != options.ZSTD {
		t.Fatal("reopened without compression")
	}
}

// Each failed group commit of a log that is not open for writing is
// counted; the last error stays the opener's message instead of wrapping
// itself once more per commit.
func TestLastErrorDoesNotGrow(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "decisions")
	if err := os.WriteFile(broken, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	l, err := Open(context.Background(), Options{Dir: full, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(context.Background(), entry(warnSpec(1)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "decisions")
	var disk fakeDisk
	disk.free.Store(1 << 20)
	for name, o := range map[string]Options{
		"not opened":          {Dir: broken},
		"opened read-only":    {Dir: full, Space: disk.guard(full)},
		"not created on full": {Dir: missing, Space: disk.guard(missing)},
	} {
		t.Run(name, func(t *testing.T) {
			l := openTest(t, o)
			first := l.Status().Detail.LastError
			if first == "" {
				t.Fatalf("no last error: %+v", l.Status())
			}
			for i := range 30 {
				l.Append(context.Background(), entry(warnSpec(uint64(i))))
				if err := l.Flush(context.Background()); err == nil {
					t.Fatal("Flush reported no failure")
				}
			}
			s := l.Status()
			if s.Detail.LastError != first || s.Detail.Failed != 30 {
				t.Fatalf("after 30 failed commits: failed %d, last error %q; it was %q", s.Detail.Failed, s.Detail.LastError, first)
			}
			if n := strings.Count(s.Detail.LastError, ErrUnavailable.Error()); n > 0 {
				t.Fatalf("last error names %q %d times: %q", ErrUnavailable, n, s.Detail.LastError)
			}
		})
	}
}

//go:build linux

package resident

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentBytes is Dirs.Resident of dirs.
func residentBytes(t *testing.T, dirs ...string) uint64 {
	t.Helper()
	n, err := NewDirs(dirs...).Resident()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mapFile writes size random bytes to dir/name and maps the file shared,
// read-write, with every page touched (read).
func mapFile(t *testing.T, dir, name string, size int) (data, want []byte) {
	t.Helper()
	want = make([]byte, size)
	r := rand.NewChaCha8([32]byte{byte(size), name[0]})
	_, _ = r.Read(want)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err = syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(data) })
	if !bytes.Equal(data, want) {
		t.Fatal("the map does not read the file")
	}
	return data, want
}

const mib = 1 << 20

func TestReleaseGivesBackTheMappedPagesOfFilesUnderTheDirectories(t *testing.T) {
	store, other := t.TempDir(), t.TempDir()
	sub := filepath.Join(store, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	a, wantA := mapFile(t, store, "000001.sst", 8*mib)
	b, wantB := mapFile(t, sub, "000002.vlog", 6*mib+123) // not a page multiple; below the directory
	_, _ = mapFile(t, other, "000001.sst", 8*mib)
	if got := residentBytes(t, store); got < 14*mib {
		t.Fatalf("before: %d bytes of the store's maps resident, want ≥ 14 MiB (all touched)", got)
	}
	if got := residentBytes(t, other); got < 8*mib {
		t.Fatalf("before: %d bytes of the other directory's map resident", got)
	}

	r, err := NewDirs(store).Release()
	if err != nil {
		t.Fatal(err)
	}
	if r.Mappings != 2 || r.Bytes < 14*mib {
		t.Errorf("Release = %+v, want the 2 maps under %s advised", r, store)
	}
	if got := residentBytes(t, store); got > mib/4 {
		t.Errorf("after: %d bytes of the store's maps still resident, want (nearly) none", got)
	}
	if got := residentBytes(t, other); got < 8*mib {
		t.Errorf("after: the other directory's map lost pages (%d bytes resident): Release must touch only its directories", got)
	}
	// The maps read what they read before.
	if !bytes.Equal(a, wantA) || !bytes.Equal(b, wantB) {
		t.Error("a released map reads different bytes")
	}
}

func TestReleaseKeepsWhatWasWrittenThroughTheMap(t *testing.T) {
	dir := t.TempDir()
	data, _ := mapFile(t, dir, "000001.vlog", 4*mib)
	written := make([]byte, len(data))
	_, _ = rand.NewChaCha8([32]byte{7}).Read(written)
	copy(data, written) // dirty pages, not written back yet
	if _, err := NewDirs(dir).Release(); err != nil {
		t.Fatal(err)
	}
	if got := residentBytes(t, dir); got > mib/4 {
		t.Errorf("%d bytes of dirty pages still mapped after Release", got)
	}
	if !bytes.Equal(data, written) {
		t.Fatal("the map lost what was written through it")
	}
	if err := syscall.Munmap(data); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "000001.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, written) {
		t.Fatal("the file does not hold what was written through the released map")
	}
}

func TestReleaseFollowsSymlinksAndDeletedFiles(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	kept, _ := mapFile(t, real, "000001.sst", 2*mib)
	gone, want := mapFile(t, real, "000002.sst", 2*mib)
	// A table deleted by compaction stays mapped until the store closes
	// it: /proc/self/maps names it "… (deleted)".
	if err := os.Remove(filepath.Join(real, "000002.sst")); err != nil {
		t.Fatal(err)
	}
	if r, err := NewDirs(link).Release(); err != nil || r.Mappings != 2 {
		t.Fatalf("Release through a symlinked directory = %+v, %v; want both maps", r, err)
	}
	if got := residentBytes(t, real); got > mib/4 {
		t.Errorf("%d bytes still resident", got)
	}
	if !bytes.Equal(gone, want) || len(kept) != 2*mib {
		t.Error("a released map of a deleted file reads different bytes")
	}
}

// A store not created yet (a full disk at start) is released once it is.
func TestReleaseOfADirectoryCreatedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "decisions")
	d := NewDirs(dir)
	if r, err := d.Release(); err != nil || r.Mappings != 0 {
		t.Fatalf("Release of a directory that does not exist = %+v, %v; want nothing and no error", r, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mapFile(t, dir, "000001.vlog", 2*mib)
	if r, err := d.Release(); err != nil || r.Mappings != 1 {
		t.Fatalf("Release once the directory exists = %+v, %v; want its map", r, err)
	}
	if got := residentBytes(t, dir); got > mib/4 {
		t.Errorf("%d bytes still resident", got)
	}
}

func TestRunReleasesUntilCancelledAndReportsStatus(t *testing.T) {
	dir := t.TempDir()
	mapFile(t, dir, "000001.mem", 2*mib)
	d := NewDirs(dir)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx, 5*time.Millisecond, slog.New(slog.DiscardHandler)); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for d.Status().Releases < 3 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not release three times in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := d.Status().Releases
	for d.Status().Releases < n+2 {
		time.Sleep(5 * time.Millisecond)
	}
	if got := residentBytes(t, dir); got > mib/4 {
		t.Errorf("%d bytes resident while Run releases every 5 ms", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	s := d.Status()
	if !s.Supported || s.AdvisedBytes < 2*mib*3 || s.LastError != "" || s.RSSAnonBytes == 0 || s.RSSFileBytes == 0 {
		t.Errorf("Status = %+v", s)
	}
}

func TestUsageOfAProcess(t *testing.T) {
	self, err := UsageOf(0)
	if err != nil || self.Anon == 0 || self.File == 0 || self.Total < self.Anon {
		t.Fatalf("UsageOf(this process) = %+v, %v", self, err)
	}
	dir := t.TempDir()
	mapFile(t, dir, "000001.sst", 2*mib)
	files, err := FileRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := files[filepath.Join(dir, "000001.sst")]; got < 2*mib {
		t.Errorf("FileRSS(pid) gives the touched map %d bytes, want 2 MiB", got)
	}
	if _, err := UsageOf(1 << 30); err == nil {
		t.Error("UsageOf a process that does not exist gave no error")
	}
	if _, err := FileRSS(1 << 30); err == nil {
		t.Error("FileRSS of a process that does not exist gave no error")
	}
}

// inCore reports how many of data's pages are in memory (mincore: for a
// file's map, whether the page cache holds the page, mapped or not).
func inCore(t *testing.T, data []byte) (in, pages int) {
	t.Helper()
	vec := make([]byte, (len(data)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

func TestCachedDropsTheHeldFilesPagesFromTheProcessAndKeepsThemCached(t *testing.T) {
	store, link := t.TempDir(), filepath.Join(t.TempDir(), "kb")
	if err := os.Symlink(store, link); err != nil {
		t.Fatal(err)
	}
	held, wantHeld := mapFile(t, store, "000001.sst", 8*mib)
	notHeld, _ := mapFile(t, store, "000002.sst", 4*mib)
	// A private map of a held file: what was written to it exists only in
	// its own pages, which must not be dropped.
	f, err := os.Open(filepath.Join(store, "000001.sst"))
	if err != nil {
		t.Fatal(err)
	}
	private, err := syscall.Mmap(int(f.Fd()), 0, mib, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(private)
	copy(private, bytes.Repeat([]byte{0xA5}, mib))
	// Written back, the pages are clean: advice that evicts (PAGEOUT)
	// would take them out of the page cache, which is what must not be.
	if err := unix.Msync(held, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}

	holds := 0
	d := NewDirs().Cached(func(fn func([]string)) error {
		holds++
		fn([]string{filepath.Join(link, "000001.sst")}) // as the store names it: through the link
		return nil
	}, nil)
	r, err := d.Release()
	if err != nil {
		t.Fatal(err)
	}
	if holds != 1 || r.Dropped != 8*mib {
		t.Errorf("Release held %d times and dropped %d bytes of maps, want once and the held file's 8 MiB", holds, r.Dropped)
	}
	rss, err := FileRSS(0)
	if err != nil {
		t.Fatal(err)
	}
	// The private map's 1 MiB is counted under the same path.
	if got := rss[filepath.Join(store, "000001.sst")]; got > mib+mib/4 {
		t.Errorf("the held file holds %d bytes of the resident set after Release, want only the private map's", got)
	}
	if got := rss[filepath.Join(store, "000002.sst")]; got < 4*mib {
		t.Errorf("the file not held lost pages (%d bytes resident)", got)
	}
	if in, pages := inCore(t, held); in < pages*9/10 {
		t.Errorf("%d of the held file's %d pages are in the page cache after Release, want (nearly) all: dropped from the process, not evicted", in, pages)
	}
	if !bytes.Equal(held, wantHeld) || !bytes.Equal(private, bytes.Repeat([]byte{0xA5}, mib)) {
		t.Error("a map reads different bytes after Release")
	}
	_ = notHeld
	if s := d.Status(); s.DroppedBytes != 8*mib || s.LastError != "" {
		t.Errorf("Status = %+v, want 8 MiB dropped and no error", s)
	}

	// A map of a deleted file is nobody's held file, whatever its name.
	gone := t.TempDir()
	mapFile(t, gone, "000009.sst", mib)
	if err := os.Remove(filepath.Join(gone, "000009.sst")); err != nil {
		t.Fatal(err)
	}
	d = NewDirs().Cached(func(fn func([]string)) error {
		fn([]string{filepath.Join(gone, "000009.sst")})
		return nil
	}, nil)
	if r, err := d.Release(); err != nil || r.Dropped != 0 {
		t.Errorf("Release of a deleted file's map = %+v, %v; want nothing dropped", r, err)
	}

	// A store that cannot hold its files (closed) fails the release, and
	// the status says so.
	closed := errors.New("knowledge store closed")
	d = NewDirs().Cached(func(func([]string)) error { return closed }, nil)
	if _, err := d.Release(); !errors.Is(err, closed) {
		t.Errorf("Release with a failing hold = %v, want its error", err)
	}
	if s := d.Status(); s.LastError == "" {
		t.Error("the status does not report the failed hold")
	}
}

func TestRunDropsABusyCachedStoreTenTimesAsOften(t *testing.T) {
	var busy atomic.Bool
	var holds atomic.Uint64
	d := NewDirs().Cached(func(fn func([]string)) error {
		holds.Add(1)
		fn(nil)
		return nil
	}, busy.Load)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go d.Run(ctx, 100*time.Millisecond, slog.New(slog.DiscardHandler))
	time.Sleep(350 * time.Millisecond)
	if h, r := holds.Load(), d.Status().Releases; r == 0 || h > r+1 {
		t.Fatalf("idle store: held %d times in %d releases, want once per release", h, r)
	}
	busy.Store(true)
	h0, r0 := holds.Load(), d.Status().Releases
	for deadline := time.Now().Add(10 * time.Second); holds.Load()-h0 < 10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("busy store: held %d times in 10 s", holds.Load()-h0)
		}
	}
	if h, r := holds.Load()-h0, d.Status().Releases-r0; h < 3*(r+1) {
		t.Errorf("busy store: held %d times in %d releases, want about ten per release", h, r)
	}
}

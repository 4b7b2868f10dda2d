//go:build linux

package resident

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
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

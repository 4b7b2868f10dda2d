package history

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/internal/diskspace/disktest"
)

func historyGuard(dir string) *diskspace.Guard {
	return diskspace.New("history", dir, diskspace.Options{MinFree: 4 << 20, Logger: quietLogger()})
}

func codesOf(t *testing.T, s *Store, patient string) string {
	t.Helper()
	now := time.Now()
	got, err := s.Lookup(context.Background(), patient, now.Add(-24*time.Hour), now)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	var codes []string
	for _, e := range got {
		codes = append(codes, e.ItemCode)
	}
	return strings.Join(codes, ",")
}

func expectRefused(t *testing.T, s *Store, patient string, e Entry) {
	t.Helper()
	n, err := s.Record(context.Background(), patient, []Entry{e})
	if !errors.Is(err, diskspace.ErrNoSpace) || n != 0 || !strings.Contains(err.Error(), "recorded nothing") {
		t.Fatalf("Record on a full disk: want (0, ErrNoSpace … recorded nothing), got (%d, %v)", n, err)
	}
}

// Record refuses on a full disk and records nothing; Lookup goes on; with
// room again Record works without reopening anything.
func TestRecordRefusedOnAFullDiskAndResumes(t *testing.T) {
	mnt := disktest.Mount(t, 64<<20)
	dir := filepath.Join(mnt, "history")
	g := historyGuard(dir)
	s := openAt(t, dir, Options{Space: g})
	defer s.Close()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	record(t, s, "P1", entry("A", t0))

	filler := disktest.Fill(t, mnt)
	expectRefused(t, s, "P1", entry("B", t0.Add(time.Minute)))
	if got := codesOf(t, s, "P1"); got != "A" {
		t.Fatalf("Lookup on a full disk: %q, want A", got)
	}
	disktest.Free(t, filler)
	g.Poll()
	record(t, s, "P1", entry("B", t0.Add(time.Minute)))
	if got := codesOf(t, s, "P1"); got != "A,B" {
		t.Fatalf("Lookup after room: %q, want A,B", got)
	}
}

// Opened on a full disk the store writes nothing: an existing one serves
// its history read-only, a missing one is not created. Both reopen for
// writing when there is room, and what was cached meanwhile is dropped.
func TestHistoryOpenedOnAFullDiskReopensForWriting(t *testing.T) {
	mnt := disktest.Mount(t, 64<<20)
	dir := filepath.Join(mnt, "history")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := openAt(t, dir, Options{})
	record(t, s, "P1", entry("A", t0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	filler := disktest.Fill(t, mnt)
	g := historyGuard(dir)
	s = openAt(t, dir, Options{Space: g})
	defer s.Close()
	if g.Mode() != diskspace.ModeReadOnly {
		t.Fatalf("mode %v, want read-only", g.Mode())
	}
	if got := codesOf(t, s, "P1"); got != "A" {
		t.Fatalf("Lookup read-only: %q, want A", got)
	}
	expectRefused(t, s, "P1", entry("B", t0.Add(time.Minute)))

	fresh := filepath.Join(mnt, "fresh")
	gf := historyGuard(fresh)
	sf := openAt(t, fresh, Options{Space: gf})
	defer sf.Close()
	if gf.Mode() != diskspace.ModeNotCreated {
		t.Fatalf("mode %v, want not created", gf.Mode())
	}
	if got := codesOf(t, sf, "P1"); got != "" {
		t.Fatalf("Lookup in a store not created: %q", got)
	}
	expectRefused(t, sf, "P1", entry("B", t0))
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a store was created on a full disk")
	}

	disktest.Free(t, filler)
	g.Poll()
	gf.Poll()
	if g.Mode() != diskspace.ModeReadWrite || gf.Mode() != diskspace.ModeReadWrite {
		t.Fatalf("not reopened for writing: %v %v", g.Mode(), gf.Mode())
	}
	record(t, s, "P1", entry("B", t0.Add(time.Minute)))
	if got := codesOf(t, s, "P1"); got != "A,B" {
		t.Fatalf("Lookup after reopen: %q, want A,B", got)
	}
	record(t, sf, "P2", entry("C", t0))
	if got := codesOf(t, sf, "P2"); got != "C" {
		t.Fatalf("Lookup in the created store: %q, want C", got)
	}
}

package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/internal/diskspace/disktest"
	"github.com/rxguard/rxguard/knowledge"
)

func guardFor(dir string) *diskspace.Guard {
	return diskspace.New("knowledge", dir, diskspace.Options{MinFree: 4 << 20, Logger: discardLogger()})
}

func mustNoSpace(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, diskspace.ErrNoSpace) {
		t.Fatalf("%s on a full disk: want an error matching diskspace.ErrNoSpace, got %v", what, err)
	}
}

// On a full disk every write is refused having written nothing, reads go
// on; with room again writes resume without reopening anything.
func TestStoreRefusesWritesOnAFullDiskAndResumes(t *testing.T) {
	ctx := context.Background()
	mnt := disktest.Mount(t, 96<<20)
	dir := filepath.Join(mnt, "kb")
	g := guardFor(dir)
	s, err := Open(ctx, Options{Dir: dir, Logger: discardLogger(), Space: g})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m1, r1 := makeRelease("v1", "", 2000, 100)
	if err := s.PutRelease(ctx, m1, r1); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(ctx, "v1"); err != nil {
		t.Fatal(err)
	}

	filler := disktest.Fill(t, mnt)
	m2, r2 := makeRelease("v2", "v1", 2000, 100)
	err = s.PutRelease(ctx, m2, r2)
	mustNoSpace(t, "PutRelease", err)
	if !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("PutRelease refusal should say nothing was written: %v", err)
	}
	mustNoSpace(t, "Activate", s.Activate(ctx, "v1"))
	mustNoSpace(t, "DeleteRelease", s.DeleteRelease(ctx, "v1"))
	_, err = s.AppendPhysicianEvents(ctx, 0, []knowledge.PhysicianEvent{{Seq: 1, PhysicianCode: "D1", Type: "SUSPENDED", Date: "2026-01-02"}})
	mustNoSpace(t, "AppendPhysicianEvents", err)
	mustNoSpace(t, "PutSyncState", s.PutSyncState(ctx, []byte(`{}`)))
	mustNoSpace(t, "Writable", s.Writable())
	if err := s.RunGC(ctx); err != nil {
		t.Fatalf("RunGC on a full disk must do nothing: %v", err)
	}
	if m, ok, err := s.Active(ctx); err != nil || !ok || m.Version != "v1" {
		t.Fatalf("Active on a full disk: %v %v %v", m.Version, ok, err)
	}
	if _, err := s.Records(ctx, "v1"); err != nil {
		t.Fatalf("Records on a full disk: %v", err)
	}
	if rels, err := s.Releases(ctx); err != nil || len(rels) != 1 {
		t.Fatalf("Releases on a full disk: %v %v", rels, err)
	}

	disktest.Free(t, filler)
	g.Poll()
	if err := s.PutRelease(ctx, m2, r2); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); st.RefusedWrites != 5 || !st.Writable {
		t.Fatalf("guard after the refusals: %+v", st)
	}
}

// Opened on a full disk, an existing store serves its active release
// without writing anything, a missing one is not created; both reopen for
// writing once there is room.
func TestStoreOpenedOnAFullDiskReopensForWriting(t *testing.T) {
	ctx := context.Background()
	mnt := disktest.Mount(t, 96<<20)
	dir := filepath.Join(mnt, "kb")
	s, err := Open(ctx, Options{Dir: dir, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m1, r1 := makeRelease("v1", "", 2000, 100)
	if err := s.PutRelease(ctx, m1, r1); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	filler := disktest.Fill(t, mnt)
	g := guardFor(dir)
	s, err = Open(ctx, Options{Dir: dir, Logger: discardLogger(), Space: g})
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	defer s.Close()
	if g.Mode() != diskspace.ModeReadOnly {
		t.Fatalf("mode %v, want read-only", g.Mode())
	}
	if m, ok, err := s.Active(ctx); err != nil || !ok || m.Version != "v1" {
		t.Fatalf("Active read-only: %v %v %v", m.Version, ok, err)
	}
	m2, r2 := makeRelease("v2", "v1", 2000, 100)
	mustNoSpace(t, "PutRelease read-only", s.PutRelease(ctx, m2, r2))

	fresh := filepath.Join(mnt, "fresh")
	gf := guardFor(fresh)
	sf, err := Open(ctx, Options{Dir: fresh, Logger: discardLogger(), Space: gf})
	if err != nil {
		t.Fatalf("Open of a missing store on a full disk: %v", err)
	}
	defer sf.Close()
	if gf.Mode() != diskspace.ModeNotCreated {
		t.Fatalf("mode %v, want not created", gf.Mode())
	}
	if _, ok, err := sf.Active(ctx); err != nil || ok {
		t.Fatalf("Active of a store not created: %v %v", ok, err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a store was created on a full disk")
	}

	disktest.Free(t, filler)
	g.Poll()
	gf.Poll()
	if g.Mode() != diskspace.ModeReadWrite || gf.Mode() != diskspace.ModeReadWrite {
		t.Fatalf("not reopened for writing: %v %v", g.Mode(), gf.Mode())
	}
	if err := s.PutRelease(ctx, m2, r2); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if err := sf.PutRelease(ctx, m1, r1); err != nil {
		t.Fatal(err)
	}
	if err := sf.Activate(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if m, ok, err := s.Active(ctx); err != nil || !ok || m.Version != "v2" {
		t.Fatalf("Active after reopen: %v %v %v", m.Version, ok, err)
	}
}

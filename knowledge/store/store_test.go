package store

import (
	"github.com/rxguard/rxguard/internal/badgerdb"

	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/knowledge"
)

func TestRecordHasherMatchesHashRecords(t *testing.T) {
	for _, n := range []int{0, 1, 7, 500} {
		recs := makeRecords(uint64(n), n, 40)
		recs = append(recs, knowledge.Record{Class: "zz", Key: "", Value: nil}, knowledge.Record{Class: "zz", Key: "k\x00x", Value: []byte{}})
		h, hr := newRecordHasher(), newRecordHasher()
		for i, r := range recs {
			h.add([]byte(r.Class), []byte(r.Key), r.Value)
			hr.addRecord(&recs[i])
		}
		want := knowledge.HashRecords(recs)
		if got := h.sum(); got != want {
			t.Fatalf("n=%d: streaming hash %s, knowledge.HashRecords %s", n, got, want)
		}
		if got := hr.sum(); got != want {
			t.Fatalf("n=%d: addRecord hash %s, knowledge.HashRecords %s", n, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDisk(t, dir, nil)

	m, recs := makeRelease("2025.06.01", "", 3000, 120)
	// A NUL in a key and an empty value must survive too.
	recs = append(recs, knowledge.Record{Class: "zz", Key: "a\x00b", Value: []byte{}})
	m = knowledge.NewManifest(m.Version, "", m.Created, recs)

	if v := activeVersion(t, s); v != "" {
		t.Fatalf("fresh store has active release %q", v)
	}
	mustPut(t, s, m, recs)
	if v := activeVersion(t, s); v != "" {
		t.Fatalf("PutRelease activated %q", v)
	}
	mustActivate(t, s, m.Version)

	check := func(s *Store) {
		t.Helper()
		got, ok, err := s.Active(ctx)
		if err != nil || !ok || got.Version != m.Version || got.ContentSHA256 != m.ContentSHA256 || got.RecordCount != len(recs) {
			t.Fatalf("Active = %+v, %v, %v; want %s", got, ok, err, m.Version)
		}
		if err := s.Verify(ctx, m.Version); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		back, err := s.Records(ctx, m.Version)
		if err != nil {
			t.Fatalf("Records: %v", err)
		}
		if len(back) != len(recs) {
			t.Fatalf("Records: %d, want %d", len(back), len(recs))
		}
		for i := range recs {
			if back[i].Class != recs[i].Class || back[i].Key != recs[i].Key || string(back[i].Value) != string(recs[i].Value) {
				t.Fatalf("record %d: got %s %q, want %s %q", i, back[i].Class, back[i].Key, recs[i].Class, recs[i].Key)
			}
		}
		if h := knowledge.HashRecords(back); h != m.ContentSHA256 {
			t.Fatalf("hash of Records() %s, manifest %s", h, m.ContentSHA256)
		}
		mm, err := s.Manifest(ctx, m.Version)
		if err != nil || !reflect.DeepEqual(mm.Counts, m.Counts) || !mm.Created.Equal(m.Created) {
			t.Fatalf("Manifest = %+v, %v", mm, err)
		}
		rs, err := s.Releases(ctx)
		if err != nil || len(rs) != 1 || !rs[0].Active || rs[0].Previous || rs[0].Version != m.Version {
			t.Fatalf("Releases = %+v, %v", rs, err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, nil)
	defer s.Close()
	check(s)
}

func TestSwitchAndRollback(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	a, ra := makeRelease("A", "", 200, 50)
	b, rb := makeRelease("B", "A", 300, 50)
	mustPut(t, s, a, ra)
	mustPut(t, s, b, rb)
	mustActivate(t, s, "A")
	mustActivate(t, s, "B")
	if v := activeVersion(t, s); v != "B" {
		t.Fatalf("active %q, want B", v)
	}
	rs, err := s.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Version != "A" || !rs[0].Previous || rs[1].Version != "B" || !rs[1].Active {
		t.Fatalf("Releases = %+v", rs)
	}
	// Activating the active release changes nothing, in particular not previous.
	mustActivate(t, s, "B")
	rs, _ = s.Releases(ctx)
	if !rs[0].Previous {
		t.Fatalf("re-activating B lost previous: %+v", rs)
	}
	mustActivate(t, s, "A")
	rs, _ = s.Releases(ctx)
	if len(rs) != 2 || !rs[0].Active || !rs[1].Previous {
		t.Fatalf("after rollback Releases = %+v", rs)
	}
	got, err := s.Records(ctx, "B")
	if err != nil || len(got) != 300 {
		t.Fatalf("Records(B) = %d, %v", len(got), err)
	}
}

func TestGCKeepsActiveAndPrevious(t *testing.T) {
	for _, keep := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			s, err := Open(context.Background(), Options{InMemory: true, Logger: discardLogger(), KeepReleases: keep})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			kept := max(keep, 1) + 1
			var versions []string
			for i := range 5 {
				v := fmt.Sprintf("v%d", i)
				m, r := makeRelease(v, "", 100+i, 30)
				mustPut(t, s, m, r)
				mustActivate(t, s, v)
				versions = append(versions, v)
				want := versions[max(0, len(versions)-kept):]
				if got := releaseVersions(t, s); !reflect.DeepEqual(got, want) {
					t.Fatalf("after activating %s: releases %v, want %v", v, got, want)
				}
			}
			for _, v := range versions[:len(versions)-kept] {
				if n := releaseKeys(t, s, v); n != 0 {
					t.Errorf("%d keys of removed release %s remain", n, v)
				}
				if _, err := s.Manifest(context.Background(), v); !errors.Is(err, ErrNotFound) {
					t.Errorf("Manifest(%s) = %v, want ErrNotFound", v, err)
				}
			}
		})
	}
}

func TestGCKeepsReleasesNotYetActivated(t *testing.T) {
	s := openMem(t)
	for _, v := range []string{"A", "B", "C"} {
		m, r := makeRelease(v, "", 50, 20)
		mustPut(t, s, m, r)
	}
	mustActivate(t, s, "A")
	if got := releaseVersions(t, s); !reflect.DeepEqual(got, []string{"A", "B", "C"}) {
		t.Fatalf("after A: %v", got)
	}
	mustActivate(t, s, "B")
	if got := releaseVersions(t, s); !reflect.DeepEqual(got, []string{"A", "B", "C"}) {
		t.Fatalf("after B: %v", got)
	}
	mustActivate(t, s, "C")
	if got := releaseVersions(t, s); !reflect.DeepEqual(got, []string{"B", "C"}) {
		t.Fatalf("after C: %v", got)
	}
}

func TestPutRefusesInvalidRelease(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	good, recs := makeRelease("R", "", 20, 20)

	tampered := append([]knowledge.Record(nil), recs...)
	tampered[3].Value = []byte(`{"tampered":true}`)

	unsorted := append([]knowledge.Record(nil), recs...)
	unsorted[4], unsorted[5] = unsorted[5], unsorted[4]

	dup := append([]knowledge.Record(nil), recs...)
	dup[6] = dup[5]

	nulClass := append([]knowledge.Record(nil), recs...)
	nulClass[len(nulClass)-1].Class = "zz\x00"

	emptyClass := append([]knowledge.Record(nil), recs...)
	emptyClass[0].Class = ""

	withManifest := func(version string, rs []knowledge.Record) knowledge.Manifest {
		return knowledge.NewManifest(version, "", good.Created, rs)
	}
	badCounts := good
	badCounts.Counts = map[knowledge.Class]int{knowledge.ClassDrug: 20}
	badTotal := good
	badTotal.RecordCount = 19

	cases := []struct {
		name string
		m    knowledge.Manifest
		recs []knowledge.Record
		want string
	}{
		{"hash mismatch", good, tampered, "content_sha256"},
		{"unsorted", withManifest("R", unsorted), unsorted, "not sorted"},
		{"duplicate", withManifest("R", dup), dup, "duplicate"},
		{"NUL in class", withManifest("R", nulClass), nulClass, "NUL"},
		{"empty class", withManifest("R", emptyClass), emptyClass, "empty class"},
		{"counts", badCounts, recs, "counts"},
		{"record count", badTotal, recs, "record_count"},
		{"empty version", withManifest("", recs), recs, "empty version"},
		{"slash in version", withManifest("a/b", recs), recs, "'/'"},
		{"control in version", withManifest("a\nb", recs), recs, "control"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.PutRelease(ctx, c.m, c.recs)
			if !errors.Is(err, ErrInvalidRelease) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("PutRelease = %v; want ErrInvalidRelease mentioning %q", err, c.want)
			}
			if n := keysUnder(t, s, relPrefix) + keysUnder(t, s, recPrefix); n != 0 {
				t.Fatalf("refused release left %d keys", n)
			}
		})
	}
}

func TestPutExistingVersion(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	m, recs := makeRelease("R", "", 50, 20)
	mustPut(t, s, m, recs)
	// Same content (even with other metadata) is a no-op.
	again := m
	again.Description = "re-sent by the bureau"
	if err := s.PutRelease(ctx, again, recs); err != nil {
		t.Fatalf("re-put same content: %v", err)
	}
	got, err := s.Manifest(ctx, "R")
	if err != nil || got.Description != "" {
		t.Fatalf("no-op put changed the manifest: %+v, %v", got, err)
	}
	// Different content under the same version is refused.
	other := makeRecords(99, 50, 20)
	om := knowledge.NewManifest("R", "", m.Created, other)
	err = s.PutRelease(ctx, om, other)
	if !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("put different content under existing version: %v, want ErrVersionConflict", err)
	}
	if err := s.Verify(ctx, "R"); err != nil {
		t.Fatalf("original damaged by refused put: %v", err)
	}
}

func TestPutCancelledLeavesNothing(t *testing.T) {
	s := openMem(t)
	m, recs := makeRelease("R", "", 5000, 20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.PutRelease(ctx, m, recs); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutRelease with cancelled ctx = %v", err)
	}
	if n := keysUnder(t, s, relPrefix) + keysUnder(t, s, recPrefix); n != 0 {
		t.Fatalf("cancelled put left %d keys", n)
	}
	mustPut(t, s, m, recs)
}

func TestIncompleteReleaseRemovedOnReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	a, ra := makeRelease("A", "", 500, 40)
	mustPut(t, s, a, ra)
	mustActivate(t, s, "A")

	// What a crash mid-write leaves: marker and some records, no manifest.
	// C's records without any marker cannot arise from the write protocol;
	// PutRelease must still not let them leak into a new C.
	_, rb := makeRelease("B", "A", 500, 40)
	_, rcStale := makeRelease("C-stale", "A", 10, 40)
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(markerKey("B"), []byte("writing")); err != nil {
			return err
		}
		for _, r := range rb[:200] {
			if err := txn.Set(recordKey(recordPrefix("B"), r.Class, r.Key), r.Value); err != nil {
				return err
			}
		}
		for _, r := range rcStale {
			if err := txn.Set(recordKey(recordPrefix("C"), r.Class, r.Key+"-stale"), r.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	logger, logs := captureLogger()
	s = openDisk(t, dir, logger)
	defer s.Close()
	if n := releaseKeys(t, s, "B"); n != 0 {
		t.Errorf("incomplete release B: %d keys remain after reopen", n)
	}
	if !strings.Contains(logs.String(), "incomplete knowledge release") {
		t.Errorf("removal not logged:\n%s", logs)
	}
	if got := releaseVersions(t, s); !reflect.DeepEqual(got, []string{"A"}) {
		t.Fatalf("releases %v", got)
	}
	if v := activeVersion(t, s); v != "A" {
		t.Fatalf("active %q", v)
	}
	// The version can be written properly now.
	b, rb := makeRelease("B", "A", 500, 40)
	mustPut(t, s, b, rb)
	if err := s.Verify(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	c, rc := makeRelease("C", "A", 30, 40)
	mustPut(t, s, c, rc)
	if err := s.Verify(ctx, "C"); err != nil {
		t.Fatalf("stale records leaked into C: %v", err)
	}
}

func TestVerifyDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	m, recs := makeRelease("R", "", 100, 40)
	mustPut(t, s, m, recs)
	corruptRecord(t, s, "R")
	err := s.Verify(ctx, "R")
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Version != "R" {
		t.Fatalf("Verify = %v, want *CorruptError for R", err)
	}
	if _, err := s.Records(ctx, "R"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Records of corrupt release = %v, want ErrCorrupt", err)
	}
	if err := s.Activate(ctx, "R"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Activate corrupt = %v, want ErrCorrupt", err)
	}
	if v := activeVersion(t, s); v != "" {
		t.Fatalf("corrupt release became active")
	}
	// A damaged non-active release is cleared and put again.
	if err := s.PutRelease(ctx, m, recs); err != nil {
		t.Fatalf("re-put over damaged content: %v (no-op expected: hash equal)", err)
	}
	if err := s.DeleteRelease(ctx, "R"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, m, recs)
	mustActivate(t, s, "R")

	// A missing record counts as corruption too.
	m2, r2 := makeRelease("S", "", 100, 40)
	mustPut(t, s, m2, r2)
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(recordKey(recordPrefix("S"), r2[10].Class, r2[10].Key))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, "S"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "99 records") {
		t.Fatalf("Verify with a record missing = %v", err)
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	var nf *NotFoundError
	if err := s.Activate(ctx, "nope"); !errors.Is(err, ErrNotFound) || !errors.As(err, &nf) || nf.Version != "nope" {
		t.Fatalf("Activate(nope) = %v", err)
	}
	if _, err := s.Records(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Records(nope) = %v", err)
	}
	if err := s.Verify(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Verify(nope) = %v", err)
	}
	if _, err := s.Manifest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Manifest(nope) = %v", err)
	}
}

func TestCorruptActiveFallsBackToPrevious(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	a, ra := makeRelease("A", "", 400, 40)
	b, rb := makeRelease("B", "A", 400, 40)
	mustPut(t, s, a, ra)
	mustActivate(t, s, "A")
	mustPut(t, s, b, rb)
	mustActivate(t, s, "B")
	corruptRecord(t, s, "B")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	logger, logs := captureLogger()
	s = openDisk(t, dir, logger)
	defer s.Close()
	if v := activeVersion(t, s); v != "A" {
		t.Fatalf("active %q after corrupt B, want fallback to A", v)
	}
	if err := s.Verify(context.Background(), "A"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"level=ERROR", "FAILED VERIFICATION", "FELL BACK", "corrupt=B"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if n := releaseKeys(t, s, "B"); n != 0 {
		t.Errorf("corrupt B not removed: %d keys", n)
	}
	rs, err := s.Releases(context.Background())
	if err != nil || len(rs) != 1 || !rs[0].Active || rs[0].Previous {
		t.Fatalf("Releases = %+v, %v", rs, err)
	}
	// The bureau can send B again.
	mustPut(t, s, b, rb)
	mustActivate(t, s, "B")
}

func TestCorruptActiveWithoutUsableFallback(t *testing.T) {
	for _, tc := range []struct {
		name        string
		withPrev    bool
		corruptPrev bool
		want        string
	}{
		{"no previous", false, false, "no previous release"},
		{"previous corrupt", true, true, `previous release "A" is unusable`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, nil)
			if tc.withPrev {
				a, ra := makeRelease("A", "", 100, 40)
				mustPut(t, s, a, ra)
				mustActivate(t, s, "A")
			}
			b, rb := makeRelease("B", "A", 100, 40)
			mustPut(t, s, b, rb)
			mustActivate(t, s, "B")
			corruptRecord(t, s, "B")
			if tc.corruptPrev {
				corruptRecord(t, s, "A")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(context.Background(), Options{Dir: dir, Logger: discardLogger()})
			if err == nil {
				s2.Close()
				t.Fatal("Open succeeded on a store whose active release is corrupt and has no usable fallback")
			}
			msg := err.Error()
			for _, want := range []string{tc.want, dir, `"B"`, "stop rxguard", "move the directory", "from the bureau"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error does not match ErrCorrupt: %v", err)
			}
			// Nothing was changed: the operator finds the store as it was.
			s = openDiskRaw(t, dir)
			defer s.db.Close()
			if n := releaseKeys(t, s, "B"); n == 0 {
				t.Errorf("failed Open removed the corrupt release")
			}
		})
	}
}

// openDiskRaw opens Badger without the store's recovery, to inspect it.
func openDiskRaw(t *testing.T, dir string) *Store {
	t.Helper()
	db, err := badgerdb.Open(badgerdb.Config{Dir: dir, IndexCacheBytes: indexCacheBytes, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return &Store{db: db, dir: dir, log: discardLogger(), keep: 1, busy: map[string]struct{}{}}
}

func TestDeleteRelease(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	for _, v := range []string{"A", "B"} {
		m, r := makeRelease(v, "", 30, 20)
		mustPut(t, s, m, r)
		mustActivate(t, s, v)
	}
	if err := s.DeleteRelease(ctx, "B"); err == nil || !strings.Contains(err.Error(), "active") {
		t.Fatalf("DeleteRelease(active) = %v", err)
	}
	if err := s.DeleteRelease(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Releases(ctx)
	if err != nil || len(rs) != 1 || rs[0].Version != "B" {
		t.Fatalf("Releases = %+v, %v", rs, err)
	}
	if err := s.db.View(func(txn *badger.Txn) error {
		_, prev, err := pointers(txn)
		if prev != "" {
			t.Errorf("meta/previous still %q", prev)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRelease(ctx, "A"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteRelease(gone) = %v", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(context.Background(), Options{InMemory: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := s.Active(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Active after Close = %v", err)
	}
}

func TestRunGC(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	defer s.Close()
	for i := range 4 {
		v := fmt.Sprintf("v%d", i)
		m, r := makeRelease(v, "", 2000, 200)
		mustPut(t, s, m, r)
		mustActivate(t, s, v)
	}
	if err := s.RunGC(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(context.Background(), "v3"); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentUse exercises readers during writes, switches and garbage
// collection; run with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := openMem(t)
	m, r := makeRelease("v0", "", 500, 40)
	mustPut(t, s, m, r)
	mustActivate(t, s, "v0")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				am, ok, err := s.Active(ctx)
				if err != nil || !ok {
					errs <- fmt.Errorf("Active: %v %v", ok, err)
					return
				}
				recs, err := s.Records(ctx, am.Version)
				if errors.Is(err, ErrNotFound) {
					continue // switched and collected meanwhile
				}
				if err != nil || len(recs) != am.RecordCount {
					errs <- fmt.Errorf("Records(%s): %d, %v", am.Version, len(recs), err)
					return
				}
				if _, err := s.Releases(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Two writers put different versions concurrently; one activates.
	for i := 1; i <= 8; i++ {
		var pw sync.WaitGroup
		for j := range 2 {
			pw.Go(func() {
				v := fmt.Sprintf("v%d-%d", i, j)
				m, r := makeRelease(v, "", 500, 40)
				if err := s.PutRelease(ctx, m, r); err != nil {
					errs <- err
				}
			})
		}
		pw.Wait()
		if err := s.Activate(ctx, fmt.Sprintf("v%d-%d", i, i%2)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEmptyLogFilesLeftByCrash: a kill between Badger creating a .mem or
// .vlog file and sizing it leaves a 0-byte file that badger.Open refuses
// (Badger issue #2207); Open must get past it.
func TestEmptyLogFilesLeftByCrash(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	m, r := makeRelease("A", "", 100, 40)
	mustPut(t, s, m, r)
	mustActivate(t, s, "A")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logger, logs := captureLogger()
	s = openDisk(t, dir, logger)
	defer s.Close()
	if v := activeVersion(t, s); v != "A" {
		t.Fatalf("active %q", v)
	}
	if !strings.Contains(logs.String(), "removed empty Badger log file") {
		t.Errorf("removal not logged:\n%s", logs)
	}
}

func TestOpenRefusesDirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	defer s.Close()
	_, err := Open(context.Background(), Options{Dir: dir, Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "another") {
		t.Fatalf("second Open of %s = %v; want an error naming the directory and the other user", dir, err)
	}
}

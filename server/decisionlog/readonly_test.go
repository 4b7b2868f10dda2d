package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// dirState lists a directory's files with their sizes and times.
func dirState(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %v", e.Name(), info.Size(), info.ModTime()))
	}
	return out
}

func TestReadOnlyReadsAndRecordsNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "decisions")
	ctx := context.Background()
	w, err := Open(ctx, Options{Dir: dir, Logger: quietLogger(), SidecarID: "test-sidecar"})
	if err != nil {
		t.Fatal(err)
	}
	e := entry(warnSpec(1))
	w.Append(ctx, e)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)

	l, err := Open(ctx, Options{Dir: dir, Logger: quietLogger(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, e.ID); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := all(t, l, Query{PhysicianCode: "D370800000001"}); !slices.Equal(got, []string{e.ID}) {
		t.Fatalf("Query: %v", got)
	}
	if r, err := l.PhysicianReport(ctx, "D370800000001", time.Time{}, time.Time{}); err != nil || r.Decisions != 1 {
		t.Fatalf("PhysicianReport: %v %v", r, err)
	}

	l.Append(ctx, entry(warnSpec(2)))
	if st := l.Stats(); st.Failed != 1 || st.Written != 0 {
		t.Errorf("stats after an Append: %+v", st)
	}
	if err := l.Flush(ctx); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Flush after an Append: %v", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Errorf("Flush with nothing refused since: %v", err)
	}
	_, err = l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{})
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), e.ID) {
		t.Errorf("RecordResponses: %v", err)
	}
	if err := l.LinkSigned(ctx, e.ID, []string{"1"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("LinkSigned: %v", err)
	}
	if s := l.Status(); s.Detail.Writable || !strings.Contains(s.Message, "read-only") {
		t.Errorf("status %+v", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if after := dirState(t, dir); !slices.Equal(before, after) {
		t.Errorf("the read-only log changed the directory:\n%v\nthen\n%v", before, after)
	}
}

func TestReadOnlyMissingStore(t *testing.T) {
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "decisions")
	for _, dir := range []string{missing, empty} {
		_, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger(), ReadOnly: true})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no decision log") {
			t.Errorf("%s: %v", dir, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing directory was created: %v", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("files created in the empty directory: %v", entries)
	}
}

func TestReadOnlyWhileOpenForWriting(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir})
	w.Append(context.Background(), entry(warnSpec(1)))
	flush(t, w)
	l, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger(), ReadOnly: true})
	if err == nil {
		l.Close()
		t.Fatal("opened read-only a store another log has open for writing")
	}
	t.Logf("read-only open of a store in use: %v", err)
}

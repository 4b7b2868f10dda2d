package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge/store"
)

// kb synth: the same seed and sizes give a byte-identical signed file; the
// file installs with kb import-release, a delta on top of it installs
// against it, and -o DIR stores and activates the same release.
func TestKBSynth(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.key")
	var pub, errOut bytes.Buffer
	if err := run(context.Background(), []string{"bureau", "keygen", "-out", key}, &pub, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	size := []string{"-entries", "3000", "-rules", "2000", "-seed", "4", "-no-official"}
	a, b := filepath.Join(dir, "a.rxrel"), filepath.Join(dir, "b.rxrel")
	for _, f := range []string{a, b} {
		if out, err := runCmd(t, append([]string{"kb", "synth", "-key", key, "-o", f}, size...)...); err != nil {
			t.Fatalf("kb synth: %v\n%s", err, out)
		}
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if len(ba) == 0 || !bytes.Equal(ba, bb) {
		t.Fatalf("two runs with the same seed wrote different files (%d and %d bytes)", len(ba), len(bb))
	}

	data := t.TempDir()
	trusted := strings.TrimSpace(pub.String())
	out, err := runCmd(t, "kb", "import-release", "-data", data, "-trusted-key", trusted, a)
	if err != nil || !strings.Contains(out, "activated release synth-") || !strings.Contains(out, "5000 records") {
		t.Fatalf("kb import-release of the synthetic release: %v\n%s", err, out)
	}
	delta := filepath.Join(dir, "d.rxrel")
	out, err = runCmd(t, "kb", "synth", "-key", key, "-delta-records", "500", "-parent", a, "-o", delta)
	if err != nil || !strings.Contains(out, "500 operations") {
		t.Fatalf("kb synth -delta-records: %v\n%s", err, out)
	}
	out, err = runCmd(t, "kb", "import-release", "-data", data, "-trusted-key", trusted, delta)
	if err != nil || !strings.Contains(out, "delta against synth-") || !strings.Contains(out, "500 operations") {
		t.Fatalf("kb import-release of the delta: %v\n%s", err, out)
	}
	// The delta is stored as changes to the release it applies to.
	st, err := store.Open(context.Background(), store.Options{Dir: filepath.Join(data, "kb"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rels, err := st.Releases(context.Background())
	st.Close()
	if err != nil || len(rels) != 2 || !rels[1].Active || rels[1].Base != rels[0].Version {
		t.Fatalf("after importing the delta the store holds %+v (%v); want the delta active, stored over the full release", rels, err)
	}

	stored := t.TempDir()
	out, err = runCmd(t, append([]string{"kb", "synth", "-o", stored}, size...)...)
	if err != nil {
		t.Fatalf("kb synth -o DIR: %v\n%s", err, out)
	}
	inspect, err := runCmd(t, "kb", "inspect", "-data", stored)
	if err != nil {
		t.Fatal(err)
	}
	version := strings.Fields(strings.SplitN(out, "activated release ", 2)[1])[0]
	if !strings.Contains(inspect, "active release  "+version) || !strings.Contains(inspect, "records         5000") {
		t.Fatalf("kb inspect after kb synth -o DIR:\n%s", inspect)
	}
}

func TestKBSynthUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"kb", "synth"}, "-o DIR"},
		{[]string{"kb", "synth", "-o", "x.rxrel"}, "-key"},
		{[]string{"kb", "synth", "-o", "d", "-delta-records", "5"}, "go together"},
		{[]string{"kb", "synth", "-o", "d", "-delta-records", "5", "-parent", "p.rxrel"}, "signed file"},
		{[]string{"kb", "synth", "-o", t.TempDir(), "-entries", "10", "-rules", "10"}, "-no-official"},
	} {
		_, err := runCmd(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}

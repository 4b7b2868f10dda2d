package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kb import-release (air-gapped installs) proves a release file exactly as
// bureau sync does: a tampered byte, a foreign key, a truncated file and a
// delta against another parent are refused with a clear error, and the
// store is as before — same active release and content hash, no new
// release stored.
func TestImportReleaseRejectsAndStoreUnchanged(t *testing.T) {
	work := t.TempDir()
	keyFile, pub := keygen(t, work)
	_, otherPub := keygen(t, t.TempDir())
	data := filepath.Join(work, "data")

	demoFile := filepath.Join(work, "demo.rxrel")
	mustRun(t, "kb", "release", "-key", keyFile, "-o", demoFile, "-demo")
	out := mustRun(t, "kb", "import-release", "-data", data, "-trusted-key", pub, demoFile)
	if !strings.Contains(out, "activated release demo-") || !strings.Contains(out, "full") {
		t.Fatalf("import of the full demo release: %s", out)
	}

	official := officialFiles(t)
	registerPhysician(t, official, newPhysician+",新医师,TITLE_ATTENDING,A03")
	v2 := filepath.Join(work, "v2.rxrel")
	mustRun(t, "kb", "release", "-key", keyFile, "-o", v2, "-version", "2026.11.22-1", "-parent", "demo", official)
	v2Full := filepath.Join(work, "v2-full.rxrel")
	mustRun(t, "kb", "release", "-key", keyFile, "-o", v2Full, "-version", "2026.11.22-1", official)
	registerPhysician(t, official, "D370800000098,另一医师,TITLE_RESIDENT,A02")
	v3 := filepath.Join(work, "v3.rxrel") // a delta against v2, which this store does not have
	mustRun(t, "kb", "release", "-key", keyFile, "-o", v3, "-version", "2026.11.22-2", "-parent", v2Full, official)

	good, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)*2/3] ^= 0x01
	cases := []struct {
		name, file, key, want string
	}{
		{"one byte changed", write("tampered.rxrel", flipped), pub, "rejected, nothing written"},
		{"signed by another key", v2, otherPub, "not among the trusted keys"},
		{"truncated", write("truncated.rxrel", good[:len(good)/2]), pub, "truncated"},
		{"delta against the wrong parent", v3, pub, "does not apply"},
		{"not a release file", write("junk.rxrel", []byte("hello")), pub, "not a release file"},
	}
	// kb verify: the same proof without a store, for carrying files in.
	if out := mustRun(t, "kb", "verify", "-trusted-key", pub, demoFile); !strings.Contains(out, "verified") {
		t.Fatalf("kb verify of a good full release: %s", out)
	}
	full, err := os.ReadFile(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	var badFull []string
	for _, pos := range []int{40, len(full) / 3, len(full) * 2 / 3, len(full) - 30} {
		b := append([]byte(nil), full...)
		b[pos] ^= 0x01
		badFull = append(badFull, write(fmt.Sprintf("tampered-full-%d.rxrel", pos), b))
	}
	for _, bad := range []struct{ file, key string }{
		{badFull[0], pub}, {badFull[1], pub}, {badFull[2], pub}, {badFull[3], pub}, {demoFile, otherPub}, {cases[2].file, pub},
	} {
		if out, err := run(t, "kb", "verify", "-trusted-key", bad.key, bad.file); err == nil {
			t.Fatalf("kb verify accepted %s with key %s: %s", bad.file, bad.key, out)
		}
	}
	cases = append(cases,
		struct{ name, file, key, want string }{"full release, one byte changed (a third in)", badFull[1], pub, "rejected, nothing written"},
		struct{ name, file, key, want string }{"full release, one byte changed (two thirds in)", badFull[2], pub, "rejected, nothing written"})
	before := inspect(t, data)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, "kb", "import-release", "-data", data, "-trusted-key", tc.key, tc.file)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("want a failure saying %q, got %v:\n%s", tc.want, err, out)
			}
			if after := inspect(t, data); after != before {
				t.Fatalf("store changed:\n--- before\n%s\n--- after\n%s", before, after)
			}
		})
	}
	if t.Failed() {
		return
	}
	out = mustRun(t, "kb", "import-release", "-data", data, "-trusted-key", pub, v2)
	if !strings.Contains(out, "activated release 2026.11.22-1 (delta against demo-") {
		t.Fatalf("import of the good delta: %s", out)
	}
	if out := mustRun(t, "kb", "inspect", "-data", data); !strings.Contains(activeLine(out), "2026.11.22-1") {
		t.Fatalf("after the good delta:\n%s", out)
	}
}

// inspect is kb inspect's report (stdout only: the log lines carry times).
func inspect(t *testing.T, data string) string {
	t.Helper()
	out, err := exec.Command(rxguardBin, "kb", "inspect", "-data", data).Output()
	if err != nil {
		t.Fatalf("kb inspect: %v", err)
	}
	return string(out)
}

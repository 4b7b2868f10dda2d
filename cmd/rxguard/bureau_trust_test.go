package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// Until the admin service has credentials, `rxguard bureau` refuses to
// start with it on an address other hosts can reach, and says which flag
// and why, before it binds anything.
func TestBureauAdminOnlyOnLoopback(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "bureau.key")
	mustRun(t, "bureau", "keygen", "-out", key)
	for _, admin := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(admin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			logs := &syncBuffer{}
			err := run(ctx, []string{"bureau", "-dir", filepath.Join(dir, "b"), "-key", key, "-listen", "127.0.0.1:0", "-admin", admin}, logs, logs)
			if ctx.Err() != nil || err == nil || !strings.Contains(err.Error(), "-admin "+admin) || !strings.Contains(err.Error(), "loopback") {
				t.Fatalf("bureau -admin %s: %v (context: %v)\n%s", admin, err, ctx.Err(), logs.String())
			}
		})
	}
}

// kb import-release refuses a release dated further after this host's
// clock than the skew, signed or not, and writes nothing; a larger skew
// given on purpose admits it.
func TestKBImportReleaseRefusesReleaseFromTheFuture(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "publisher.key")
	pub := strings.TrimSpace(mustRun(t, "bureau", "keygen", "-out", key))
	demoFile := filepath.Join(dir, "demo.rxrel")
	mustRun(t, "kb", "release", "-key", key, "-o", demoFile, "-demo")
	forged := writeRedated(t, demoFile, key, filepath.Join(dir, "2099.rxrel"), "2099.01", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))

	data := filepath.Join(dir, "data")
	_, _, err := runSplit(t, "kb", "import-release", "-data", data, "-trusted-key", pub, forged)
	if err == nil || !strings.Contains(err.Error(), "rejected, nothing written") || !strings.Contains(err.Error(), "after this host's clock") {
		t.Fatalf("import of a release created in 2099: %v", err)
	}
	if out := mustRun(t, "kb", "inspect", "-data", data); !strings.Contains(out, "no active release") {
		t.Fatalf("store after the refused import:\n%s", out)
	}
	out := mustRun(t, "kb", "import-release", "-data", data, "-trusted-key", pub, "-max-clock-skew", "1000000h", forged)
	wantLines(t, "import with a deliberate skew", out, "activated release 2099.01")
}

// writeRedated copies a signed full release file under another version and
// creation time, signed again with keyFile: what a publisher with a wrong
// clock, or a stolen key, would produce.
func writeRedated(t *testing.T, src, keyFile, dst, version string, created time.Time) string {
	t.Helper()
	rel, err := wire.ReadFile(src, wire.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	key, err := readSigningKey(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel.Manifest.Version, rel.Manifest.Created = version, created
	if rel.Manifest, err = knowledge.SignManifest(rel.Manifest, key); err != nil {
		t.Fatal(err)
	}
	if err := wire.WriteFile(dst, rel); err != nil {
		t.Fatal(err)
	}
	return dst
}

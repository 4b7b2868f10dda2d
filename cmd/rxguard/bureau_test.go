package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// syncBuffer is written by a running command while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runSplit(t, args...)
	if err != nil {
		t.Fatalf("rxguard %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s output lacks %q:\n%s", what, w, out)
		}
	}
}

// keygen → kb release -demo → kb release -parent (a delta) → bureau serve
// with the release key as its publisher key → bureau publish,
// publish-events → a sidecar-side client fetches the delta and the feed and
// proves the delta against the publisher's key (the bureau serves it as
// signed) and the feed against the bureau's.
func TestBureauKeygenReleasePublishFetch(t *testing.T) {
	dir := t.TempDir()
	releaseKey, bureauKey := filepath.Join(dir, "release.key"), filepath.Join(dir, "bureau.key")
	releasePubB64 := strings.TrimSpace(mustRun(t, "bureau", "keygen", "-out", releaseKey))
	releasePub, err := knowledge.ParsePublicKey(releasePubB64)
	if err != nil {
		t.Fatal(err)
	}
	pubB64 := strings.TrimSpace(mustRun(t, "bureau", "keygen", "-out", bureauKey))
	bureauPub, err := knowledge.ParsePublicKey(pubB64)
	if err != nil {
		t.Fatalf("keygen printed %q: %v", pubB64, err)
	}
	if fi, err := os.Stat(bureauKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	if _, _, err := runSplit(t, "bureau", "keygen", "-out", bureauKey); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Fatalf("keygen over an existing key: %v", err)
	}

	demoFile := filepath.Join(dir, "demo.rxrel")
	out := mustRun(t, "kb", "release", "-key", releaseKey, "-o", demoFile, "-demo")
	wantLines(t, "kb release -demo", out, "release  demo-", "kind     FULL", "deletes", "0 replaces")
	demoRel, err := wire.ReadFile(demoFile, wire.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	demoRecs, err := demoRel.Apply("", "", nil)
	if err != nil {
		t.Fatal(err)
	}

	// The official files with one event added and one changed.
	official := filepath.Join(dir, "official")
	if err := os.CopyFS(official, os.DirFS("../../knowledge/data")); err != nil {
		t.Fatal(err)
	}
	eventsCSV := filepath.Join(official, "demo", "physician-events.csv")
	b, err := os.ReadFile(eventsCSV)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "修复：参加医保政策学习并整改到位", "修复：整改到位", 1) +
		"13,D370800000005,POINTS_ADDED,2026-11-20,2,,超量开药\n"
	if err := os.WriteFile(eventsCSV, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	deltaFile := filepath.Join(dir, "2026.12.rxrel")
	out = mustRun(t, "kb", "release", "-key", releaseKey, "-o", deltaFile, "-version", "2026.12", "-description", "十二月", "-parent", demoFile, official)
	wantLines(t, "kb release -parent", out, "release  2026.12", "kind     DELTA against "+demoRel.Manifest.Version, "1 adds, 1 replaces, 0 deletes",
		"records  "+strconv.Itoa(demoRel.Manifest.RecordCount+1))

	// A bureau with no demo, on ephemeral ports; publishing needs an
	// admin token.
	adminToken, adminLine := newTokenLine(t, "admin", "publisher-1")
	hisToken, hisLine := newTokenLine(t, "his", "HIS-1")
	tokenFile := filepath.Join(dir, "admin-tokens")
	if err := os.WriteFile(tokenFile, []byte(adminLine+"\n"+hisLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"bureau", "-dir", filepath.Join(dir, "bureau"), "-key", bureauKey, "-publisher-key", releasePubB64,
			"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-admin-tokens", tokenFile, "-demo=false"}, logs, logs)
	}()
	addr, admin := waitForBureau(t, logs, served)
	for _, c := range []struct{ token, want string }{{"", "Unauthenticated"}, {hisToken, "PermissionDenied"}} {
		t.Setenv(envToken, c.token)
		if _, _, err := runSplit(t, "bureau", "publish", "-admin", admin, demoFile); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("bureau publish with token %q: %v, want %s", c.token, err, c.want)
		}
	}
	t.Setenv(envToken, adminToken)
	wantLines(t, "bureau serve log", logs.String(), "public_key=\""+pubB64+"\"", "latest=\"(none",
		"publisher_key_ids="+knowledge.KeyID(releasePub))

	// The bureau's own key is no publisher of this bureau: what it signs
	// is refused, releases and events alike.
	ownFile := filepath.Join(dir, "own.rxrel")
	mustRun(t, "kb", "release", "-key", bureauKey, "-o", ownFile, "-demo", "-version", "own")
	if _, _, err := runSplit(t, "bureau", "publish", "-admin", admin, ownFile); err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Fatalf("publish of a release signed by a key that is not a publisher: %v", err)
	}
	if _, _, err := runSplit(t, "bureau", "publish-events", "-admin", admin, "-key", bureauKey, eventsCSV); err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Fatalf("publish-events signed by a key that is not a publisher: %v", err)
	}

	out = mustRun(t, "bureau", "publish", "-admin", admin, demoFile)
	wantLines(t, "publish demo", out, "published  "+demoRel.Manifest.Version, "sha256     "+demoRel.Manifest.ContentSHA256, "kind       FULL")
	out = mustRun(t, "bureau", "publish", "-admin", admin, deltaFile)
	wantLines(t, "publish delta", out, "published  2026.12", "DELTA against "+demoRel.Manifest.Version, filepath.Join("releases", "2026.12.rxrel"))
	out = mustRun(t, "bureau", "publish-events", "-admin", admin, "-key", releaseKey, eventsCSV)
	wantLines(t, "publish-events", out, "published 13 events, seq 1–13")
	badCSV := filepath.Join(dir, "bad.csv")
	os.WriteFile(badCSV, []byte("physician_code,type,date\nD1,POINTS_ADDED,2026-01-01\nD1,FINED,2026-01-01\n"), 0o644)
	if _, _, err := runSplit(t, "bureau", "publish-events", "-admin", admin, "-key", releaseKey, badCSV); err == nil || !strings.Contains(err.Error(), "line 3: type \"FINED\"") {
		t.Errorf("publish-events with a bad row: %v", err)
	}

	// What a sidecar holding the demo release gets.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := bureauv1.NewBureauServiceClient(conn)
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	latest, err := client.GetLatestRelease(cctx, &bureauv1.GetLatestReleaseRequest{HaveVersion: demoRel.Manifest.Version})
	if err != nil || latest.GetManifest().GetVersion() != "2026.12" || latest.GetVersionsBehind() != 1 {
		t.Fatalf("latest: %v %v", latest, err)
	}
	stream, err := client.FetchRelease(cctx, &bureauv1.FetchReleaseRequest{HaveVersion: demoRel.Manifest.Version, HaveContentSha256: demoRel.Manifest.ContentSHA256})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := wire.Receive(func() (*bureauv1.ReleaseChunk, error) {
		r, err := stream.Recv()
		return r.GetChunk(), err
	}, wire.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if rel.Kind != bureauv1.ReleaseKind_RELEASE_KIND_DELTA || len(rel.Ops) != 2 {
		t.Fatalf("fetched %v with %d ops, want a delta of 2", rel.Kind, len(rel.Ops))
	}
	got, err := rel.Apply(demoRel.Manifest.Version, demoRel.Manifest.ContentSHA256, demoRecs)
	if err != nil {
		t.Fatal(err)
	}
	deltaRel, err := wire.ReadFile(deltaFile, wire.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.Verify(rel.Manifest, got, []ed25519.PublicKey{releasePub}); err != nil || rel.Manifest.Signature != deltaRel.Manifest.Signature {
		t.Fatalf("delta from the bureau, not as its publisher signed it: %v", err)
	}
	trusted := []ed25519.PublicKey{bureauPub}
	if rel.Manifest.Description != "十二月" || rel.Manifest.Parent != demoRel.Manifest.Version {
		t.Errorf("manifest as served: %+v", rel.Manifest)
	}

	page, err := client.ListPhysicianEvents(cctx, &bureauv1.ListPhysicianEventsRequest{AfterSeq: 10})
	if err != nil {
		t.Fatal(err)
	}
	events, err := wire.EventPage(10, page, trusted)
	if err != nil || len(events) != 3 || events[2].Reason != "超量开药" {
		t.Fatalf("feed page: %d events, %v", len(events), err)
	}

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("bureau serve: %v", err)
	}
}

var listenRE = regexp.MustCompile(`rxguard bureau serving" listen=(\S+) admin=(\S+)`)

func waitForBureau(t *testing.T, logs *syncBuffer, served chan error) (addr, admin string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(logs.String()); m != nil {
			return m[1], m[2]
		}
		select {
		case err := <-served:
			t.Fatalf("bureau exited: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("bureau did not start:\n%s", logs.String())
	return "", ""
}

func TestBureauUsageErrors(t *testing.T) {
	key := filepath.Join(t.TempDir(), "k")
	mustRun(t, "bureau", "keygen", "-out", key)
	for _, args := range [][]string{
		{"bureau", "nope"},
		{"bureau", "serve"},
		{"bureau", "keygen"},
		{"bureau", "publish"},
		{"bureau", "publish-events"},
		{"bureau", "publish-events", "x.csv"},
		{"bureau", "serve", "-key", key, "-publisher-key", "nope"},
		{"bureau", "serve", "-key", key, "-admin", "nohostport"},
		{"kb", "release", "-o", "x.rxrel", "-demo"},
		{"kb", "release", "-key", key, "-o", "x.rxrel"},
		{"kb", "release", "-key", key, "-o", "x.rxrel", "-demo", "somedir"},
	} {
		var ue usageError
		if _, _, err := runSplit(t, args...); err == nil || !asUsage(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// A delta cannot be a parent: its records depend on a base kb release does
// not have.
func TestKBReleaseParentMustBeFull(t *testing.T) {
	dir := t.TempDir()
	r1 := []knowledge.Record{{Class: knowledge.ClassDrug, Key: "A", Value: []byte(`{}`)}}
	r2 := append(r1, knowledge.Record{Class: knowledge.ClassDrug, Key: "B", Value: []byte(`{}`)})
	m1 := knowledge.NewManifest("v1", "", time.Now(), r1)
	m2 := knowledge.NewManifest("v2", "v1", time.Now(), r2)
	deltaFile := filepath.Join(dir, "v2.rxrel")
	if err := wire.WriteFile(deltaFile, &wire.Release{Manifest: m2, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA,
		BaseVersion: "v1", BaseSHA256: m1.ContentSHA256, Ops: wire.Diff(r1, r2)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readFullRelease(deltaFile); err == nil || !strings.Contains(err.Error(), "is a delta against v1") {
		t.Fatalf("delta as parent: %v", err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

const newPhysician = "D370800000099" // not in the demo registry; a revision registers him

// A sidecar synced with a running bureau takes a delta published under a
// load of checks: no RPC fails, every answer names the old or the new
// release (per caller: never old again once new), and the new one arrives
// within one poll interval (plus the measured apply). Then the bureau is
// killed: checks go on on the last good release, staleness shows in
// /status, /readyz and knowledge_stale; the bureau comes back with a newer
// release and a physician-status event, and the sidecar catches up.
func TestSyncDeltaUnderLoadBureauDownAndBack(t *testing.T) {
	work := t.TempDir()
	keyFile, pub := keygen(t, work)
	bureauDir := filepath.Join(work, "bureau")
	bAddr, bAdmin := freeAddr(t), freeAddr(t)
	b := startBureau(t, bureauDir, keyFile, bAddr, bAdmin)

	const poll = time.Second
	cfg := filepath.Join(work, "sidecar.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"bureau": {"address": %q, "trusted_keys": [%q], "poll_interval": "1s", "stale_after": "3s", "max_backoff": "2s"}}`, bAddr, pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, filepath.Join(work, "data"), "-config", cfg)
	sc.waitReady(t)
	waitFor(t, "first successful sync", 30*time.Second, func() bool { return !sc.status(t).Sync.LastSuccess.IsZero() })
	old := sc.status(t)
	if old.Sync.BureauLatest != old.Knowledge.Version || old.Sync.VersionsBehind != 0 {
		t.Fatalf("sidecar on the embedded demo and bureau on its demo should agree: %+v", old)
	}
	ctx := context.Background()
	resp, err := sc.client.CheckOrders(ctx, checkRequest(t, newPhysician))
	if err != nil {
		t.Fatal(err)
	}
	if f := findingTypes(resp)["PHYSICIAN_QUALIFICATION"]; f == nil || resp.PhysicianStatus.State != rxguardv1.QualificationState_QUALIFICATION_UNKNOWN {
		t.Fatalf("unregistered physician before the revision: %v %v", resp.PhysicianStatus, resp.Findings)
	}

	// The revision: the same official files plus one registered physician,
	// built and signed as a delta against the demo release.
	official := officialFiles(t)
	registerPhysician(t, official, newPhysician+",新医师,TITLE_ATTENDING,A03")
	v2File := filepath.Join(work, "v2.rxrel")
	out := mustRun(t, "kb", "release", "-key", keyFile, "-o", v2File, "-version", "2026.11.22-1", "-parent", "demo", official)
	if !strings.Contains(out, "2026.11.22-1") {
		t.Fatalf("kb release output: %s", out)
	}

	// Load: four callers, as fast as they go.
	type answer struct {
		version string
		stale   bool
		err     error
		at      time.Time
	}
	var (
		mu      sync.Mutex
		answers = make([][]answer, 4)
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := checkRequest(t, newPhysician)
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := sc.client.CheckOrders(ctx, req)
				mu.Lock()
				answers[i] = append(answers[i], answer{version: r.GetKnowledgeVersion(), stale: r.GetKnowledgeStale(), err: err, at: time.Now()})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	published := time.Now()
	mustRun(t, "bureau", "publish", "-admin", bAdmin, v2File)
	waitFor(t, "the new release in answers", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, as := range answers {
			if n := len(as); n > 0 && as[n-1].version == "2026.11.22-1" {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	var firstNew time.Time
	total := 0
	for i, as := range answers {
		seenNew := false
		for _, a := range as {
			total++
			if a.err != nil {
				t.Fatalf("caller %d: RPC failed during the switch: %v", i, a.err)
			}
			switch a.version {
			case old.Knowledge.Version:
				if seenNew {
					t.Fatalf("caller %d: old release after the new one", i)
				}
			case "2026.11.22-1":
				seenNew = true
				if firstNew.IsZero() || a.at.Before(firstNew) {
					firstNew = a.at
				}
			default:
				t.Fatalf("caller %d: answer names release %q", i, a.version)
			}
		}
		if !seenNew {
			t.Fatalf("caller %d never saw the new release", i)
		}
	}
	st := sc.status(t)
	apply, err := time.ParseDuration(st.Sync.LastApply)
	if err != nil {
		t.Fatalf("last_apply_duration %q: %v", st.Sync.LastApply, err)
	}
	lag := firstNew.Sub(published)
	// One poll interval with its +20% jitter, the measured apply, and the
	// publish command's own start-up.
	if limit := poll*12/10 + apply + 500*time.Millisecond; lag > limit {
		t.Fatalf("new release served %s after publishing; limit %s (poll %s, apply %s)", lag, limit, poll, apply)
	}
	t.Logf("%d checks, 0 failed; new release served %s after publish (apply took %s)", total, lag.Round(time.Millisecond), apply)
	resp, err = sc.client.CheckOrders(ctx, checkRequest(t, newPhysician))
	if err != nil {
		t.Fatal(err)
	}
	if f := findingTypes(resp)["PHYSICIAN_QUALIFICATION"]; f != nil || resp.PhysicianStatus.State != rxguardv1.QualificationState_QUALIFICATION_NORMAL {
		t.Fatalf("registered physician after the revision: %v %v", resp.PhysicianStatus, f)
	}

	// The bureau dies.
	b.kill()
	waitFor(t, "staleness reported", 20*time.Second, func() bool {
		s := sc.status(t)
		return s.Sync.Stale && s.Sync.ConsecutiveFailures > 0 && s.Sync.LastError != ""
	})
	code, body := httpGet(sc.httpAddr, "/readyz")
	if code != 200 || !strings.Contains(string(body), `"stale":true`) {
		t.Fatalf("/readyz with the bureau down: %d %s", code, body)
	}
	resp, err = sc.client.CheckOrders(ctx, checkRequest(t, "D370800000001"))
	if err != nil || resp.KnowledgeVersion != "2026.11.22-1" || !resp.KnowledgeStale {
		t.Fatalf("check with the bureau down: %v (version %q, stale %v)", err, resp.GetKnowledgeVersion(), resp.GetKnowledgeStale())
	}
	if _, metrics := httpGet(sc.httpAddr, "/metrics"); !strings.Contains(string(metrics), "rxguard_sync_stale 1") ||
		!strings.Contains(string(metrics), "rxguard_sync_releases_applied_total 1") {
		t.Fatalf("/metrics with the bureau down lacks rxguard_sync_stale 1 or the applied count:\n%s", grepLines(string(metrics), "rxguard_sync"))
	}
	if out := mustRun(t, "status", "-http", sc.httpAddr); !strings.Contains(out, "STALE") || !strings.Contains(out, "2026.11.22-1") ||
		!regexp.MustCompile(`decision log +recording — async, [1-9]\d* written`).MatchString(out) {
		t.Fatalf("rxguard status with the bureau down:\n%s", out)
	}

	// Back, with a newer release (a delta against v2) and a suspension of
	// 张明 from 2026-11-20.
	official3 := officialFiles(t)
	registerPhysician(t, official3, newPhysician+",新医师,TITLE_ATTENDING,A03")
	registerPhysician(t, official3, "D370800000098,另一医师,TITLE_RESIDENT,A02")
	v3File := filepath.Join(work, "v3.rxrel")
	v2Full := filepath.Join(work, "v2-full.rxrel") // a delta's parent is a full release file
	mustRun(t, "kb", "release", "-key", keyFile, "-o", v2Full, "-version", "2026.11.22-1", official)
	mustRun(t, "kb", "release", "-key", keyFile, "-o", v3File, "-version", "2026.11.22-2", "-parent", v2Full, official3)
	b = startBureau(t, bureauDir, keyFile, bAddr, bAdmin)
	mustRun(t, "bureau", "publish", "-admin", bAdmin, v3File)
	events := filepath.Join(work, "events.csv")
	if err := os.WriteFile(events, []byte("seq,physician_code,type,date,points,until,reason\n,D370800000001,SUSPENDED,2026-11-20,,2027-02-19,测试暂停\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "bureau", "publish-events", "-admin", bAdmin, "-key", keyFile, events)
	waitFor(t, "catch-up after the bureau is back", 30*time.Second, func() bool {
		s := sc.status(t)
		return s.Knowledge.Version == "2026.11.22-2" && !s.Sync.Stale && s.Sync.LastError == ""
	})
	waitFor(t, "the suspension from the feed", 10*time.Second, func() bool {
		r, err := sc.client.CheckOrders(ctx, checkRequest(t, "D370800000001"))
		return err == nil && r.PhysicianStatus.State == rxguardv1.QualificationState_QUALIFICATION_SUSPENDED
	})
	resp, err = sc.client.CheckOrders(ctx, checkRequest(t, "D370800000001"))
	if err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || resp.KnowledgeStale || findingTypes(resp)["PHYSICIAN_QUALIFICATION"] == nil {
		t.Fatalf("suspended by the feed: %v %v %v", err, resp.GetVerdict(), resp.GetFindings())
	}
	ps, err := sc.client.GetPhysicianStatus(ctx, &rxguardv1.GetPhysicianStatusRequest{PhysicianCode: "D370800000001", At: "2026-11-22T10:00:00+08:00"})
	if err != nil || ps.Status.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED || ps.Status.Until != "2027-02-19" {
		t.Fatalf("GetPhysicianStatus after the feed: %v %v", ps, err)
	}

	// A restart serves the synced release and the stored feed before any
	// poll (bureau gone again).
	b.kill()
	sc.stop(t)
	sc2 := startSidecar(t, filepath.Join(work, "data"), "-config", cfg)
	sc2.waitReady(t)
	resp, err = sc2.client.CheckOrders(ctx, checkRequest(t, "D370800000001"))
	if err != nil || resp.KnowledgeVersion != "2026.11.22-2" || resp.PhysicianStatus.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED {
		t.Fatalf("after restart without the bureau: %v %q %v", err, resp.GetKnowledgeVersion(), resp.GetPhysicianStatus())
	}
}

// kill -9 of the sidecar while it applies a delta from the bureau, at
// least 20 times: every restart finds a complete release, old or new.
func TestKillDuringDeltaApply(t *testing.T) {
	work := t.TempDir()
	keyFile, pub := keygen(t, work)
	bAddr, bAdmin := freeAddr(t), freeAddr(t)
	startBureau(t, filepath.Join(work, "bureau"), keyFile, bAddr, bAdmin)
	official := officialFiles(t)
	registerPhysician(t, official, newPhysician+",新医师,TITLE_ATTENDING,A03")
	v2File := filepath.Join(work, "v2.rxrel")
	mustRun(t, "kb", "release", "-key", keyFile, "-o", v2File, "-version", "2026.11.22-1", "-parent", "demo", official)
	mustRun(t, "bureau", "publish", "-admin", bAdmin, v2File)

	// A pristine data directory on the demo release.
	pristine := filepath.Join(work, "pristine")
	sc := startSidecar(t, pristine)
	sc.waitReady(t)
	oldVersion := sc.status(t).Knowledge.Version
	sc.stop(t)

	args := []string{"-bureau", bAddr, "-trusted-key", pub, "-poll", "1h"}
	// Calibrate: how long after the fetch is logged is the install done?
	// The shortest of three runs: one slowed by other work on the machine
	// would aim most kills after the apply.
	window := time.Duration(1<<63 - 1)
	for range 3 {
		dir := copyDir(t, pristine)
		var fetchAt time.Time
		sc := startSidecar(t, dir, args...)
		waitFor(t, "calibration fetch", 60*time.Second, func() bool {
			if sc.exited() {
				t.Fatalf("sidecar exited: %s", sc.out.String())
			}
			if fetchAt.IsZero() && strings.Contains(sc.out.String(), "fetching release") {
				fetchAt = time.Now()
			}
			return strings.Contains(sc.out.String(), "bureau release installed")
		})
		window = min(window, time.Since(fetchAt))
		sc.kill()
		os.RemoveAll(dir)
	}
	t.Logf("calibration: install done %s after the fetch is logged (shortest of 3)", window.Round(time.Millisecond))

	// The apply is short (a delta is stored as changes to its base), so a
	// kill timed from the start lands in it only by luck: start-up jitter
	// is as long as the apply. Aim from the moment the fetch is logged, at
	// a random point of the calibrated window plus a margin after it.
	window = max(window, 10*time.Millisecond) * 12 / 10
	outcomes := map[string]int{}
	during := 0
	for i := 0; during < 20 && i < 80; i++ {
		dir := copyDir(t, pristine)
		delay := rand.N(window)
		sc := startSidecar(t, dir, args...)
		// Poll tighter than waitFor: the window is tens of milliseconds.
		for deadline := time.Now().Add(60 * time.Second); !strings.Contains(sc.out.String(), "fetching release"); time.Sleep(time.Millisecond) {
			if sc.exited() || time.Now().After(deadline) {
				t.Fatalf("kill %d: the fetch never began: %s", i, sc.out.String())
			}
		}
		time.Sleep(delay)
		sc.kill()
		log := sc.out.String()
		if strings.Contains(log, "fetching release") && !strings.Contains(log, "bureau release installed") {
			during++
		}
		out, err := run(t, "kb", "inspect", "-data", dir)
		if err != nil {
			t.Fatalf("kill %d (after %s): store does not open or verify: %v\n%s\n--- sidecar:\n%s", i, delay, err, out, tail(log, 3000))
		}
		if !strings.Contains(out, "(verified)") {
			t.Fatalf("kill %d: kb inspect did not verify:\n%s", i, out)
		}
		active := activeLine(out)
		switch {
		case strings.Contains(active, "2026.11.22-1"):
			outcomes["new"]++
		case strings.Contains(active, oldVersion):
			outcomes["old"]++
		default:
			t.Fatalf("kill %d: active release is neither %s nor 2026.11.22-1:\n%s", i, oldVersion, out)
		}
		os.RemoveAll(dir)
	}
	if during < 20 {
		t.Fatalf("only %d kills landed inside the apply window", during)
	}
	t.Logf("%d kills inside the apply window; restarts found old %d, new %d times", during, outcomes["old"], outcomes["new"])
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// activeLine is kb inspect's "active release" line.
func activeLine(inspect string) string {
	for _, l := range strings.Split(inspect, "\n") {
		if strings.HasPrefix(l, "active release") {
			return l
		}
	}
	return ""
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The reproduction, end to end: the bureau's admin service is
// handed a release signed with another key, an unsigned one dated 2099 and
// one dated 2099 signed by the bureau's own key; it refuses all three and
// the sidecar stays on its release. A sidecar that installed a 2099
// release before these checks (simulated: kb import-release with a
// deliberate skew) refuses every genuine release as a rollback and says how
// to recover; the operator runs `kb import-release` with the genuine
// release, and sync goes on: the next release arrives within a poll.
func TestForgedReleasesRefusedAndRecovery(t *testing.T) {
	work := t.TempDir()
	keyFile, pub := keygen(t, work)
	otherKey := filepath.Join(work, "other.key")
	mustRun(t, "bureau", "keygen", "-out", otherKey)
	bAddr, bAdmin := freeAddr(t), freeAddr(t)
	startBureau(t, filepath.Join(work, "bureau"), keyFile, bAddr, bAdmin)
	data := filepath.Join(work, "data")
	args := []string{"-bureau", bAddr, "-trusted-key", pub, "-poll", "1s"}
	sc := startSidecar(t, data, args...)
	sc.waitReady(t)
	waitFor(t, "first successful sync", 30*time.Second, func() bool { return !sc.status(t).Sync.LastSuccess.IsZero() })
	demoVersion := sc.status(t).Knowledge.Version

	// Three forgeries, all refused by the bureau.
	demoFile := filepath.Join(work, "demo.rxrel")
	mustRun(t, "kb", "release", "-key", keyFile, "-o", demoFile, "-demo")
	year2099 := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	foreign := redated(t, demoFile, otherKey, filepath.Join(work, "foreign.rxrel"), "2026.12-foreign", time.Now())
	unsigned := redated(t, demoFile, "", filepath.Join(work, "unsigned.rxrel"), "2099.01-unsigned", year2099)
	forged := redated(t, demoFile, keyFile, filepath.Join(work, "2099.rxrel"), "2099.01", year2099)
	for _, tc := range []struct{ file, want string }{
		{foreign, "PermissionDenied"}, {unsigned, "PermissionDenied"}, {forged, "InvalidArgument"},
	} {
		out, err := run(t, "bureau", "publish", "-admin", bAdmin, tc.file)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Fatalf("bureau publish %s: want %s, got %v:\n%s", filepath.Base(tc.file), tc.want, err, out)
		}
	}
	time.Sleep(2500 * time.Millisecond) // two polls
	if st := sc.status(t); st.Knowledge.Version != demoVersion || st.Sync.BureauLatest != demoVersion || st.Sync.LastError != "" {
		t.Fatalf("after the refused publishes: %+v", st)
	}
	sc.stop(t)

	// The same 2099 file offline: refused, unless a skew is given on
	// purpose — which stands in for an rxguard without the check.
	if out, err := run(t, "kb", "import-release", "-data", data, "-trusted-key", pub, forged); err == nil || !strings.Contains(out, "after this host's clock") {
		t.Fatalf("kb import-release of a 2099 release: %v\n%s", err, out)
	}
	mustRun(t, "kb", "import-release", "-data", data, "-trusted-key", pub, "-max-clock-skew", "1000000h", forged)

	// Locked out: the genuine release is refused as a rollback, and the
	// error says what to run.
	official := officialFiles(t)
	registerPhysician(t, official, newPhysician+",新医师,TITLE_ATTENDING,A03")
	genuine := filepath.Join(work, "2026.12.rxrel")
	mustRun(t, "kb", "release", "-key", keyFile, "-o", genuine, "-version", "2026.12", official)
	mustRun(t, "bureau", "publish", "-admin", bAdmin, genuine)
	sc = startSidecar(t, data, args...)
	sc.waitReady(t)
	waitFor(t, "the rollback refusal naming the recovery", 30*time.Second, func() bool {
		e := sc.status(t).Sync.LastError
		return strings.Contains(e, "2026.12") && strings.Contains(e, "rxguard kb import-release")
	})
	if st := sc.status(t); st.Knowledge.Version != "2099.01" {
		t.Fatalf("active while locked out: %s", st.Knowledge.Version)
	}
	sc.stop(t)

	// The operator's recovery: install the genuine release from its file.
	out := mustRun(t, "kb", "import-release", "-data", data, "-trusted-key", pub, genuine)
	if !strings.Contains(out, "activated release 2026.12") {
		t.Fatalf("recovery import: %s", out)
	}
	started := time.Now()
	sc = startSidecar(t, data, args...)
	sc.waitReady(t)
	waitFor(t, "a clean sync after the recovery", 30*time.Second, func() bool {
		s := sc.status(t)
		return s.Sync.LastSuccess.After(started) && s.Sync.LastError == "" && s.Sync.VersionsBehind == 0
	})
	if st := sc.status(t); st.Knowledge.Version != "2026.12" || st.Sync.BureauLatest != "2026.12" {
		t.Fatalf("after the recovery: %+v", st)
	}

	// And the next release arrives as usual, as a delta.
	registerPhysician(t, official, "D370800000098,另一医师,TITLE_RESIDENT,A02")
	next := filepath.Join(work, "2026.12-2.rxrel")
	mustRun(t, "kb", "release", "-key", keyFile, "-o", next, "-version", "2026.12-2", "-parent", genuine, official)
	mustRun(t, "bureau", "publish", "-admin", bAdmin, next)
	waitFor(t, "the next release after the recovery", 20*time.Second, func() bool {
		return sc.status(t).Knowledge.Version == "2026.12-2"
	})
	resp, err := sc.client.CheckOrders(context.Background(), checkRequest(t, newPhysician))
	if err != nil || resp.KnowledgeVersion != "2026.12-2" || resp.PhysicianStatus.State != rxguardv1.QualificationState_QUALIFICATION_NORMAL {
		t.Fatalf("check on the release after the recovery: %v %q %v", err, resp.GetKnowledgeVersion(), resp.GetPhysicianStatus())
	}
}

// redated copies a signed full release file under another version and
// creation time, signed with keyFile ("": unsigned).
func redated(t *testing.T, src, keyFile, dst, version string, created time.Time) string {
	t.Helper()
	rel, err := wire.ReadFile(src, wire.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	rel.Manifest.Version, rel.Manifest.Created, rel.Manifest.Signature = version, created, ""
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		key, err := knowledge.ParsePrivateKey(string(b))
		if err != nil {
			t.Fatal(err)
		}
		if rel.Manifest, err = knowledge.SignManifest(rel.Manifest, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := wire.WriteFile(dst, rel); err != nil {
		t.Fatal(err)
	}
	return dst
}

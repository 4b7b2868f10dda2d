package store

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The crash test re-executes the test binary as a child that writes and
// activates a release, and SIGKILLs it at a random moment.
const (
	crashEnvDir     = "RXGUARD_STORE_CRASH_DIR" // set: act as the child on this directory
	crashEnvVersion = "RXGUARD_STORE_CRASH_VERSION"
	crashEnvRecords = "RXGUARD_STORE_CRASH_RECORDS"
	crashEnvDelta   = "RXGUARD_STORE_CRASH_DELTA" // "1": write the release as a delta on the active one (ApplyDelta)

	crashEnvIterations = "RXGUARD_STORE_CRASH_ITERATIONS" // parent: override the number of kills
	crashLinePrefix    = "CRASH-CHILD "
	crashValueSize     = 300
)

// TestCrashHelper is the child side of TestCrashDuringWriteAndSwitch; it
// does nothing unless started by it.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("child process of TestCrashDuringWriteAndSwitch")
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(3)
	}
	version := os.Getenv(crashEnvVersion)
	n, err := strconv.Atoi(os.Getenv(crashEnvRecords))
	if err != nil {
		fail("bad %s: %v", crashEnvRecords, err)
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Open(ctx, Options{Dir: dir, Logger: logger})
	if err != nil {
		fail("open: %v", err)
	}
	active, _, err := s.Active(ctx)
	if err != nil {
		fail("active: %v", err)
	}
	// Build the release before announcing, so that the parent's kill window
	// covers only the store's work.
	m, recs := makeRelease(version, active.Version, n, crashValueSize)
	put := func() error { return s.PutRelease(ctx, m, recs) }
	if os.Getenv(crashEnvDelta) == "1" {
		base, err := s.Records(ctx, active.Version)
		if err != nil {
			fail("records of %s: %v", active.Version, err)
		}
		m, recs = makeDeltaRelease(version, active.Version, base)
		d := deltaOf(ctx, s, active.Version, base, recs)
		put = func() error { _, err := s.ApplyDelta(ctx, m, d); return err }
	}

	// os.Stdout is unbuffered: each line reaches the parent when printed.
	fmt.Printf("%sWRITING %s %s\n", crashLinePrefix, active.Version, version)
	if err := put(); err != nil {
		fail("put %s: %v", version, err)
	}
	fmt.Printf("%sPUT %s\n", crashLinePrefix, version)
	if err := s.Activate(ctx, version); err != nil {
		fail("activate %s: %v", version, err)
	}
	fmt.Printf("%sACTIVATED %s\n", crashLinePrefix, version)
	// Wait to be killed; exit on our own only if the parent is gone.
	time.Sleep(2 * time.Minute)
	os.Exit(4)
}

type crashRun struct {
	from, to     string
	sawPut       bool
	sawActivated bool
	writeTime    time.Duration // WRITING → ACTIVATED, as seen by the parent; 0 if killed before
	killedAfter  time.Duration // WRITING → SIGKILL
	startup      time.Duration // process start → WRITING (Open, recovery, building the release)
}

// runCrashChild starts the child writing version and kills it delay after it
// announced the write; a negative delay kills it once it reported the
// activation.
func runCrashChild(t *testing.T, dir, version string, records int, delta bool, delay time.Duration) crashRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		crashEnvDir+"="+dir,
		crashEnvVersion+"="+version,
		crashEnvRecords+"="+strconv.Itoa(records),
		crashEnvDelta+"="+map[bool]string{true: "1", false: "0"}[delta],
	)
	stderr := &logBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crash child: %v", err)
	}
	type line struct {
		text string
		at   time.Time
	}
	lines := make(chan line, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if txt, ok := strings.CutPrefix(sc.Text(), crashLinePrefix); ok {
				lines <- line{txt, time.Now()}
			}
		}
		close(lines)
	}()
	kill := func() {
		// Kill is SIGKILL on Unix: no deferred code, no Close, no flush.
		if err := cmd.Process.Kill(); err != nil {
			t.Errorf("kill crash child: %v", err)
		}
	}

	var run crashRun
	var start time.Time
	handle := func(l line) {
		f := strings.Fields(l.text)
		switch f[0] {
		case "WRITING":
			start = l.at
			run.startup = l.at.Sub(began)
			run.from = ""
			if len(f) == 3 {
				run.from = f[1]
			}
			run.to = f[len(f)-1]
		case "PUT":
			run.sawPut = true
		case "ACTIVATED":
			run.sawActivated = true
			run.writeTime = l.at.Sub(start)
		}
	}

	select {
	case l, ok := <-lines:
		if !ok {
			cmd.Wait()
			t.Fatalf("crash child exited before writing:\n%s", stderr)
		}
		handle(l)
	case <-time.After(60 * time.Second):
		kill()
		cmd.Wait()
		t.Fatalf("crash child did not start writing within 60s:\n%s", stderr)
	}

	var timer <-chan time.Time
	if delay >= 0 {
		timer = time.After(delay)
	}
	deadline := time.After(120 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("crash child exited unexpectedly:\n%s", stderr)
			}
			handle(l)
			if delay < 0 && run.sawActivated {
				break wait
			}
		case <-timer:
			break wait
		case <-deadline:
			kill()
			cmd.Wait()
			t.Fatalf("crash child did not activate within 120s:\n%s", stderr)
		}
	}
	run.killedAfter = time.Since(start)
	kill()
	cmd.Wait() // "signal: killed" is the expected outcome
	// Lines printed before the kill may still be in the pipe.
	for l := range lines {
		handle(l)
	}
	if strings.Contains(stderr.String(), "crash child:") {
		t.Fatalf("crash child failed:\n%s", stderr)
	}
	return run
}

// checkAfterCrash reopens the store as rxguard would after a crash and
// returns the active version, and whether Open had to remove an empty
// Badger log file (see removeEmptyLogFiles).
func checkAfterCrash(t *testing.T, dir string, run crashRun) (string, bool) {
	t.Helper()
	ctx := context.Background()
	logger, logs := captureLogger()
	s, err := Open(ctx, Options{Dir: dir, Logger: logger})
	if err != nil {
		t.Fatalf("Open after kill (%+v): %v", run, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	if strings.Contains(logs.String(), "FAILED VERIFICATION") {
		t.Fatalf("a kill must never need the fallback (%+v):\n%s", run, logs)
	}
	m, ok, err := s.Active(ctx)
	if err != nil || !ok {
		t.Fatalf("no active release after kill (%+v): %v", run, err)
	}
	switch {
	case m.Version == run.to:
	case m.Version == run.from && !run.sawActivated:
	default:
		t.Fatalf("active %q after kill; child switched from %q to %q (saw ACTIVATED: %v)",
			m.Version, run.from, run.to, run.sawActivated)
	}
	// Records proves content against the manifest (hash, counts) as it reads.
	recs, err := s.Records(ctx, m.Version)
	if err != nil {
		t.Fatalf("active release after kill does not read back intact (%+v): %v", run, err)
	}
	if len(recs) != m.RecordCount {
		t.Fatalf("Records(%s) = %d records, manifest %d", m.Version, len(recs), m.RecordCount)
	}
	entries, err := func() ([]relEntry, error) {
		var entries []relEntry
		err := s.db.View(func(txn *badger.Txn) error {
			var err error
			entries, err = s.listReleases(txn)
			return err
		})
		return entries, err
	}()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.complete || e.marker || e.bad != nil {
			t.Fatalf("after reopen, release %s is incomplete/marked/bad: %+v", e.version, e)
		}
		if e.version == m.Version {
			continue
		}
		if err := s.Verify(ctx, e.version); err != nil {
			t.Fatalf("stored release %s does not verify after kill: %v", e.version, err)
		}
	}
	// Open's garbage collection keeps only the active release, the
	// previous one, and releases stored after the active one (put by a
	// child killed before it could activate them).
	var active relEntry
	for _, e := range entries {
		if e.version == m.Version {
			active = e
		}
	}
	var previous string
	if err := s.db.View(func(txn *badger.Txn) error {
		_, previous, err = pointers(txn)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// … and the full releases those are stored as changes to.
	bases := map[string]bool{}
	for _, e := range entries {
		if e.version == active.version || e.version == previous || e.seq > active.seq {
			bases[e.base] = true
		}
	}
	for _, e := range entries {
		if e.version != active.version && e.version != previous && e.seq < active.seq && !bases[e.version] {
			t.Fatalf("release %s, older than active %s and not previous (%s), survived reopen: garbage collection is not keeping up",
				e.version, active.version, previous)
		}
	}
	return m.Version, strings.Contains(logs.String(), "removed empty Badger log file")
}

// TestCrashDuringWriteAndSwitch kills a process writing and activating a
// release at random moments and checks that every time the store reopens
// with either the old or the new release active and intact.
func TestCrashDuringWriteAndSwitch(t *testing.T) { crashDuringWriteAndSwitch(t, false) }

// TestCrashDuringOverlayWriteAndSwitch is the same for releases stored as
// overlays (ApplyDelta): every child writes a small delta on the active
// release, so the store holds overlays on v000 (combined differences) and
// garbage collection runs with bases to keep.
func TestCrashDuringOverlayWriteAndSwitch(t *testing.T) { crashDuringWriteAndSwitch(t, true) }

func crashDuringWriteAndSwitch(t *testing.T, delta bool) {
	iterations, records := 25, 20000
	if testing.Short() {
		iterations = 10
	}
	// For soak runs: RXGUARD_STORE_CRASH_ITERATIONS=500 go test -run TestCrashDuring...
	if v := os.Getenv(crashEnvIterations); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashEnvIterations, v)
		}
		iterations = n
	}
	if raceEnabled {
		records = 4000
	}
	began := time.Now()
	dir := t.TempDir()

	// Release A, active before any child runs.
	s := openDisk(t, dir, nil)
	m, recs := makeRelease("v000", "", records, crashValueSize)
	mustPut(t, s, m, recs)
	mustActivate(t, s, m.Version)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Calibrate: how long write+switch takes here, killed only after it
	// reported success (which also checks that a completed switch is
	// durable). The second run is the representative one: its activation
	// also garbage-collects a release, and the LSM holds more than one.
	var d time.Duration
	for i, v := range []string{"v001", "v002"} {
		cal := runCrashChild(t, dir, v, records, delta, -1)
		if got, _ := checkAfterCrash(t, dir, cal); got != v {
			t.Fatalf("after completed switch active is %q, want %s", got, v)
		}
		if delta {
			s := openDisk(t, dir, nil)
			rs, err := s.Releases(context.Background())
			s.Close()
			if err != nil || rs[len(rs)-1].Version != v || rs[len(rs)-1].Base != "v000" {
				t.Fatalf("delta %s not stored as an overlay on v000: %+v, %v", v, rs, err)
			}
		}
		t.Logf("calibration %d: write+activate of %d records took %v", i, records, cal.writeTime)
		d = max(d, cal.writeTime)
	}

	// Stratified kill delays over [0, 1.5d]: every part of the write and
	// the switch gets hit, and about a third of the kills land after the
	// switch, so both outcomes occur every run.
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	span := d * 3 / 2
	delays := make([]time.Duration, iterations)
	for i := range delays {
		delays[i] = time.Duration((float64(i) + rng.Float64()) / float64(iterations) * float64(span))
	}
	rng.Shuffle(len(delays), func(i, j int) { delays[i], delays[j] = delays[j], delays[i] })
	t.Logf("kill delay seed %d", seed)

	var oldActive, newActive, putNotActive, activatedSeen, emptyLogs, n int
	iterate := func(delay time.Duration) {
		version := fmt.Sprintf("v%03d", n+3)
		run := runCrashChild(t, dir, version, records, delta, delay)
		reopen := time.Now()
		got, emptyLog := checkAfterCrash(t, dir, run)
		reopenTime := time.Since(reopen)
		if emptyLog {
			emptyLogs++
		}
		outcome := "new"
		if got == run.from {
			oldActive++
			outcome = "old"
			if run.sawPut {
				putNotActive++
			}
		} else {
			newActive++
		}
		if run.sawActivated {
			activatedSeen++
		}
		t.Logf("iteration %2d: kill after %6.1fms (%3.0f%% of calibrated) → %s active (%s→%s, put seen %v, activated seen %v; child start-up %v, check %v)",
			n, float64(run.killedAfter)/1e6, 100*float64(run.killedAfter)/float64(d), outcome, run.from, run.to, run.sawPut, run.sawActivated,
			run.startup.Round(time.Millisecond), reopenTime.Round(time.Millisecond))
		n++
	}
	for _, delay := range delays {
		iterate(delay)
	}
	// Other processes competing for the CPU can make the children much
	// slower or faster than during calibration. If that hid one outcome,
	// aim for it: very early kills for the old one, ever later ones for
	// the new one.
	for extra := 0; (oldActive == 0 || newActive == 0) && extra < 10; extra++ {
		delay := time.Duration(rng.Int64N(int64(d/20) + 1))
		if newActive == 0 {
			delay = span * time.Duration(extra+2)
		}
		t.Logf("outcome missing (old %d, new %d): extra kill after %v", oldActive, newActive, delay)
		iterate(delay)
	}
	t.Logf("outcomes over %d kills: old release active %d (of which new one complete but not activated: %d), new release active %d (of which Activate had returned: %d); reopen removed an empty Badger log file %d times; total %v",
		n, oldActive, putNotActive, newActive, activatedSeen, emptyLogs, time.Since(began).Round(time.Millisecond))
	if oldActive == 0 || newActive == 0 {
		t.Errorf("want both outcomes; old %d, new %d: kill timing does not cover the write and switch", oldActive, newActive)
	}
}

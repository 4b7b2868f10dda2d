package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/diskspace/disktest"
)

// A full disk does not kill the sidecar. Badger writes through memory maps
// of files it extends first, so on a full filesystem a write is SIGBUS,
// not an error; before the disk guard the sidecar crashed on start (and at
// shutdown) and crash-looped until space was freed.
//
// The sidecar's data directory is on a small tmpfs, filled to the last
// byte at start and while running. Throughout: no process dies of a signal,
// checks are answered (a known BLOCK), RecordSigned is refused with
// ResourceExhausted "disk nearly full … recorded nothing", /readyz stays
// 200 and says degraded; once the filler is deleted, writes resume without
// a restart.
func TestFullDiskDoesNotKillTheSidecar(t *testing.T) {
	mnt := disktest.Mount(t, 48<<20)
	cfg := filepath.Join(t.TempDir(), "sidecar.json")
	// The default threshold (384 MiB) is larger than this disk.
	if err := os.WriteFile(cfg, []byte(`{"min_free_bytes": 8388608}`), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(mnt, "data")

	// A healthy start: the demo release is built and stored, an order
	// recorded; then kill -9, which leaves Badger's logs as any crash does.
	sc := startDiskSidecar(t, data, "-config", cfg)
	sc.waitReady(t)
	expectBlock(t, sc)
	if err := recordSigned(sc, "P-DISK-0"); err != nil {
		t.Fatalf("RecordSigned with room on the disk: %v", err)
	}
	sc.kill()

	// Start on a full disk: the stores open read-only, the persisted
	// release is served.
	filler := disktest.Fill(t, mnt)
	sc = startDiskSidecar(t, data, "-config", cfg)
	sc.waitReady(t)
	load := keepChecking(t, sc)
	expectDegraded(t, sc, true)
	expectRefused(t, sc, "P-DISK-1")

	// Room again: the stores reopen for writing on their own.
	disktest.Free(t, filler)
	waitFor(t, "writes accepted again after the filler was deleted", 20*time.Second, func() bool {
		return !degraded(t, sc) && recordSigned(sc, "P-DISK-2") == nil
	})

	// Full while running: refused at once (a write re-measures), degraded
	// within a poll.
	// A ward signing on: before the guard, the memtable log's next page,
	// unbacked, was SIGBUS within a few hundred of these. (The disk is
	// filled once the reopened stores have settled: Badger flushes and
	// compacts what a reopen replayed, in the background, which the
	// threshold leaves room for but a filler taking the last byte would
	// not.)
	// The load pauses meanwhile: every check is a decision the decision
	// log writes, so the disk would never settle under it.
	load.stop(t)
	waitDiskSettled(t, mnt)
	filler = disktest.Fill(t, mnt)
	load = keepChecking(t, sc)
	for i := range 300 {
		expectRefused(t, sc, fmt.Sprintf("P-DISK-3-%04d-a-patient-id-long-enough-to-fill-log-pages-quickly", i))
	}
	waitFor(t, "/readyz degraded", 10*time.Second, func() bool { return degraded(t, sc) })
	expectBlock(t, sc)
	load.stop(t)

	// SIGTERM on the full disk: a clean exit, not SIGBUS in Badger's close.
	sc.stop(t)
	expectCleanExit(t, sc.proc)

	// Start again on the still full disk (the store was left unclosed),
	// and a sidecar on a fresh data directory there: it serves the
	// embedded demo release from memory.
	sc = startDiskSidecar(t, data, "-config", cfg)
	fresh := startDiskSidecar(t, filepath.Join(mnt, "fresh"), "-config", cfg)
	sc.waitReady(t)
	fresh.waitReady(t)
	load, freshLoad := keepChecking(t, sc), keepChecking(t, fresh)
	for _, s := range []*sidecar{sc, fresh} {
		expectDegraded(t, s, true)
		expectRefused(t, s, "P-DISK-4")
	}

	disktest.Free(t, filler)
	for _, s := range []*sidecar{sc, fresh} {
		waitFor(t, "writes accepted again after the filler was deleted", 20*time.Second, func() bool {
			return !degraded(t, s) && recordSigned(s, "P-DISK-5") == nil
		})
	}
	waitFor(t, "the fresh sidecar to store the demo release", 20*time.Second, func() bool {
		return strings.Contains(fresh.out.String(), "activated knowledge release")
	})
	load.stop(t)
	freshLoad.stop(t)
	for _, s := range []*sidecar{sc, fresh} {
		s.stop(t)
		expectCleanExit(t, s.proc)
	}
	// The fresh sidecar stored the demo release once there was room.
	fresh = startDiskSidecar(t, filepath.Join(mnt, "fresh"), "-config", cfg)
	fresh.waitReady(t)
	waitFor(t, "the restarted fresh sidecar to serve the stored demo release", 10*time.Second, func() bool {
		return strings.Contains(fresh.out.String(), "serving persisted release")
	})
	expectBlock(t, fresh)
	fresh.stop(t)
	expectCleanExit(t, fresh.proc)
}

// startDiskSidecar is startSidecar whose log, if the test fails, is shown
// as its log lines and the start of a Go fatal error (a SIGBUS dump is
// too long for the tail the process helper shows).
func startDiskSidecar(t *testing.T, data string, extra ...string) *sidecar {
	t.Helper()
	sc := startSidecar(t, data, extra...)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		out := sc.out.String()
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "time=") {
				lines = append(lines, l)
			}
		}
		if i := strings.Index(out, "fatal error"); i >= 0 {
			lines = append(lines, out[i:min(len(out), i+1500)])
		}
		t.Logf("--- sidecar on %s: log and crash:\n%s", data, strings.Join(lines, "\n"))
	})
	return sc
}

// waitDiskSettled waits until the free space on dir has not changed for a
// second: no background flush or compaction is writing.
func waitDiskSettled(t *testing.T, dir string) {
	t.Helper()
	var last uint64
	same := 0
	waitFor(t, "the disk usage to settle", 30*time.Second, func() bool {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		if free := st.Bavail; free != last {
			last, same = free, 0
			return false
		}
		same++
		return same >= 50 // waitFor polls every 20 ms
	})
}

func expectBlock(t *testing.T, sc *sidecar) {
	t.Helper()
	resp, err := sc.client.CheckOrders(context.Background(), checkRequest(t, "D370800000001"))
	if err != nil {
		t.Fatalf("CheckOrders: %v", err)
	}
	if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || findingTypes(resp)["DRUG_GENDER"] == nil {
		t.Fatalf("CheckOrders: want BLOCK with DRUG_GENDER, got %v %v", resp.Verdict, resp.Findings)
	}
}

func recordSigned(sc *sidecar, patient string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sc.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
		PatientId: patient, EncounterId: "E-DISK",
		Orders: []*rxguardv1.OrderLine{{LineId: "1", ItemCode: "001103000010000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1}},
	})
	return err
}

func expectRefused(t *testing.T, sc *sidecar, patient string) {
	t.Helper()
	err := recordSigned(sc, patient)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "disk nearly full") ||
		!strings.Contains(err.Error(), "recorded nothing") {
		t.Fatalf("RecordSigned on a full disk: want ResourceExhausted \"disk nearly full … recorded nothing\", got %v", err)
	}
	if sc.exited() {
		t.Fatalf("sidecar exited: %v", sc.err)
	}
}

// degraded reads /readyz, which must answer 200 either way.
func degraded(t *testing.T, sc *sidecar) bool {
	t.Helper()
	if sc.exited() {
		t.Fatalf("sidecar exited: %v\n%s", sc.err, tail(sc.out.String(), 3000))
	}
	code, body := httpGet(sc.httpAddr, "/readyz")
	if code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	var r struct {
		Degraded *bool `json:"degraded"`
		Storage  []struct {
			Store    string `json:"store"`
			Writable bool   `json:"writable"`
			Detail   string `json:"detail"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Degraded == nil || len(r.Storage) != 3 {
		t.Fatalf("/readyz without storage detail: %v %s", err, body)
	}
	if *r.Degraded {
		for _, s := range r.Storage {
			if !s.Writable && !strings.Contains(s.Detail, "disk nearly full") {
				t.Fatalf("/readyz: store %s not writable without a reason: %s", s.Store, body)
			}
		}
	}
	return *r.Degraded
}

func expectDegraded(t *testing.T, sc *sidecar, want bool) {
	t.Helper()
	if got := degraded(t, sc); got != want {
		_, body := httpGet(sc.httpAddr, "/readyz")
		t.Fatalf("/readyz degraded = %v, want %v: %s", got, want, body)
	}
}

// expectCleanExit: the process ended by itself with status 0.
func expectCleanExit(t *testing.T, p *proc) {
	t.Helper()
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("%s died of %v\n%s", p.name, ws.Signal(), tail(p.out.String(), 4000))
		}
	}
	if p.err != nil {
		t.Fatalf("%s exited with %v\n%s", p.name, p.err, tail(p.out.String(), 4000))
	}
}

// checker sends checks in a loop; every one must be answered BLOCK.
type checker struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	n      int
	failed []string
}

func keepChecking(t *testing.T, sc *sidecar) *checker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{cancel: cancel}
	req := checkRequest(t, "D370800000001")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for ctx.Err() == nil {
			resp, err := sc.client.CheckOrders(ctx, req)
			if ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			c.n++
			switch {
			case err != nil:
				c.failed = append(c.failed, err.Error())
			case resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK:
				c.failed = append(c.failed, "verdict "+resp.Verdict.String())
			}
			c.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(cancel)
	return c
}

func (c *checker) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failed) > 0 {
		t.Fatalf("%d of %d checks failed, first: %s", len(c.failed), c.n, c.failed[0])
	}
	if c.n == 0 {
		t.Fatal("no check was answered")
	}
	t.Logf("%d checks answered BLOCK", c.n)
}

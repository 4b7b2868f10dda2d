package decisionlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The kill test runs this test binary as a child that appends decisions
// and writes an acknowledgement line ("<id> <unix nanos>") after each
// Append returns, then kills it with SIGKILL, reopens the store and looks
// for every acknowledged decision. A lost one's age at the kill is the
// loss window of Async durability.
const (
	helperDirEnv  = "RXGUARD_DECISIONLOG_KILL_DIR"
	helperAcksEnv = "RXGUARD_DECISIONLOG_KILL_ACKS"
	helperSyncEnv = "RXGUARD_DECISIONLOG_KILL_SYNC"
	// helperPeriodEnv: each of the child's 8 callers checks this often.
	helperPeriodEnv = "RXGUARD_DECISIONLOG_KILL_PERIOD"
)

// TestKillHelper is the child; it does nothing in a normal run.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("the kill test's child process")
	}
	acks, err := os.OpenFile(os.Getenv(helperAcksEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Dir: dir, Logger: quietLogger()}
	if os.Getenv(helperSyncEnv) != "" {
		o.Durability = Sync
	}
	l, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := templates(64, 100, 10, 1000)
	period, err := time.ParseDuration(os.Getenv(helperPeriodEnv))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := c; ; i += 8 {
				e := tmpl[i%len(tmpl)]
				e.Time = time.Now()
				e.ID = NewID(e.Time)
				l.Append(context.Background(), e)
				line := e.ID + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\n"
				mu.Lock()
				_, err := acks.WriteString(line) // unbuffered: in the kernel before the next Append
				mu.Unlock()
				if err != nil {
					panic(err)
				}
				time.Sleep(period)
			}
		})
	}
	wg.Wait()
}

func TestKillLosesAtMostTheCommitWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	kills := 5
	if s := os.Getenv("RXGUARD_DECISIONLOG_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	for _, mode := range []string{"async", "sync"} {
		t.Run(mode, func(t *testing.T) {
			// One store through every kill: each restart also recovers
			// what the previous kill left.
			dir := filepath.Join(t.TempDir(), "decisions")
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			var worst time.Duration
			var worstLost, totalAcked, totalLost int
			for k := range kills {
				acksPath := filepath.Join(t.TempDir(), fmt.Sprintf("acks-%d", k))
				cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
				// 8 callers, each a check every 2 ms: ~4,000 decisions/s,
				// a busy hospital's peak many times over, below the
				// writer's capacity (which the race detector divides).
				period := 2 * time.Millisecond
				if raceEnabled {
					period = 20 * time.Millisecond
				}
				cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperAcksEnv+"="+acksPath, helperPeriodEnv+"="+period.String())
				if mode == "sync" {
					cmd.Env = append(cmd.Env, helperSyncEnv+"=1")
				}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// Let it get going, then kill it at a random moment.
				waitForAcks(t, acksPath, 100, &stderr)
				time.Sleep(time.Duration(50+r.IntN(300)) * time.Millisecond)
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed := time.Now()
				cmd.Wait()

				acked := readAcks(t, acksPath)
				l, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()})
				if err != nil {
					t.Fatal(err)
				}
				lost := 0
				for id, at := range acked {
					if _, err := l.Get(context.Background(), id); errors.Is(err, ErrDecisionNotFound) {
						lost++
						worst = max(worst, killed.Sub(at))
					} else if err != nil {
						t.Fatal(err)
					}
				}
				if st := l.Status(); st.State != StateOK {
					t.Fatalf("status after kill %d: %+v", k, st)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				worstLost = max(worstLost, lost)
				totalAcked += len(acked)
				totalLost += lost
			}
			t.Logf("%s: %d kills, %d decisions acknowledged, %d lost in all, at most %d in one kill; the oldest lost was acknowledged %v before the kill",
				mode, kills, totalAcked, totalLost, worstLost, worst.Round(100*time.Microsecond))
			if mode == "sync" && totalLost > 0 {
				t.Fatalf("Sync lost %d acknowledged decisions", totalLost)
			}
			// A kill loses the group being gathered (at most the commit
			// interval) and the one being encoded and handed to Badger: a
			// commit does not wait for an fsync (that is what a kill does
			// not need; see sync.go), so a slow disk does not widen the
			// window. The slack covers encoding and scheduling on a loaded
			// two-core machine and the kill's own latency; the race
			// detector slows encoding several times over. Measured with 20
			// kills: ≤ 7.4 ms, ≤ 11.1 ms under the race detector.
			slack := 10 * time.Millisecond
			if raceEnabled {
				slack *= 3
			}
			if limit := DefaultCommitInterval + slack; worst > limit {
				t.Fatalf("a decision acknowledged %v before the kill was lost: the commit interval %v allows at most %v",
					worst, DefaultCommitInterval, limit)
			}
		})
	}
}

func waitForAcks(t *testing.T, path string, n int, stderr *strings.Builder) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.Count(string(b), "\n") >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the child acknowledged fewer than %d decisions in 30 s; its stderr:\n%s", n, stderr.String())
}

func readAcks(t *testing.T, path string) map[string]time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	acks := map[string]time.Time{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, ns, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			continue // a line the kill cut short
		}
		acks[id] = time.Unix(0, n)
	}
	return acks
}

package pluginhost

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// While four goroutines call Evaluate in a loop, the plugin process is
// SIGKILLed again and again. Evaluate never panics or hangs, answers with
// the plugin's finding or the fail_open finding and nothing else, and the
// plugin is back within a second of every kill.
func TestChaosKill(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test takes ~3 s")
	}
	const (
		kills      = 6
		timeout    = 500 * time.Millisecond // generous: -race, 2 CPUs, plugin restarts competing
		recoverMax = time.Second
	)
	cfg := okConfig("chaos", "CHAOS")
	cfg.Timeout = timeout
	m := startManager(t, cfg)

	var (
		stop                = make(chan struct{})
		wg                  sync.WaitGroup
		real, failed, other atomic.Int64
		maxCall             atomic.Int64
		otherExample        atomic.Pointer[[]*rxguardv1.Finding]
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				fs := m.Evaluate(context.Background(), request("w"))
				d := int64(time.Since(t0))
				for {
					cur := maxCall.Load()
					if d <= cur || maxCall.CompareAndSwap(cur, d) {
						break
					}
				}
				switch {
				case isReal(fs, "chaos", "CHAOS"):
					real.Add(1)
				case isFailure(fs, "chaos", rxguardv1.Action_ACTION_INFO):
					failed.Add(1)
				default:
					other.Add(1)
					otherExample.Store(&fs)
				}
			}
		})
	}
	var stopOnce sync.Once
	stopWorkers := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer stopWorkers() // on t.Fatal

	var maxRecover, sumRecover time.Duration
	killed := make([]int, 0, kills)
	for i := range kills {
		time.Sleep(300*time.Millisecond + rand.N(200*time.Millisecond))
		s := m.Status()[0]
		if s.State != StateRunning || s.PID <= 0 {
			t.Fatalf("kill %d: status %+v, want running", i, s)
		}
		if err := syscall.Kill(s.PID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		t0 := time.Now()
		killed = append(killed, s.PID)
		// Back means: a call made after the kill gets the real finding,
		// which only a new process can give.
		for !isReal(m.Evaluate(context.Background(), request("probe")), "chaos", "CHAOS") {
			if time.Since(t0) > recoverMax {
				t.Fatalf("kill %d: plugin not back %v after SIGKILL; status %+v", i, recoverMax, m.Status()[0])
			}
			time.Sleep(2 * time.Millisecond)
		}
		rec := time.Since(t0)
		sumRecover += rec
		maxRecover = max(maxRecover, rec)
		if now := m.Status()[0].PID; now == s.PID {
			t.Fatalf("kill %d: pid still %d", i, now)
		}
	}
	stopWorkers()

	s := m.Status()[0]
	t.Logf("%d kills: time to recover max %v, mean %v; worker calls: %d real, %d fail_open, max call %v; status: restarts=%d start_failures=%d calls=%d errors=%d timeouts=%d unavailable=%d",
		kills, maxRecover, sumRecover/kills, real.Load(), failed.Load(), time.Duration(maxCall.Load()),
		s.Restarts, s.StartFailures, s.Calls, s.Errors, s.Timeouts, s.Unavailable)
	if n := other.Load(); n > 0 {
		t.Errorf("%d calls returned neither the finding nor the failure finding, e.g. %v", n, *otherExample.Load())
	}
	if real.Load() == 0 || failed.Load() == 0 {
		t.Errorf("want both real and fail_open answers, got %d and %d", real.Load(), failed.Load())
	}
	if d := time.Duration(maxCall.Load()); d > timeout+250*time.Millisecond {
		t.Errorf("slowest Evaluate %v, timeout %v", d, timeout)
	}
	if s.Restarts != kills || s.State != StateRunning {
		t.Errorf("restarts = %d, state %s; want %d, running", s.Restarts, s.State, kills)
	}
	for _, pid := range killed {
		waitGone(t, pid, time.Second)
	}
}

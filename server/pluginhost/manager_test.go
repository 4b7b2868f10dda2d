package pluginhost

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestEvaluateOK(t *testing.T) {
	m := startManager(t, okConfig("abx", "ABX_TIER", "-action", "ACTION_BLOCK"))

	fs := m.Evaluate(context.Background(), request("r1"))
	if !isReal(fs, "abx", "ABX_TIER") {
		t.Fatalf("findings = %v, want the plugin's one finding", fs)
	}
	f := fs[0]
	if f.FindingId != "" || f.Overridable || f.Action != rxguardv1.Action_ACTION_BLOCK || len(f.LineIds) != 1 || f.LineIds[0] != "L1" {
		t.Errorf("finding = %v: want empty id, BLOCK not overridable, line L1", f)
	}

	st := m.Status()
	if len(st) != 1 {
		t.Fatalf("status = %+v", st)
	}
	s := st[0]
	if s.State != StateRunning || s.PID <= 0 || s.Reason != "" || s.Restarts != 0 {
		t.Errorf("status = %+v, want running with a pid", s)
	}
	if s.Plugin.Name != "testplugin" || s.Plugin.Version != "1.2.3" || len(s.Plugin.RuleIDs) != 1 || s.Plugin.RuleIDs[0] != "ABX_TIER" {
		t.Errorf("described as %+v", s.Plugin)
	}
	if s.Calls != 1 || s.Errors != 0 || s.Latency.Count != 1 || s.Latency.Max <= 0 || len(s.Latency.Buckets) != len(LatencyBounds())+1 {
		t.Errorf("counters = %+v", s)
	}
}

func TestWarnFindingIsOverridableAndUnknownActionIsWarn(t *testing.T) {
	m := startManager(t,
		okConfig("warn", "W", "-action", "ACTION_WARN"),
		okConfig("odd", "U", "-action", "ACTION_UNSPECIFIED"))
	fs := m.Evaluate(context.Background(), request("r1"))
	if len(fs) != 2 {
		t.Fatalf("findings = %v", fs)
	}
	for i, name := range []string{"warn", "odd"} { // configuration order
		if fs[i].Source != "plugin:"+name || fs[i].Action != rxguardv1.Action_ACTION_WARN || !fs[i].Overridable {
			t.Errorf("finding %d = %v: want %s, WARN, overridable", i, fs[i], name)
		}
	}
}

// A plugin whose file does not match its pin is never executed: its main
// would create the marker file.
func TestPinMismatchNeverExecuted(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")

	// Control: with the right pin the marker does appear, so its absence
	// below means something.
	good := okConfig("good", "G", "-marker", marker)
	m := startManager(t, good)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("control: marker not created by a correctly pinned plugin: %v", err)
	}
	_ = m.Close()
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}

	wrongPin := strings.Repeat("ab", 32)
	for _, policy := range []Policy{FailOpen, FailClosed} {
		t.Run(string(policy), func(t *testing.T) {
			bad := okConfig("pinned", "P", "-marker", marker)
			bad.SHA256 = wrongPin
			bad.OnFailure = policy
			missing := okConfig("missing", "M")
			missing.Path = filepath.Join(dir, "no-such-plugin")
			missing.OnFailure = policy
			m := startManager(t, bad, missing)

			fs := m.Evaluate(context.Background(), request("r1"))
			want := rxguardv1.Action_ACTION_INFO
			if policy == FailClosed {
				want = rxguardv1.Action_ACTION_WARN
			}
			if len(fs) != 2 || !isFailure(fs[:1], "pinned", want) || !isFailure(fs[1:], "missing", want) {
				t.Fatalf("findings = %v, want one %v failure finding per plugin", fs, want)
			}
			if !strings.Contains(fs[0].Message, "本地政策") {
				t.Errorf("message %q should say the local policy was not checked", fs[0].Message)
			}
			time.Sleep(100 * time.Millisecond) // a run would have created it by now
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Fatalf("marker exists (err=%v): the mismatched binary was executed", err)
			}
			st := m.Status()
			if st[0].State != StateNotStarted || !strings.Contains(st[0].Reason, "SHA-256 mismatch") || st[0].PID != 0 {
				t.Errorf("pinned status = %+v, want not_started with a SHA-256 reason", st[0])
			}
			if st[1].State != StateNotStarted || !strings.Contains(st[1].Reason, "no such file") {
				t.Errorf("missing status = %+v, want not_started, no such file", st[1])
			}
			if st[0].Unavailable != 1 || st[0].Calls != 1 || st[0].StartFailures != 0 {
				t.Errorf("counters = %+v", st[0])
			}
		})
	}
}

func TestSlowPluginTimesOut(t *testing.T) {
	const timeout = 30 * time.Millisecond
	for _, policy := range []Policy{FailOpen, FailClosed} {
		t.Run(string(policy), func(t *testing.T) {
			cfg := okConfig("slow", "S", "-sleep", "500ms")
			cfg.Timeout, cfg.OnFailure = timeout, policy
			m := startManager(t, cfg)
			want := rxguardv1.Action_ACTION_INFO
			if policy == FailClosed {
				want = rxguardv1.Action_ACTION_WARN
			}
			for range 3 {
				t0 := time.Now()
				fs := m.Evaluate(context.Background(), request("r1"))
				if d := time.Since(t0); d > timeout+100*time.Millisecond {
					t.Errorf("Evaluate took %v with a %v timeout", d, timeout)
				}
				if !isFailure(fs, "slow", want) || !strings.Contains(fs[0].Evidence, "超时") {
					t.Fatalf("findings = %v, want the %v timeout finding", fs, want)
				}
			}
			s := m.Status()[0]
			if s.Timeouts != 3 || s.Errors != 0 || s.State != StateRunning || s.LastError == "" {
				t.Errorf("status = %+v, want 3 timeouts, still running", s)
			}
		})
	}
}

// Plugins run in parallel: one slow plugin does not delay the others, and
// the whole call takes about the largest timeout, not the sum.
func TestPluginsRunInParallel(t *testing.T) {
	var cfgs []Config
	for _, n := range []string{"s1", "s2", "s3"} {
		c := okConfig(n, "S", "-sleep", "500ms")
		c.Timeout = 150 * time.Millisecond
		cfgs = append(cfgs, c)
	}
	m := startManager(t, append(cfgs, okConfig("fast", "F"))...)
	t0 := time.Now()
	fs := m.Evaluate(context.Background(), request("r1"))
	d := time.Since(t0)
	if d > 300*time.Millisecond {
		t.Errorf("Evaluate took %v; three 150 ms timeouts in parallel should take ~150 ms", d)
	}
	if len(fs) != 4 || !isReal(fs[3:], "fast", "F") {
		t.Fatalf("findings = %v", fs)
	}
	for i := range 3 {
		if !isFailure(fs[i:i+1], cfgs[i].Name, rxguardv1.Action_ACTION_INFO) {
			t.Errorf("finding %d = %v, want fail_open INFO", i, fs[i])
		}
	}
}

func TestCallerContextBoundsEvaluate(t *testing.T) {
	cfg := okConfig("slow", "S", "-sleep", "2s")
	cfg.Timeout = 5 * time.Second
	m := startManager(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	fs := m.Evaluate(ctx, request("r1"))
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Errorf("Evaluate took %v, caller's deadline was 50 ms", d)
	}
	if !isFailure(fs, "slow", rxguardv1.Action_ACTION_INFO) {
		t.Fatalf("findings = %v", fs)
	}
	if s := m.Status()[0]; s.Canceled != 1 || s.Timeouts != 0 {
		t.Errorf("status = %+v, want one canceled call", s)
	}
}

// A request that kills the plugin gets the failure finding; the plugin is
// back for the next one.
func TestCrashOnRequestRestarts(t *testing.T) {
	cfg := okConfig("crashy", "C")
	cfg.OnFailure = FailClosed
	m := startManager(t, cfg)
	pid := m.Status()[0].PID

	fs := m.Evaluate(context.Background(), request("crash"))
	if !isFailure(fs, "crashy", rxguardv1.Action_ACTION_WARN) {
		t.Fatalf("findings = %v, want fail_closed WARN", fs)
	}
	t0 := time.Now()
	waitFor(t, 2*time.Second, "plugin back", func() bool {
		return isReal(m.Evaluate(context.Background(), request("ok")), "crashy", "C")
	})
	t.Logf("back %v after the crash", time.Since(t0))
	s := m.Status()[0]
	if s.Restarts != 1 || s.PID == pid || s.State != StateRunning {
		t.Errorf("status = %+v, want running, 1 restart, new pid", s)
	}
	waitGone(t, pid, time.Second)
}

func TestProtocolVersionMismatchFails(t *testing.T) {
	cfg := okConfig("v2", "V", "-protocol", "2")
	m := startManager(t, cfg)
	s := m.Status()[0]
	if s.State != StateFailed || !strings.Contains(s.Reason, "protocol version") || !strings.Contains(s.Reason, "Plugin version: 2") {
		t.Fatalf("status = %+v, want failed naming the protocol versions", s)
	}
	if fs := m.Evaluate(context.Background(), request("r1")); !isFailure(fs, "v2", rxguardv1.Action_ACTION_INFO) {
		t.Fatalf("findings = %v", fs)
	}
	time.Sleep(200 * time.Millisecond)
	if s := m.Status()[0]; s.StartFailures != 1 {
		t.Errorf("start failures = %d, want 1 (no retries)", s.StartFailures)
	}
}

// A plugin that dies before its handshake is retried with growing delays,
// not in a tight loop.
func TestCrashLoopBacksOff(t *testing.T) {
	m := startManager(t, okConfig("loop", "L", "-exit-at-start"))
	if s := m.Status()[0]; s.State != StateRestarting || s.StartFailures != 1 || !strings.Contains(s.Reason, "start failed") {
		t.Fatalf("status = %+v, want restarting after one failed start", s)
	}
	time.Sleep(time.Second)
	// Delays 50+100+200+400 ms (+ start time) fit 4-5 attempts in a second.
	s := m.Status()[0]
	if s.StartFailures < 3 || s.StartFailures > 6 {
		t.Errorf("start failures after 1 s = %d, want 3..6 (exponential backoff)", s.StartFailures)
	}
	if fs := m.Evaluate(context.Background(), request("r1")); !isFailure(fs, "loop", rxguardv1.Action_ACTION_INFO) || !strings.Contains(fs[0].Evidence, "重启") {
		t.Errorf("findings = %v", fs)
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{50, 100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
}

// The plugin's parent-death signal is tied to the thread that forked it,
// and the Go runtime ends a thread when a goroutine locked to it returns.
// Here Start is called from such a goroutine, and then many goroutines lock
// a thread and return, ending threads from the runtime's pool: the plugin
// must survive all of it, because only its supervisor's thread, which
// nothing else runs on, forks it.
func TestPluginSurvivesThreadExits(t *testing.T) {
	var m *Manager
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		m, err = Start(context.Background(), []Config{okConfig("t", "T")}, quietLogger())
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pid := m.Status()[0].PID
	for range 200 {
		wg.Go(func() {
			runtime.LockOSThread()
			time.Sleep(time.Millisecond)
		})
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	if processGone(pid) {
		t.Fatalf("plugin %d died when a thread of the host ended", pid)
	}
	if fs := m.Evaluate(context.Background(), request("r1")); !isReal(fs, "t", "T") {
		t.Fatalf("findings = %v", fs)
	}
	if s := m.Status()[0]; s.Restarts != 0 || s.PID != pid {
		t.Errorf("status = %+v, want the same process", s)
	}
}

func TestEvaluateEdgeCases(t *testing.T) {
	var nilM *Manager
	if fs := nilM.Evaluate(context.Background(), request("r1")); fs != nil {
		t.Errorf("nil manager: %v", fs)
	}
	empty := startManager(t)
	if fs := empty.Evaluate(context.Background(), request("r1")); fs != nil {
		t.Errorf("no plugins: %v", fs)
	}
	m := startManager(t, okConfig("p", "P"))
	if fs := m.Evaluate(context.Background(), nil); !isReal(fs, "p", "P") {
		t.Errorf("nil request: %v", fs)
	}
	pid := m.Status()[0].PID
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if fs := m.Evaluate(context.Background(), request("r1")); !isFailure(fs, "p", rxguardv1.Action_ACTION_INFO) {
		t.Errorf("after Close: %v", fs)
	}
	if s := m.Status()[0]; s.State != StateStopped || s.PID != 0 {
		t.Errorf("after Close: %+v", s)
	}
	if !processGone(pid) {
		t.Errorf("plugin %d still running after Close", pid)
	}
}

func TestStartReturnsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := Start(ctx, []Config{okConfig("p", "P")}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// It still comes up in the background.
	waitFor(t, 5*time.Second, "plugin running", func() bool { return m.Status()[0].State == StateRunning })
	if fs := m.Evaluate(context.Background(), request("r1")); !isReal(fs, "p", "P") {
		t.Fatalf("findings = %v", fs)
	}
}

// Manager is what server.WithPlugins takes (server.PluginRunner).
var _ interface {
	Evaluate(context.Context, *pluginv1.EvaluateRequest) []*rxguardv1.Finding
} = (*Manager)(nil)

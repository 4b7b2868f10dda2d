package pluginhost

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNoOrphansAfterClose(t *testing.T) {
	m := startManager(t, okConfig("a", "A"), okConfig("b", "B"), okConfig("slow", "S", "-sleep", "10s"))
	// Leave a call in flight in the slow plugin: Close must still end it.
	go m.Evaluate(context.Background(), request("r1"))
	time.Sleep(50 * time.Millisecond)
	var pids []int
	for _, s := range m.Status() {
		if s.PID <= 0 || processGone(s.PID) {
			t.Fatalf("%s: pid %d not running before Close", s.Name, s.PID)
		}
		pids = append(pids, s.PID)
	}
	t0 := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(t0))
	for _, pid := range pids {
		if !processGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("plugin %d still running after Close", pid)
		}
	}
}

// TestHelperHost is not a test: run with helperEnv set (by
// TestPluginsDieWithKilledHost) it is a plugin host that prints its
// plugin's pid and waits to be killed.
func TestHelperHost(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestPluginsDieWithKilledHost")
	}
	m, err := Start(context.Background(), []Config{okConfig("child", "C")}, quietLogger())
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Printf("PID %d\n", m.Status()[0].PID)
	time.Sleep(time.Minute) // the parent SIGKILLs us long before
	os.Exit(1)
}

// The host is SIGKILLed (no Close, no deferred cleanup): the kernel kills
// its plugins (PR_SET_PDEATHSIG).
func TestPluginsDieWithKilledHost(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHost$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperEnv+"_PATH="+testPlugin, helperEnv+"_SUM="+testPluginSum,
		"TMPDIR="+t.TempDir()) // a SIGKILLed host cannot remove its plugins' sockets
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "PID ") || strings.HasPrefix(sc.Text(), "ERROR") {
				lines <- sc.Text()
				return
			}
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatal("helper host did not report its plugin")
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "PID "))
	if err != nil || pid <= 0 {
		t.Fatalf("helper said %q", line)
	}
	if processGone(pid) {
		t.Fatalf("plugin %d not running while its host lives", pid)
	}
	if ppid := parentOf(pid); ppid != cmd.Process.Pid {
		t.Fatalf("plugin %d has parent %d, want the helper host %d", pid, ppid, cmd.Process.Pid)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	t0 := time.Now()
	waitGone(t, pid, 2*time.Second)
	t.Logf("plugin %d gone %v after its host was SIGKILLed", pid, time.Since(t0))
}

func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:]) // state, ppid, ...
	if len(f) < 2 {
		return -1
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

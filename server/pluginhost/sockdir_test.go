package pluginhost

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leftovers lists everything below dir (relative paths).
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sockets lists the Unix sockets below dir.
func sockets(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, rel := range leftovers(t, dir) {
		if st, err := os.Lstat(filepath.Join(dir, rel)); err == nil && st.Mode()&fs.ModeSocket != 0 {
			out = append(out, rel)
		}
	}
	return out
}

// socketTMPDIR points TMPDIR at a new empty directory for the test.
func socketTMPDIR(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	if len(tmp)+len("/rxguard-1234567890")+len(socketSuffix) > maxSocketPath {
		t.Fatalf("t.TempDir() %q is too long for the host's socket directory; shorten the test's name", tmp)
	}
	t.Setenv("TMPDIR", tmp)
	return tmp
}

// killAndWaitRestart SIGKILLs plugin 0's process and waits for its
// replacement.
func killAndWaitRestart(t *testing.T, m *Manager) {
	t.Helper()
	s := m.Status()[0]
	if s.State != StateRunning || s.PID <= 0 {
		t.Fatalf("status %+v, want running", s)
	}
	if err := syscall.Kill(s.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "restart", func() bool {
		n := m.Status()[0]
		return n.State == StateRunning && n.PID > 0 && n.PID != s.PID && n.Restarts == s.Restarts+1
	})
	waitGone(t, s.PID, 2*time.Second)
}

// A plugin SIGKILLed again and again (it cannot remove its socket) leaves
// no socket in TMPDIR: only the running process's socket exists, and
// after Close nothing the host or its plugins made is left.
func TestSocketsAfterRestarts(t *testing.T) {
	tmp := socketTMPDIR(t)
	const kills = 4
	m, err := Start(t.Context(), []Config{okConfig("sock", "S")}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for range kills {
		killAndWaitRestart(t, m)
	}
	// The supervisor removes a dead process's directory right after
	// go-plugin's Kill returns, before the backoff and the next start.
	if s := sockets(t, tmp); len(s) != 1 {
		t.Errorf("after %d restarts TMPDIR holds %d sockets, want the running plugin's one: %v", kills, len(s), s)
	}
	if !isReal(m.Evaluate(t.Context(), request("r")), "sock", "S") {
		t.Fatal("plugin does not answer after its restarts")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, tmp); len(left) > 0 {
		t.Errorf("after Close TMPDIR holds %v, want nothing", left)
	}
}

// A plugin that cannot exit gracefully when the host stops (stopped,
// wedged: go-plugin's shutdown request never returns) is SIGKILLed, Close
// returns, and the socket it could not remove is gone with the host's
// directory.
func TestSocketsAfterHungClose(t *testing.T) {
	tmp := socketTMPDIR(t)
	m, err := Start(t.Context(), []Config{okConfig("a", "A"), okConfig("b", "B")}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pid := m.Status()[0].PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { _ = m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-closed
		t.Fatal("Close still waiting for a stopped plugin 10 s later")
	}
	waitGone(t, pid, 2*time.Second)
	if left := leftovers(t, tmp); len(left) > 0 {
		t.Errorf("after Close TMPDIR holds %v, want nothing", left)
	}
}

// When TMPDIR is too long for socket paths below a directory of the host,
// plugins still run (their socket goes directly into TMPDIR, as go-plugin
// does by default).
func TestLongTMPDIRStillRuns(t *testing.T) {
	base := t.TempDir()
	// Long enough that the host's directory would not fit, short enough
	// for go-plugin's own socket directly in it.
	long := filepath.Join(base, strings.Repeat("d", max(1, maxSocketPath-len(socketSuffix)-len("/rxguard-1234567890")-len(base))))
	if len(long)+len("/plugin1234567890") >= maxSocketPath {
		t.Skipf("t.TempDir() %q is too long for this test", base)
	}
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", long)
	m := startManager(t, okConfig("long", "L"))
	if !isReal(m.Evaluate(t.Context(), request("r")), "long", "L") {
		t.Fatalf("plugin does not answer with TMPDIR %q (%d bytes): %+v", long, len(long), m.Status()[0])
	}
}

package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// helperEnv, when set, makes this test binary a plugin host for
// TestHelperHost (see orphan_test.go) instead of a test run.
const helperEnv = "RXGUARD_PLUGINHOST_HELPER"

// testPlugin is the path of testdata/testplugin, built once per test binary;
// testPluginSum is its SHA-256.
var testPlugin, testPluginSum string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// The parent test built the plugin and passes it in.
		testPlugin, testPluginSum = os.Getenv(helperEnv+"_PATH"), os.Getenv(helperEnv+"_SUM")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		testPlugin = filepath.Join(dir, "testplugin")
		goBin, err := exec.LookPath("go")
		if err != nil {
			fmt.Fprintln(os.Stderr, "go tool not found:", err)
			return 1
		}
		build := exec.Command(goBin, "build", "-o", testPlugin, "./testdata/testplugin")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		build.Env = append(os.Environ(), "GOWORK=off") // a go.work above the checkout must not change the build
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building test plugin:", err)
			return 1
		}
		testPluginSum = fileSum(testPlugin)
		return m.Run()
	}()
	os.Exit(code)
}

func fileSum(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// okConfig is the test plugin answering one finding with rule id rule.
func okConfig(name, rule string, args ...string) Config {
	return Config{
		Name:    name,
		Path:    testPlugin,
		SHA256:  testPluginSum,
		Args:    append([]string{"-rule", rule}, args...),
		Timeout: 2 * time.Second, // generous: -race on a small machine
	}
}

func startManager(t testing.TB, cfgs ...Config) *Manager {
	t.Helper()
	m, err := Start(context.Background(), cfgs, quietLogger())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func request(id string) *pluginv1.EvaluateRequest {
	return &pluginv1.EvaluateRequest{
		Request: &rxguardv1.CheckOrdersRequest{
			RequestId: id,
			Orders:    []*rxguardv1.OrderLine{{LineId: "L1", ItemCode: "XJ01CAA040A001010101445"}},
		},
		PhysicianStatus:  &rxguardv1.PhysicianStatus{State: rxguardv1.QualificationState_QUALIFICATION_NORMAL},
		KnowledgeVersion: "test-1",
	}
}

// processGone reports whether pid no longer runs: no /proc entry, or a
// zombie nobody has reaped yet (an orphan's new parent may be slow to).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func waitGone(t testing.TB, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // don't leak it past the test
			t.Fatalf("process %d still running %v later", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isReal reports whether fs is exactly the test plugin's one finding.
func isReal(fs []*rxguardv1.Finding, name, rule string) bool {
	return len(fs) == 1 && fs[0].RuleId == rule && fs[0].Source == "plugin:"+name
}

// isFailure reports whether fs is exactly one failure-policy finding of
// plugin name with the given action.
func isFailure(fs []*rxguardv1.Finding, name string, action rxguardv1.Action) bool {
	return len(fs) == 1 && fs[0].RuleType == RuleTypeUnavailable && fs[0].Action == action &&
		fs[0].Source == "plugin:"+name && strings.Contains(fs[0].Message, name)
}

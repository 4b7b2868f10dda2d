// Package sdktest runs rxguard plugins in tests, two ways:
//
//   - InProcess serves a Policy over go-plugin's in-process gRPC test
//     transport: fast, no build, for table tests of the rule logic through the
//     real protocol (protobuf encoding, gRPC errors).
//   - Binary builds a plugin main package and starts the executable over the
//     real go-plugin transport (handshake, subprocess, gRPC), exactly as the
//     rxguard host does: at least one test per plugin should use it.
//
// Building is the slow part of Binary. A test binary that calls Main from
// TestMain builds each package once and shares the executable between tests:
//
//	func TestMain(m *testing.M) { sdktest.Main(m) }
package sdktest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
)

// InProcess serves p over go-plugin's in-process gRPC test transport and
// returns a client of it. The connection is closed when the test ends.
func InProcess(t testing.TB, p sdk.Policy) pluginv1.PolicyPluginServiceClient {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, sdk.PluginMap(p))
	// Close asks the server to stop (go-plugin's controller Shutdown); also
	// stopping it here would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("sdktest: dispense %q: %v", sdk.PluginName, err)
	}
	c, ok := raw.(pluginv1.PolicyPluginServiceClient)
	if !ok {
		t.Fatalf("sdktest: dispensed %T, not a PolicyPluginServiceClient", raw)
	}
	return c
}

// Binary builds the plugin main package pkg (an import path, or a directory
// relative to the test's package such as ".") and starts it with args over the
// real go-plugin transport, as the host does. It returns the dispensed client
// and a kill function; the process is also killed when the test ends.
func Binary(t testing.TB, pkg string, args ...string) (client pluginv1.PolicyPluginServiceClient, kill func()) {
	t.Helper()
	return Start(t, Build(t, pkg), args...)
}

// Start starts the plugin executable at path with args over the real
// go-plugin transport and returns the dispensed client; see Binary.
func Start(t testing.TB, path string, args ...string) (client pluginv1.PolicyPluginServiceClient, kill func()) {
	t.Helper()
	c, kill, err := Dial(t, path, args...)
	if err != nil {
		t.Fatalf("sdktest: start plugin %s: %v", path, err)
	}
	return c, kill
}

// Dial is Start that returns the error of starting the plugin (handshake,
// protocol version, dispense) instead of failing the test, for tests of
// what the host sees when a plugin is wrong. The plugin's log goes to t.Log.
func Dial(t testing.TB, path string, args ...string) (pluginv1.PolicyPluginServiceClient, func(), error) {
	t.Helper()
	w := &testWriter{t: t}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginMap(nil),
		Cmd:              exec.Command(path, args...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     30 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "plugin-host",
			Output: w,
			Level:  hclog.Debug,
		}),
		SyncStdout: w,
		SyncStderr: w,
	})
	var once sync.Once
	kill := func() {
		once.Do(func() {
			pc.Kill() // returns after the client's log goroutines are done
			w.close()
		})
	}
	t.Cleanup(kill)

	rpc, err := pc.Client()
	if err != nil {
		kill()
		return nil, nil, err
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		kill()
		return nil, nil, fmt.Errorf("dispense %q: %w", sdk.PluginName, err)
	}
	c, ok := raw.(pluginv1.PolicyPluginServiceClient)
	if !ok {
		kill()
		return nil, nil, fmt.Errorf("dispensed %T, not a PolicyPluginServiceClient", raw)
	}
	return c, kill, nil
}

// Evaluate calls c.Evaluate with a 10-second deadline and returns the
// findings, failing the test on an error.
func Evaluate(t testing.TB, c pluginv1.PolicyPluginServiceClient, req *pluginv1.EvaluateRequest) []*rxguardv1.Finding {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Evaluate(ctx, req)
	if err != nil {
		t.Fatalf("sdktest: Evaluate: %v", err)
	}
	return resp.GetFindings()
}

// Main runs the tests of a package that uses Binary, building each plugin
// package once for the whole test binary (into a temporary directory removed
// afterwards). Call it from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "rxguard-sdktest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdktest:", err)
		os.Exit(1)
	}
	cache.mu.Lock()
	cache.dir = dir
	cache.mu.Unlock()
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var cache struct {
	mu     sync.Mutex
	dir    string // set by Main; empty: no sharing
	builds map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the plugin main package pkg (see Binary) with the go
// command and returns the executable's path: shared by the whole test binary
// under Main, else in t.TempDir().
func Build(t testing.TB, pkg string) string {
	t.Helper()
	cache.mu.Lock()
	dir := cache.dir
	if dir == "" {
		cache.mu.Unlock()
		p, err := goBuild(t.TempDir(), pkg)
		if err != nil {
			t.Fatalf("sdktest: %v", err)
		}
		return p
	}
	if cache.builds == nil {
		cache.builds = map[string]*build{}
	}
	b := cache.builds[pkg]
	if b == nil {
		b = &build{}
		cache.builds[pkg] = b
	}
	n := len(cache.builds)
	cache.mu.Unlock()

	b.once.Do(func() {
		sub := filepath.Join(dir, fmt.Sprint(n))
		if b.err = os.Mkdir(sub, 0o755); b.err == nil {
			b.path, b.err = goBuild(sub, pkg)
		}
	})
	if b.err != nil {
		t.Fatalf("sdktest: %v", b.err)
	}
	return b.path
}

func goBuild(dir, pkg string) (string, error) {
	name := path.Base(filepath.ToSlash(pkg))
	if abs, err := filepath.Abs(pkg); err == nil && (name == "." || name == "..") {
		name = filepath.Base(abs) // "." is the test's own directory
	}
	out := filepath.Join(dir, name)
	if os.PathSeparator == '\\' {
		out += ".exe"
	}
	// go test puts its own go command first in PATH.
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOWORK=off") // a go.work above the checkout must not change the build
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(msg)))
	}
	return out, nil
}

// testWriter sends the plugin's and the go-plugin client's log lines to
// t.Log until close, after which it drops them (t.Log panics once the test
// is over).
type testWriter struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

var _ io.Writer = (*testWriter)(nil)

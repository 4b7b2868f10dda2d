// Package e2e runs rxguard as real processes: sidecars and the reference
// bureau on loopback, killed and restarted the way production ones are.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// rxguardBin is built once for the package by TestMain.
var rxguardBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rxguard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rxguardBin = filepath.Join(dir, "rxguard")
	build := exec.Command("go", "build", "-o", rxguardBin, "github.com/rxguard/rxguard/cmd/rxguard")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "GOWORK=off") // a go.work above the checkout must not change the build
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rxguard:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// start runs rxguard with args; the process is killed at cleanup and its
// output shown if the test failed.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(rxguardBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "GOMEMLIMIT=256MiB")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
		t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// run runs an rxguard command to completion.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rxguardBin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("rxguard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// freeAddr returns a loopback address nothing listens on right now.
// freeAddr is a loopback address with a port nothing listens on, for a
// process started later to listen on. The port is below the kernel's
// ephemeral range (net.ipv4.ip_local_port_range, 32768–60999 by default):
// a port the kernel handed out for ":0" may be handed out again as the
// source port of any outgoing connection before the process binds it (a
// sidecar failed to start on "address already in use" that way). Each
// port is handed out once per test binary.
func freeAddr(t *testing.T) string {
	t.Helper()
	usedPortsMu.Lock()
	defer usedPortsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if usedPorts[port] {
			continue
		}
		usedPorts[port] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return l.Addr().String()
	}
	t.Fatal("no free port in 20000–31999 after 1000 tries")
	return ""
}

var (
	usedPortsMu sync.Mutex
	usedPorts   = map[int]bool{}
)

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sidecar is a running `rxguard serve`.
type sidecar struct {
	*proc
	grpcAddr, httpAddr string
	client             rxguardv1.GuardServiceClient
}

func startSidecar(t *testing.T, data string, extra ...string) *sidecar {
	t.Helper()
	s := &sidecar{grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
	args := append([]string{"serve", "-data", data, "-grpc", s.grpcAddr, "-http", s.httpAddr}, extra...)
	s.proc = start(t, "sidecar", args...)
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.client = rxguardv1.NewGuardServiceClient(conn)
	return s
}

func (s *sidecar) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, "sidecar /readyz", 60*time.Second, func() bool {
		if s.exited() {
			t.Fatalf("sidecar exited: %v\n%s", s.err, tail(s.out.String(), 3000))
		}
		code, _ := httpGet(s.httpAddr, "/readyz")
		return code == http.StatusOK
	})
}

func httpGet(addr, path string) (int, []byte) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// syncStatus is the part of /status the tests read.
type syncStatus struct {
	Ready     bool `json:"ready"`
	Knowledge struct {
		Version string `json:"version"`
		SHA256  string `json:"content_sha256"`
	} `json:"knowledge"`
	Sync struct {
		LastSuccess         time.Time `json:"last_success"`
		LastError           string    `json:"last_error"`
		ConsecutiveFailures int       `json:"consecutive_failures"`
		Stale               bool      `json:"stale"`
		BureauLatest        string    `json:"bureau_latest"`
		VersionsBehind      int       `json:"versions_behind"`
		FeedCursor          int64     `json:"feed_cursor"`
		LastApply           string    `json:"last_apply_duration"`
	} `json:"sync"`
}

func (s *sidecar) status(t *testing.T) syncStatus {
	t.Helper()
	code, body := httpGet(s.httpAddr, "/status")
	var st syncStatus
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("/status: %v: %s", err, body)
		}
	}
	return st
}

// bureau is a running `rxguard bureau`.
type bureau struct {
	*proc
	addr, admin, dir, keyFile string
}

func startBureau(t *testing.T, dir, keyFile, addr, admin string) *bureau {
	t.Helper()
	b := &bureau{addr: addr, admin: admin, dir: dir, keyFile: keyFile}
	// The admin service requires an admin token: make one, as an
	// operator would, and hand it to the publish commands run later
	// (they inherit the environment).
	out := mustRun(t, "token", "new", "-role", "admin", "-name", "e2e-publisher")
	var token, line string
	for l := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(l, "token  "); ok {
			token = v
		}
		if v, ok := strings.CutPrefix(l, "line   "); ok {
			line = v
		}
	}
	tokens := filepath.Join(t.TempDir(), "admin-tokens")
	if err := os.WriteFile(tokens, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RXGUARD_TOKEN", token)
	b.proc = start(t, "bureau", "bureau", "-dir", dir, "-key", keyFile, "-listen", addr, "-admin", admin, "-admin-tokens", tokens)
	waitFor(t, "bureau listening", 60*time.Second, func() bool {
		if b.exited() {
			t.Fatalf("bureau exited: %v\n%s", b.err, b.out.String())
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		return false
	})
	return b
}

// keygen writes a key file and returns the public key sidecars pin.
func keygen(t *testing.T, dir string) (keyFile, public string) {
	t.Helper()
	keyFile = filepath.Join(dir, "bureau.key")
	out, err := exec.Command(rxguardBin, "bureau", "keygen", "-out", keyFile).Output() // stdout: the key alone
	if err != nil {
		t.Fatalf("bureau keygen: %v", err)
	}
	return keyFile, strings.TrimSpace(string(out))
}

// officialFiles copies the embedded knowledge files (the demo's sources) so
// a test can change them the way a bureau revision would.
func officialFiles(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "knowledge", "data")
	dst := filepath.Join(t.TempDir(), "official")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if filepath.Ext(path) == ".go" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// registerPhysician appends a physician to the demo registry of a copy of
// the official files.
func registerPhysician(t *testing.T, dir, line string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "demo", "physicians.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// checkRequest is the README's example order with a chosen physician and
// check time.
func checkRequest(t *testing.T, physician string) *rxguardv1.CheckOrdersRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "male-aifu-nuangong.json"))
	if err != nil {
		t.Fatal(err)
	}
	req := &rxguardv1.CheckOrdersRequest{}
	if err := protojson.Unmarshal(b, req); err != nil {
		t.Fatal(err)
	}
	req.Physician.Code = physician
	req.CheckTime = "2026-11-22T10:00:00+08:00"
	return req
}

func findingTypes(resp *rxguardv1.CheckOrdersResponse) map[string]*rxguardv1.Finding {
	out := map[string]*rxguardv1.Finding{}
	for _, f := range resp.GetFindings() {
		out[f.RuleType] = f
	}
	return out
}

package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/rxguard/rxguard/internal/benchecho"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

func TestSummarise(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	s := summarise(lat, 2*time.Second)
	if s.Calls != 100 || s.P50us != 50 || s.P99us != 99 || s.Throughput != 50 {
		t.Fatalf("summarise = %+v, want 100 calls, p50 50 µs, p99 99 µs, 50 calls/s", s)
	}
	if (summarise(nil, time.Second) != stats{}) {
		t.Fatal("no latencies should summarise to zero")
	}
}

func TestRSSOfThisProcess(t *testing.T) {
	kb, err := rssKiB(os.Getpid())
	if err != nil || kb <= 0 {
		t.Fatalf("rssKiB(self) = %d, %v", kb, err)
	}
	if _, err := rssKiB(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

// The three calls the comparison makes all succeed against a sidecar with
// the echo registered, and the echo answers the check's own response.
func TestRPCsAgainstASidecar(t *testing.T) {
	ctx := context.Background()
	m, records, _, err := demo.Release(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := engine.CompileRecords(m, records)
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := engine.New(engine.Config{})
	eng.Swap(idx)
	quiet := slog.New(slog.DiscardHandler)
	svc := check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quiet})
	srv := server.New(server.Options{Service: svc, Engine: eng, Logger: quiet,
		Register: func(r grpc.ServiceRegistrar) { benchecho.Register(r, &benchecho.Service{}) }})
	srv.SetReady()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, lis, nil) }()
	defer func() { cancel(); <-done }()

	r, err := newRPCs(lis.Addr().String(), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer r.conn.Close()
	resp, err := r.guard.CheckOrders(ctx, r.req)
	if err != nil || len(resp.Findings) == 0 {
		t.Fatalf("CheckOrders: %v, %d findings", err, len(resp.GetFindings()))
	}
	if err := benchecho.Prime(ctx, r.conn, resp); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"empty", "echo", "check"} {
		lat, took, err := r.run(name, 2, 100*time.Millisecond)
		if err != nil || len(lat) == 0 || took < 100*time.Millisecond {
			t.Fatalf("%s: %d calls in %s, %v", name, len(lat), took, err)
		}
	}
	echo, err := benchecho.Echo(ctx, r.conn, r.req)
	if err != nil || len(echo.Findings) != len(resp.Findings) {
		t.Fatalf("echo: %v, %d findings, want %d", err, len(echo.GetFindings()), len(resp.Findings))
	}
	if err := r.call(ctx, "nonsense"); err == nil {
		t.Fatal("an unknown rpc name was accepted")
	}
}

// TestApplyWindow: the window is the last install's, from the sidecar's
// log lines as slog's text handler writes them; a log without both lines
// is an error, not an empty window.
func TestApplyWindow(t *testing.T) {
	dir := t.TempDir()
	log := `time=2026-12-01T18:00:00.100Z level=INFO msg="fetching release from the bureau" version=a have=b
time=2026-12-01T18:00:00.900Z level=INFO msg="bureau release installed" version=a took=800ms
time=2026-12-01T18:01:00.250Z level=INFO msg="fetching release from the bureau" version=c have=a
time=2026-12-01T18:01:00.25Z level=INFO msg="checks served"
time=2026-12-01T18:01:01.125Z level=INFO msg="bureau release installed" version=c took=875ms
`
	path := filepath.Join(dir, "sidecar.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	from, to, err := applyWindow(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 1, 18, 1, 0, 250e6, time.UTC); !from.Equal(want) || to.Sub(from) != 875*time.Millisecond {
		t.Fatalf("window %s – %s, want %s + 875ms", from, to, want)
	}
	if err := os.WriteFile(path, []byte(log[:strings.LastIndex(log, "time=")]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := applyWindow(path); err == nil {
		t.Fatal("a fetch without its install gave a window")
	}
}

func TestRSSByFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "000001.sst")
	if err := os.WriteFile(path, bytes.Repeat([]byte{7}, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := syscall.Mmap(int(f.Fd()), 0, 4<<20, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(data)
	sum := 0
	for i := 0; i < len(data); i += 4096 {
		sum += int(data[i])
	}
	if sum != 7*1024 {
		t.Fatal("the map does not read the file")
	}
	got, err := rssByFile(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got["store/*.sst"] < 3.9 || got["binary"] <= 0 {
		t.Fatalf("rssByFile = %v; want store/*.sst ≈ 4 MB and the binary", got)
	}
	if _, err := rssByFile(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

func TestParseCPUTime(t *testing.T) {
	fields := func(cmd string, utime, stime string) []byte {
		// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
		return []byte("4242 (" + cmd + ") S 1 4242 4242 0 -1 4194560 900 0 3 0 " + utime + " " + stime + " 0 0 20 0 9 0 123 456\n")
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want time.Duration
		ok   bool
	}{
		{"plain", fields("rxguard", "250", "50"), 3 * time.Second, true},
		{"command with spaces and parentheses", fields("rx (guard) 2", "1", "2"), 30 * time.Millisecond, true},
		{"no command name", []byte("4242 rxguard S 1"), 0, false},
		{"cut short", []byte("4242 (rxguard) S 1 4242 4242 0 -1 4194560 900 0 3"), 0, false},
		{"not a number", fields("rxguard", "x", "50"), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPUTime(tc.raw)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("parseCPUTime = %v, %v; want %v (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}

// cpuTime of this process grows while it spins (within a generous wall
// time, so that a loaded CI machine only makes the test slower).
func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for deadline := time.Now().Add(20 * time.Second); ; {
		for i := range 100000 {
			x += i
		}
		now, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 100*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s of spinning added %v of CPU time (x=%d)", now-before, x)
		}
	}
	if _, err := cpuTime(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
	if d, err := cpuTime(0); d != 0 || err != nil {
		t.Fatalf("cpuTime(0) = %v, %v; want 0 (no pid given)", d, err)
	}
}

// The summary puts the server's CPU per call next to what the 85 %
// throughput target leaves a check beyond the echo.
func TestSummaryCPUBudget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	line := `{"measure":"grpc","callers":50,"lines":10,"request_bytes":1000,"response_bytes":5000,` +
		`"empty":{"calls":10,"p50_us":1,"p99_us":2,"calls_per_s":3,"server_cpu_us":40},` +
		`"echo":{"calls":10,"p50_us":1,"p99_us":2,"calls_per_s":3,"server_cpu_us":170},` +
		`"check":{"calls":10,"p50_us":1,"p99_us":2,"calls_per_s":3,"server_cpu_us":400},` +
		`"check_over_echo":{"p50":1,"p99":1,"throughput":0.4},"check_over_empty":{"p50":1,"p99":1,"throughput":0.1}}` + "\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := summarize(&buf, path); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	want := "server CPU per call: empty 40 µs, echo 170 µs, check 400 µs; the check's own work 230 µs (85 % of the echo's throughput on one saturated core leaves it 30 µs)"
	if !strings.Contains(out, want) {
		t.Fatalf("summary:\n%s\nwant a line with %q", out, want)
	}
}

// Command loadgen is the load generator of scripts/bench-scale.sh: it runs
// as its own process (pinned to another core than the sidecar with
// taskset) and measures a running rxguard built with -tags benchecho:
//
//	loadgen ready   -addr A -since NS           time from NS (unix ns) to SERVING
//	loadgen compare -addr A -callers 1,50 -pid PID
//	                                            CheckOrders vs echo vs empty call (and
//	                                            the server's CPU per call)
//	loadgen load    -addr A -n 100000 -pid PID  n checks, then the server's RSS
//	loadgen delta   -addr A -status URL -version V -pid PID -- CMD...
//	                                            check latency idle, then while CMD
//	                                            makes the sidecar switch to V
//	loadgen summary results.jsonl               the numbers next to the targets
//
// Results are printed as one JSON object per line on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/benchecho"
	"github.com/rxguard/rxguard/internal/benchorder"
	"github.com/rxguard/rxguard/internal/resident"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen ready|compare|load|delta|summary [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ready":
		err = cmdReady(os.Args[2:])
	case "compare":
		err = cmdCompare(os.Args[2:])
	case "load":
		err = cmdLoad(os.Args[2:])
	case "delta":
		err = cmdDelta(os.Args[2:])
	case "summary":
		err = cmdSummary(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (ready, compare, load, delta, summary)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

// cmdReady polls the health service until the sidecar serves and reports
// the time since -since (the script's timestamp taken before it started
// the sidecar).
func cmdReady(args []string) error {
	fs := flag.NewFlagSet("ready", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7600", "sidecar gRPC address")
	since := fs.Int64("since", 0, "unix nanoseconds the sidecar was started at")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	fs.Parse(args)
	conn, err := dial(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: rxguardv1.GuardService_ServiceDesc.ServiceName})
		cancel()
		if err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING {
			emit(map[string]any{"measure": "cold_start", "ready_ms": float64(time.Now().UnixNano()-*since) / 1e6})
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("sidecar at %s not SERVING after %s", *addr, *timeout)
}

type rpcs struct {
	conn   *grpc.ClientConn
	req    *rxguardv1.CheckOrdersRequest
	guard  rxguardv1.GuardServiceClient
	health healthpb.HealthClient
}

func newRPCs(addr string, lines int) (*rpcs, error) {
	conn, err := dial(addr)
	if err != nil {
		return nil, err
	}
	return &rpcs{conn: conn, req: benchorder.Order(lines), guard: rxguardv1.NewGuardServiceClient(conn), health: healthpb.NewHealthClient(conn)}, nil
}

func (r *rpcs) call(ctx context.Context, name string) error {
	var err error
	switch name {
	case "empty":
		_, err = r.health.Check(ctx, &healthpb.HealthCheckRequest{})
	case "echo":
		_, err = benchecho.Echo(ctx, r.conn, r.req)
	case "check":
		_, err = r.guard.CheckOrders(ctx, r.req)
	default:
		err = fmt.Errorf("unknown rpc %q", name)
	}
	return err
}

// run makes calls from callers goroutines for d; it returns every call's
// latency and the elapsed time.
func (r *rpcs) run(name string, callers int, d time.Duration) ([]time.Duration, time.Duration, error) {
	ctx := context.Background()
	lats := make([][]time.Duration, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 4096)
			for time.Now().Before(end) {
				t0 := time.Now()
				if err := r.call(ctx, name); err != nil {
					errs[c] = err
					return
				}
				l = append(l, time.Since(t0))
			}
			lats[c] = l
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, took, errors.Join(errs...)
}

type stats struct {
	Calls      int     `json:"calls"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	Throughput float64 `json:"calls_per_s"`
	// ServerCPUus is the sidecar's CPU time (all its threads, user and
	// system) per call, when compare is given its pid.
	ServerCPUus float64 `json:"server_cpu_us,omitempty"`
}

func summarise(lat []time.Duration, busy time.Duration) stats {
	if len(lat) == 0 {
		return stats{}
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))]) / 1e3 }
	return stats{Calls: len(s), P50us: q(0.50), P99us: q(0.99), Throughput: float64(len(s)) / busy.Seconds()}
}

// cmdCompare: CheckOrders against the empty call and the echo on the same
// server, rounds × (empty, echo, check) in rotating order per caller count.
func cmdCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7600", "sidecar gRPC address (built with -tags benchecho)")
	callersList := fs.String("callers", "1,50", "comma-separated caller counts")
	d := fs.Duration("duration", 3*time.Second, "duration of one measurement")
	rounds := fs.Int("rounds", 3, "rounds of (empty, echo, check) per caller count")
	lines := fs.Int("lines", 10, "order lines")
	warm := fs.Duration("warmup", 2*time.Second, "warm-up of each rpc before measuring")
	pid := fs.Int("pid", 0, "sidecar process id: its CPU time per call is reported")
	fs.Parse(args)
	r, err := newRPCs(*addr, *lines)
	if err != nil {
		return err
	}
	defer r.conn.Close()
	ctx := context.Background()
	resp, err := r.guard.CheckOrders(ctx, r.req)
	if err != nil {
		return fmt.Errorf("CheckOrders: %w", err)
	}
	if err := benchecho.Prime(ctx, r.conn, resp); err != nil {
		return fmt.Errorf("prime the echo (is the sidecar built with -tags benchecho?): %w", err)
	}
	names := []string{"empty", "echo", "check"}
	for _, n := range names {
		if _, _, err := r.run(n, 4, *warm); err != nil {
			return err
		}
	}
	for _, cs := range strings.Split(*callersList, ",") {
		callers, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil || callers < 1 {
			return fmt.Errorf("-callers %q: want positive integers", *callersList)
		}
		lat := map[string][]time.Duration{}
		busy, cpu := map[string]time.Duration{}, map[string]time.Duration{}
		for round := range *rounds {
			for k := range names {
				n := names[(k+round)%len(names)]
				cpu0, err := cpuTime(*pid)
				if err != nil {
					return err
				}
				l, took, err := r.run(n, callers, *d)
				if err != nil {
					return err
				}
				cpu1, err := cpuTime(*pid)
				if err != nil {
					return err
				}
				lat[n] = append(lat[n], l...)
				busy[n] += took
				cpu[n] += cpu1 - cpu0
			}
		}
		out := map[string]any{"measure": "grpc", "callers": callers, "lines": *lines,
			"request_bytes": protoSize(r.req), "response_bytes": protoSize(resp)}
		st := map[string]stats{}
		for _, n := range names {
			s := summarise(lat[n], busy[n])
			if *pid != 0 && s.Calls > 0 {
				s.ServerCPUus = float64(cpu[n].Microseconds()) / float64(s.Calls)
			}
			st[n], out[n] = s, s
		}
		out["check_over_echo"] = map[string]float64{"p50": st["check"].P50us / st["echo"].P50us, "p99": st["check"].P99us / st["echo"].P99us,
			"throughput": st["check"].Throughput / st["echo"].Throughput}
		out["check_over_empty"] = map[string]float64{"p50": st["check"].P50us / st["empty"].P50us, "p99": st["check"].P99us / st["empty"].P99us,
			"throughput": st["check"].Throughput / st["empty"].Throughput}
		emit(out)
	}
	return nil
}

// cmdLoad makes n checks from callers goroutines, then reports the
// server's resident set (VmRSS of -pid).
func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7600", "sidecar gRPC address")
	n := fs.Int("n", 100_000, "checks")
	callers := fs.Int("callers", 50, "concurrent callers")
	lines := fs.Int("lines", 10, "order lines")
	pid := fs.Int("pid", 0, "sidecar process id (its RSS is reported)")
	fs.Parse(args)
	r, err := newRPCs(*addr, *lines)
	if err != nil {
		return err
	}
	defer r.conn.Close()
	rssBefore, _ := rss(*pid)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, *callers)
	start := time.Now()
	for c := range *callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				if err := r.call(context.Background(), "check"); err != nil {
					errs[c] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	took := time.Since(start)
	time.Sleep(2 * time.Second) // let the decision log drain
	rssAfter, err := rss(*pid)
	if err != nil {
		return err
	}
	anon, file := rssParts(*pid)
	byFile, err := rssByFile(*pid)
	if err != nil {
		return err
	}
	emit(map[string]any{"measure": "steady_rss", "checks": *n, "seconds": took.Seconds(), "checks_per_s": float64(*n) / took.Seconds(),
		"rss_before_mb": rssBefore, "rss_after_mb": rssAfter, "rss_anon_mb": anon, "rss_file_mb": file, "rss_files_mb": byFile})
	return nil
}

// cmdDelta measures check latency (1 caller) on the idle sidecar for -idle,
// then runs the command after "--" (e.g. rxguard bureau publish DELTA) and
// measures until the sidecar's /status names -version: the delta's fetch,
// proof, store and switch. The server's RSS is sampled all along.
func cmdDelta(args []string) error {
	fs := flag.NewFlagSet("delta", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7600", "sidecar gRPC address")
	statusURL := fs.String("status", "http://127.0.0.1:7601/status", "sidecar /status URL")
	version := fs.String("version", "", "release version the sidecar switches to")
	idle := fs.Duration("idle", 5*time.Second, "idle measurement")
	pid := fs.Int("pid", 0, "sidecar process id (RSS sampled)")
	lines := fs.Int("lines", 10, "order lines")
	timeout := fs.Duration("timeout", 120*time.Second, "give up waiting for the switch after")
	sidecarLog := fs.String("sidecar-log", "", "the sidecar's log: checks started between its \"fetching release\" and \"bureau release installed\" lines are also reported as the apply's")
	fs.Parse(args)
	if *version == "" || fs.NArg() == 0 {
		return fmt.Errorf("delta needs -version V and a command after --")
	}
	r, err := newRPCs(*addr, *lines)
	if err != nil {
		return err
	}
	defer r.conn.Close()

	var rssMax atomic.Int64 // KiB, of the current phase
	stopSampling := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if kb, err := rssKiB(*pid); err == nil && kb > rssMax.Load() {
				rssMax.Store(kb)
			}
		}
	}()
	defer close(stopSampling)

	idleLat, idleTook, err := r.run("check", 1, *idle)
	if err != nil {
		return err
	}
	steadyRSS := rssMax.Swap(0)

	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	switched := make(chan time.Duration, 1)
	go func() {
		deadline := time.Now().Add(*timeout)
		for time.Now().Before(deadline) {
			if v, err := activeVersion(*statusURL); err == nil && v == *version {
				switched <- time.Since(start)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		switched <- -1
	}()
	var (
		during []time.Duration
		starts []time.Time
	)
	ctx := context.Background()
	var took time.Duration
	for took == 0 {
		select {
		case took = <-switched:
		default:
			t0 := time.Now()
			if err := r.call(ctx, "check"); err != nil {
				return err
			}
			during = append(during, time.Since(t0))
			starts = append(starts, t0)
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(fs.Args(), " "), err)
	}
	if took < 0 {
		return fmt.Errorf("sidecar did not switch to %s within %s", *version, *timeout)
	}
	switchRSS := rssMax.Load()
	i, d := summarise(idleLat, idleTook), summarise(during, took)
	out := map[string]any{"measure": "delta", "publish_to_switch_ms": float64(took.Microseconds()) / 1e3,
		"idle": i, "during": d, "p99_during_over_idle": d.P99us / i.P99us,
		"rss_steady_mb": float64(steadyRSS) / 1024, "rss_switch_max_mb": float64(switchRSS) / 1024,
		"rss_switch_over_steady": float64(switchRSS) / float64(max(steadyRSS, 1))}
	if *sidecarLog != "" {
		// publish → switched also holds the bureau's own work on the
		// client's core and the sidecar's poll interval; the sidecar's
		// apply is what its log brackets.
		from, to, err := applyWindow(*sidecarLog)
		if err != nil {
			return err
		}
		var apply []time.Duration
		for k, t0 := range starts {
			if !t0.Before(from) && t0.Before(to) {
				apply = append(apply, during[k])
			}
		}
		a := summarise(apply, to.Sub(from))
		out["apply"], out["apply_ms"], out["p99_apply_over_idle"] = a, float64(to.Sub(from).Microseconds())/1e3, a.P99us/i.P99us
	}
	emit(out)
	return nil
}

// applyWindow is when the sidecar's last delta install began (its log's
// "fetching release" line) and ended ("bureau release installed").
func applyWindow(path string) (from, to time.Time, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return from, to, err
	}
	stamp := func(line string) time.Time {
		f, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		t, _ := time.Parse(time.RFC3339Nano, f)
		return t
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, `msg="fetching release from the bureau"`):
			from = stamp(line)
		case strings.Contains(line, `msg="bureau release installed"`):
			to = stamp(line)
		}
	}
	if from.IsZero() || !to.After(from) {
		return from, to, fmt.Errorf("%s: no \"fetching release\" line followed by \"bureau release installed\"", path)
	}
	return from, to, nil
}

func activeVersion(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var st struct {
		Knowledge struct {
			Version string `json:"version"`
		} `json:"knowledge"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "", err
	}
	return st.Knowledge.Version, nil
}

// cpuTime is the CPU time (user and system, every thread, those that
// exited too) process pid has used so far: /proc/<pid>/stat's utime and
// stime, in clock ticks (USER_HZ, 100 on Linux: 10 ms). 0 for pid 0.
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("the sidecar's CPU time: %w", err)
	}
	return parseCPUTime(raw)
}

// parseCPUTime reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseCPUTime(raw []byte) (time.Duration, error) {
	const userHZ = 100
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat line without a command name: %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat line with %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat utime/stime %q: %w", v, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// rss is a process's VmRSS in MiB (0 without a pid).
func rss(pid int) (float64, error) {
	kb, err := rssKiB(pid)
	return float64(kb) / 1024, err
}

func rssKiB(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	u, err := resident.UsageOf(pid)
	return int64(u.Total >> 10), err
}

// rssParts splits the resident set in MiB: anonymous memory (the Go heap,
// Badger's memtables and caches) and file pages (the binary and the
// stores' memory-mapped files, which the kernel can drop).
func rssParts(pid int) (anon, file float64) {
	if pid == 0 {
		return 0, 0
	}
	u, _ := resident.UsageOf(pid)
	return float64(u.Anon) / (1 << 20), float64(u.File) / (1 << 20)
}

// rssByFile sums the file pages of a process's resident set by kind of
// file, in MiB: "binary" for the executable, "shared libraries", else the
// file's directory and extension ("kb/*.sst", "decisions/*.vlog",
// "kb/DISCARD"), so that a run says which store's files are resident. Nil
// without a pid.
func rssByFile(pid int) (map[string]float64, error) {
	if pid == 0 {
		return nil, nil
	}
	files, err := resident.FileRSS(pid)
	if err != nil {
		return nil, err
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	out := map[string]float64{}
	for path, n := range files {
		if n == 0 {
			continue
		}
		dir, base := filepath.Base(filepath.Dir(path)), filepath.Base(path)
		kind := dir + "/*" + filepath.Ext(path)
		switch {
		case path == exe:
			kind = "binary"
		case strings.Contains(base, ".so"):
			kind = "shared libraries"
		case filepath.Ext(path) == "":
			kind = dir + "/" + base
		}
		out[kind] += float64(n) / (1 << 20)
	}
	return out, nil
}

func protoSize(m proto.Message) int { return proto.Size(m) }

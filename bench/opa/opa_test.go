package opabench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/synth"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

var quiet = slog.New(slog.DiscardHandler)

// fixture is one synthetic release as rxguard and OPA each hold it.
type fixture struct {
	manifest knowledge.Manifest
	records  []knowledge.Record
	svc      *check.Service
	orders   []*rxguardv1.CheckOrdersRequest
	inputs   []map[string]any
	data     map[string]any
	query    rego.PreparedEvalQuery
	// Heap held by each side's compiled form of the same release.
	rxguardHeapMB, opaHeapMB float64
}

// Synthetic release size: small by default, the seeds' scale with
// scripts/bench-scale.sh (RXGUARD_SYNTH_ENTRIES=706000 RXGUARD_SYNTH_RULES=61000).
func synthSize() synth.Options {
	o := synth.Options{Entries: 60_000, Rules: 30_000, Seed: 1}
	if v, err := strconv.Atoi(os.Getenv("RXGUARD_SYNTH_ENTRIES")); err == nil {
		o.Entries = v
	}
	if v, err := strconv.Atoi(os.Getenv("RXGUARD_SYNTH_RULES")); err == nil {
		o.Rules = v
	}
	return o
}

func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

var load = sync.OnceValues(func() (*fixture, error) {
	ctx := context.Background()
	m, records, err := synth.Release(ctx, synthSize())
	if err != nil {
		return nil, err
	}
	f := &fixture{manifest: m, records: records}
	content, err := knowledge.ContentFromRecords(records)
	if err != nil {
		return nil, err
	}
	if f.orders, err = Orders(content); err != nil {
		return nil, err
	}
	checkTime := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, o := range f.orders {
		in, err := Input(o, checkTime)
		if err != nil {
			return nil, err
		}
		f.inputs = append(f.inputs, in)
	}

	data := Export(content)
	content = nil
	// What the index retains of a freshly decoded content: the heap a
	// sidecar holds for the release.
	before := heapMB()
	decoded, err := knowledge.ContentFromRecords(records)
	if err != nil {
		return nil, err
	}
	idx, err := engine.Compile(m, decoded)
	if err != nil {
		return nil, err
	}
	decoded = nil
	f.rxguardHeapMB = heapMB() - before
	eng, err := engine.New(engine.Config{})
	if err != nil {
		return nil, err
	}
	eng.Swap(idx)
	f.svc = check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quiet})

	before = heapMB()
	f.data = data
	f.query, err = rego.New(rego.Query(Query), rego.Module("policy.rego", Policy), rego.Store(inmem.NewFromObject(data))).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare the Rego query: %w", err)
	}
	// The exported document itself is counted on OPA's side: it is the
	// data OPA holds.
	f.opaHeapMB = heapMB() - before + jsonHeap(data)
	return f, nil
})

// jsonHeap estimates the heap of the exported document by building it
// again (maps of strings): measured, not guessed.
func jsonHeap(data map[string]any) float64 {
	before := heapMB()
	b, _ := json.Marshal(data)
	var again map[string]any
	_ = json.Unmarshal(b, &again)
	b = nil
	h := heapMB() - before
	runtime.KeepAlive(again)
	return h
}

func fix(tb testing.TB) *fixture {
	tb.Helper()
	f, err := load()
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func (f *fixture) opaEval(ctx context.Context, i int) ([]Verdict, error) {
	rs, err := f.query.Eval(ctx, rego.EvalInput(f.inputs[i]))
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("OPA result set %v", rs)
	}
	return OPAVerdicts(rs[0].Expressions[0].Value)
}

// The Rego gives the same verdicts as rxguard on the benchmark orders, and
// the first order makes every compared rule fire.
func TestVerdictsMatch(t *testing.T) {
	f := fix(t)
	ctx := context.Background()
	for i, req := range f.orders {
		resp, err := f.svc.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		rx := RxguardVerdicts(resp)
		opa, err := f.opaEval(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rx, opa) {
			t.Errorf("order %d: rxguard %v, OPA %v", i, rx, opa)
		}
		if i == 0 {
			fired := map[string]bool{}
			for _, v := range rx {
				fired[v.Rule] = true
			}
			for _, want := range []string{"DRUG_GENDER", "DRUG_AGE", "INSURANCE_TYPE", "HOSPITAL_LEVEL", "ENCOUNTER_TYPE", "DRUG_INTERACTION"} {
				if !fired[want] {
					t.Errorf("order 0 does not fire %s: %v", want, rx)
				}
			}
		}
	}
}

// BenchmarkSideBySide: each iteration makes one call of every contender on
// the same order, so noise hits all alike; reported are each one's p50 and
// p99 and the p50 ratios OPA/rxguard, in-process (OPA's Go library,
// prepared query, vs rxguard's check service) and over the wire (an OPA
// server process over REST vs an rxguard serve process over gRPC, both on
// loopback, both servers pinned to OPA_SERVER_CPU and this process to
// CLIENT_CPU when set).
func BenchmarkSideBySide(b *testing.B) {
	f := fix(b)
	ctx := context.Background()
	req, in := f.orders[0], f.inputs[0]
	b.Run("inprocess", func(b *testing.B) {
		var rx, opa []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := f.svc.Check(ctx, req); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := f.query.Eval(ctx, rego.EvalInput(in)); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			rx, opa = append(rx, t1.Sub(t0)), append(opa, t2.Sub(t1))
		}
		report(b, "rxguard", rx)
		report(b, "opa-lib", opa)
		b.ReportMetric(p(opa, 0.5)/p(rx, 0.5), "p50-opa/rxguard")
		b.ReportMetric(f.rxguardHeapMB, "rxguard-heap-MB")
		b.ReportMetric(f.opaHeapMB, "opa-heap-MB")
	})
	b.Run("wire", func(b *testing.B) {
		w := startServers(b, f)
		body, _ := json.Marshal(map[string]any{"input": in})
		var rx, opa []time.Duration
		for range 200 { // warm both up
			w.callRxguard(b, req)
			w.callOPA(b, body)
		}
		for b.Loop() {
			t0 := time.Now()
			w.callRxguard(b, req)
			t1 := time.Now()
			w.callOPA(b, body)
			t2 := time.Now()
			rx, opa = append(rx, t1.Sub(t0)), append(opa, t2.Sub(t1))
		}
		report(b, "rxguard-grpc", rx)
		report(b, "opa-rest", opa)
		b.ReportMetric(p(opa, 0.5)/p(rx, 0.5), "p50-opa/rxguard")
		b.ReportMetric(rssMB(w.rxguardPID), "rxguard-rss-MB")
		b.ReportMetric(rssMB(w.opaPID), "opa-rss-MB")
	})
}

func p(d []time.Duration, q float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))]) / 1e3
}

func report(b *testing.B, name string, d []time.Duration) {
	b.ReportMetric(p(d, 0.50), name+"-p50-µs")
	b.ReportMetric(p(d, 0.99), name+"-p99-µs")
}

type servers struct {
	rxguard    rxguardv1.GuardServiceClient
	opaURL     string
	http       *http.Client
	rxguardPID int
	opaPID     int
}

func (w *servers) callRxguard(b *testing.B, req *rxguardv1.CheckOrdersRequest) {
	if _, err := w.rxguard.CheckOrders(context.Background(), req); err != nil {
		b.Fatal(err)
	}
}

func (w *servers) callOPA(b *testing.B, body []byte) {
	resp, err := w.http.Post(w.opaURL, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result []any `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("OPA: %s %v", resp.Status, err)
	}
}

// startServers builds and starts `rxguard serve` on the release stored in
// a data directory and `opa run --server` on the exported data and the
// policy, each a separate process.
func startServers(b *testing.B, f *fixture) *servers {
	dir := b.TempDir()
	rxBin, opaBin := filepath.Join(dir, "rxguard"), filepath.Join(dir, "opa")
	// rxguard from its own module (its go.mod, as released); opa from this
	// module (the same OPA version as the library).
	for _, build := range [][]string{{rxBin, "./cmd/rxguard", "../.."}, {opaBin, "github.com/open-policy-agent/opa", "."}} {
		cmd := exec.Command("go", "build", "-o", build[0], build[1])
		cmd.Dir = build[2]
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", build[1], err, out)
		}
	}
	ctx := context.Background()
	data := filepath.Join(dir, "data")
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(data, "kb"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err = st.PutRelease(ctx, f.manifest, f.records); err == nil {
		err = st.Activate(ctx, f.manifest.Version)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	dataJSON, err := json.Marshal(f.data)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), dataJSON, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.rego"), []byte(Policy), 0o600); err != nil {
		b.Fatal(err)
	}
	grpcAddr, opaAddr := freeAddr(b), freeAddr(b)
	rx := pinned(b, rxBin, "serve", "-data", data, "-grpc", grpcAddr, "-http", "off")
	opa := pinned(b, opaBin, "run", "--server", "--addr", opaAddr, "--log-level", "error",
		filepath.Join(dir, "data.json"), filepath.Join(dir, "policy.rego"))
	if cpu := os.Getenv("CLIENT_CPU"); cpu != "" {
		// This process (the client, all its threads) on its own core.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", cpu, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			b.Fatalf("taskset: %v\n%s", err, out)
		}
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	w := &servers{rxguard: rxguardv1.NewGuardServiceClient(conn), opaURL: "http://" + opaAddr + "/v1/data/rx/findings",
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}, rxguardPID: rx.Process.Pid, opaPID: opa.Process.Pid}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, errRx := w.rxguard.CheckOrders(ctx, f.orders[0])
		resp, errOPA := w.http.Get("http://" + opaAddr + "/health")
		if errOPA == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errOPA = fmt.Errorf("OPA /health: %s", resp.Status)
			}
		}
		if errRx == nil && errOPA == nil {
			return w
		}
		if time.Now().After(deadline) {
			b.Fatalf("servers not ready: rxguard %v, OPA %v", errRx, errOPA)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pinned starts a server process, on OPA_SERVER_CPU when set.
func pinned(b *testing.B, bin string, args ...string) *exec.Cmd {
	if cpu := os.Getenv("OPA_SERVER_CPU"); cpu != "" {
		args = append([]string{"-c", cpu, bin}, args...)
		bin = "taskset"
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// rssMB is a process's resident set (for a taskset wrapper, taskset execs
// the server, so the pid is the server's).
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

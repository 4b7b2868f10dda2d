package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/benchecho"
	"github.com/rxguard/rxguard/internal/benchorder"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/synth"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

// Synthetic release size of the benchmarks: small for `make bench`, the
// seeds' scale (706000 entries, 61000 rules) with `make bench-scale`, which
// sets these.
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

// synthIndex compiles the synthetic release once per test binary; the
// records are dropped once compiled (the index is what a sidecar keeps).
var synthIndex = sync.OnceValues(func() (*engine.Index, error) {
	m, records, err := synth.Release(context.Background(), synthSize())
	if err != nil {
		return nil, err
	}
	return engine.CompileRecords(m, records)
})

func benchIndex(b *testing.B, release string) *engine.Index {
	b.Helper()
	if release == "demo" {
		return demoIndex(b)
	}
	idx, err := synthIndex()
	if err != nil {
		b.Fatal(err)
	}
	return idx
}

// recordHistory gives patient P1 n recorded entries. The first 200 are on
// the order's own items (as in BenchmarkGuardCheckOrdersWithHistory); the
// rest, a long inpatient stay's other charges (bed-side care, nursing,
// laboratory), are on items the order does not contain, in the 60 days
// before the check.
func recordHistory(b *testing.B, hist *history.Store, req *rxguardv1.CheckOrdersRequest, n int) {
	b.Helper()
	ctx := context.Background()
	var entries []history.Entry
	for i := 0; i < min(n, 200); i++ {
		entries = append(entries, history.Entry{ItemCode: req.Orders[i%len(req.Orders)].ItemCode, Quantity: 1, Days: 1, EncounterID: "E0",
			Time: time.Date(2026, 6, 1, 9, 0, 0, 0, engine.Shanghai).Add(time.Duration(i) * 12 * time.Hour), LineID: "h"})
	}
	for i := 200; i < n; i++ {
		entries = append(entries, history.Entry{ItemCode: fmt.Sprintf("0012%011d", i%400), Quantity: 1, Days: 1, EncounterID: "E1",
			Time: time.Date(2026, 9, 23, 0, 0, 0, 0, engine.Shanghai).Add(time.Duration(i) * 8 * time.Minute), LineID: "h" + strconv.Itoa(i)})
	}
	for len(entries) > 0 {
		k := min(len(entries), 1000)
		if _, err := hist.Record(ctx, req.Patient.Id, entries[:k]); err != nil {
			b.Fatal(err)
		}
		entries = entries[k:]
	}
}

// BenchmarkScaleCheck: the whole in-process handler (validation, history
// lookup, evaluation, response) for 1-, 10- and 50-line orders on the demo
// and the synthetic release, without recorded history and with 200
// recorded entries (a real on-disk history store; the second and later
// checks of a patient are served from its cache, as in production).
func BenchmarkScaleCheck(b *testing.B) {
	for _, release := range []string{"demo", "synth"} {
		for _, lines := range []int{1, 10, 50} {
			for _, recorded := range []int{0, 200} {
				b.Run(fmt.Sprintf("release=%s/lines=%d/recorded=%d", release, lines, recorded), func(b *testing.B) {
					benchGuard(b, benchIndex(b, release), benchorder.Order(lines), recorded)
				})
			}
		}
	}
}

// BenchmarkScaleEngine: rule evaluation alone (engine.Check) for the same
// orders, without recorded history.
func BenchmarkScaleEngine(b *testing.B) {
	for _, release := range []string{"demo", "synth"} {
		for _, lines := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("release=%s/lines=%d", release, lines), func(b *testing.B) {
				eng, _ := engine.New(engine.Config{})
				eng.Swap(benchIndex(b, release))
				req := benchorder.Order(lines)
				parsed, err := validate.CheckOrders(req, validate.DefaultLimits(), time.Now())
				if err != nil {
					b.Fatal(err)
				}
				in := &engine.Input{Req: req, CheckTime: parsed.CheckTime, BirthDate: parsed.BirthDate, OrderTimes: parsed.OrderStart, HistoryTimes: parsed.HistoryTime}
				res := eng.Check(in)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					eng.Check(in)
				}
				b.ReportMetric(float64(len(res.Findings)), "findings/op")
			})
		}
	}
}

// BenchmarkScaleLongStay: a 10-line check for a patient with 200 recorded
// entries against one with 10,000 (a long-stay inpatient: the same 200 on
// the order's items plus 9,800 other charges), synthetic release.
func BenchmarkScaleLongStay(b *testing.B) {
	for _, recorded := range []int{200, 10_000} {
		b.Run(fmt.Sprintf("recorded=%d", recorded), func(b *testing.B) {
			benchGuard(b, benchIndex(b, "synth"), benchorder.Order(10), recorded)
		})
	}
}

func benchGuard(b *testing.B, idx *engine.Index, req *rxguardv1.CheckOrdersRequest, recorded int) {
	eng, _ := engine.New(engine.Config{})
	eng.Swap(idx)
	ctx := context.Background()
	hist, err := history.Open(ctx, history.Options{Dir: b.TempDir(), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer hist.Close()
	recordHistory(b, hist, req, recorded)
	g := NewGuard(check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), History: hist, Logger: quietLog}))
	resp, err := g.CheckOrders(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := g.CheckOrders(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(resp.Findings)), "findings/op")
}

// BenchmarkScaleGRPC: CheckOrders (10 lines) over loopback gRPC against an
// empty call (health check) and the echo (a pre-built response of the same
// size for a request of the same size), registered on the same server, at
// 1 and 50 callers, in one run; each round runs all three, in rotating
// order, so noise hits them alike. In one process: the scale script runs
// the same comparison with server and load generator pinned to different
// cores (bench/loadgen).
func BenchmarkScaleGRPC(b *testing.B) {
	addr, stop := startEchoServer(b, benchIndex(b, "synth"))
	defer stop()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	req := benchorder.Order(10)
	client := rxguardv1.NewGuardServiceClient(conn)
	resp, err := client.CheckOrders(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	if err := benchecho.Prime(ctx, conn, resp); err != nil {
		b.Fatal(err)
	}
	health := healthpb.NewHealthClient(conn)
	calls := map[string]func() error{
		"empty": func() error { _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); return err },
		"echo":  func() error { _, err := benchecho.Echo(ctx, conn, req); return err },
		"check": func() error { _, err := client.CheckOrders(ctx, req); return err },
	}
	for _, callers := range []int{1, 50} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			lat := map[string][]time.Duration{}
			busy := map[string]time.Duration{}
			order := []string{"empty", "echo", "check"}
			for round := 0; b.Loop(); round++ {
				for k := range order {
					name := order[(k+round)%len(order)]
					l, took := runCallers(b, callers, 2000/callers+1, calls[name])
					lat[name] = append(lat[name], l...)
					busy[name] += took
				}
			}
			for _, name := range order {
				p50, p99 := percentiles(lat[name])
				b.ReportMetric(float64(p50.Microseconds()), name+"-p50-µs")
				b.ReportMetric(float64(p99.Microseconds()), name+"-p99-µs")
				b.ReportMetric(float64(len(lat[name]))/busy[name].Seconds(), name+"-calls/s")
			}
			ratio := func(a, c string) float64 {
				pa, _ := percentiles(lat[a])
				pc, _ := percentiles(lat[c])
				return float64(pa) / float64(pc)
			}
			b.ReportMetric(ratio("check", "echo"), "p50-check/echo")
			b.ReportMetric(ratio("check", "empty"), "p50-check/empty")
			_, c99 := percentiles(lat["check"])
			_, e99 := percentiles(lat["echo"])
			b.ReportMetric(float64(c99)/float64(e99), "p99-check/echo")
			tput := func(n string) float64 { return float64(len(lat[n])) / busy[n].Seconds() }
			b.ReportMetric(tput("check")/tput("echo"), "tput-check/echo")
		})
	}
}

// runCallers runs callers goroutines making n calls each; it returns every
// call's latency and the wall time of the whole.
func runCallers(b *testing.B, callers, n int, call func() error) ([]time.Duration, time.Duration) {
	lats := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, n)
			for range n {
				t0 := time.Now()
				if err := call(); err != nil {
					b.Error(err)
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
	return all, took
}

// startEchoServer is a sidecar (no decision log: the wire is measured, not
// the disk) serving idx with the echo registered on its gRPC server.
func startEchoServer(b *testing.B, idx *engine.Index) (string, func()) {
	eng, _ := engine.New(engine.Config{})
	eng.Swap(idx)
	svc := check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quietLog})
	srv := New(Options{Service: svc, Engine: eng, Logger: quietLog,
		Register: func(r grpc.ServiceRegistrar) { benchecho.Register(r, &benchecho.Service{}) }})
	srv.SetReady()
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcLis, nil) }()
	return grpcLis.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
		runtime.GC()
	}
}

// BenchmarkScaleColdLoad: what a sidecar does at start with the synthetic
// release persisted — open the knowledge store, read and prove the active
// release, decode it, compile the index, swap — and the heap the index
// holds afterwards. Profile it with
//
//	go test ./server -run '^$' -bench BenchmarkScaleColdLoad -benchtime 3x -cpuprofile cold.cpu
func BenchmarkScaleColdLoad(b *testing.B) {
	ctx := context.Background()
	m, records, err := synth.Release(ctx, synthSize())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	st, err := store.Open(ctx, store.Options{Dir: dir, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	if err = st.PutRelease(ctx, m, records); err == nil {
		err = st.Activate(ctx, m.Version)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	records = nil
	heap := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}
	base := heap()
	var eng *engine.Engine
	b.ResetTimer()
	for b.Loop() {
		eng, _ = engine.New(engine.Config{})
		st, err := store.Open(ctx, store.Options{Dir: dir, Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		if _, ok, err := LoadActive(ctx, st, eng); err != nil || !ok {
			b.Fatal(ok, err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(heap()-base, "index-heap-MB")
	runtime.KeepAlive(eng)
}

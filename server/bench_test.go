package server

import (
	"context"
	"slices"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/benchorder"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

// benchRequest is the realistic 10-line inpatient order every benchmark
// shares (internal/benchorder): restricted drugs and items, service items
// with limits, and a history of 20 earlier orders, so every history-based
// rule does its work.
func benchRequest() *rxguardv1.CheckOrdersRequest { return benchorder.Order(10) }

// BenchmarkEngineCheck10Lines is the target: in-process evaluation
// of a 10-line order against the full official batches (≤ 20 µs).
func BenchmarkEngineCheck10Lines(b *testing.B) {
	eng, _ := engine.New(engine.Config{})
	eng.Swap(demoIndex(b))
	req := benchRequest()
	parsed, err := validate.CheckOrders(req, validate.DefaultLimits(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	in := &engine.Input{Req: req, CheckTime: parsed.CheckTime, BirthDate: parsed.BirthDate, OrderTimes: parsed.OrderStart, HistoryTimes: parsed.HistoryTime}
	res := eng.Check(in)
	if len(res.Findings) == 0 {
		b.Fatal("benchmark order should produce findings")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		eng.Check(in)
	}
	b.ReportMetric(float64(len(res.Findings)), "findings/op")
}

// BenchmarkGuardCheckOrders adds validation and response building: the
// whole in-process cost of one RPC's handler.
func BenchmarkGuardCheckOrders(b *testing.B) {
	eng, _ := engine.New(engine.Config{})
	eng.Swap(demoIndex(b))
	g := NewGuard(check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quietLog}))
	req := benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.CheckOrders(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGRPC measures CheckOrders over real gRPC on loopback against the
// baseline of an empty call (health check) on the same server in the same
// run; report the ratio, not absolute numbers (shared, noisy machines).
func BenchmarkGRPC(b *testing.B) {
	ts := startServer(b, engine.Config{})
	ctx := context.Background()
	req := benchRequest()
	health := healthpb.NewHealthClient(ts.conn)
	b.Run("baseline=HealthCheck", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CheckOrders10Lines", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := ts.client.CheckOrders(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGuardCheckOrdersWithHistory adds the patient-history lookup on
// a real on-disk store: the patient has 200 recorded orders.
func BenchmarkGuardCheckOrdersWithHistory(b *testing.B) {
	eng, _ := engine.New(engine.Config{})
	eng.Swap(demoIndex(b))
	ctx := context.Background()
	hist, err := history.Open(ctx, history.Options{Dir: b.TempDir(), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer hist.Close()
	req := benchRequest()
	var entries []history.Entry
	for i := 0; i < 200; i++ {
		entries = append(entries, history.Entry{ItemCode: req.Orders[i%10].ItemCode, Quantity: 1, Days: 1, EncounterID: "E0",
			Time: time.Date(2026, 6, 1, 9, 0, 0, 0, engine.Shanghai).Add(time.Duration(i) * 12 * time.Hour), LineID: "h"})
	}
	if _, err := hist.Record(ctx, req.Patient.Id, entries); err != nil {
		b.Fatal(err)
	}
	g := NewGuard(check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), History: hist, Logger: quietLog}))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.CheckOrders(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGRPCDecisionLog measures CheckOrders over real gRPC on loopback
// with the decision log on (async, the default) against the same sidecar
// without it, in the same run: each iteration makes one call to each, so
// machine noise hits both alike. Reported: p50 and p99 of each, and their
// ratios (target ≤ 1.1×).
func BenchmarkGRPCDecisionLog(b *testing.B) {
	on := startServerWith(b, engine.Config{}, parts{})
	off := startServerWith(b, engine.Config{}, parts{noLog: true})
	ctx := context.Background()
	req := benchRequest()
	for i := 0; i < 200; i++ { // warm both up
		_, _ = on.client.CheckOrders(ctx, req)
		_, _ = off.client.CheckOrders(ctx, req)
	}
	latOn, latOff := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	call := func(ts *testServer, into *[]time.Duration) {
		t0 := time.Now()
		if _, err := ts.client.CheckOrders(ctx, req); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(t0))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			call(on, &latOn)
			call(off, &latOff)
		} else {
			call(off, &latOff)
			call(on, &latOn)
		}
	}
	b.StopTimer()
	pOn50, pOn99 := percentiles(latOn)
	pOff50, pOff99 := percentiles(latOff)
	b.ReportMetric(float64(pOn50.Microseconds()), "on-p50-µs")
	b.ReportMetric(float64(pOn99.Microseconds()), "on-p99-µs")
	b.ReportMetric(float64(pOff50.Microseconds()), "off-p50-µs")
	b.ReportMetric(float64(pOff99.Microseconds()), "off-p99-µs")
	b.ReportMetric(float64(pOn50)/float64(pOff50), "p50-ratio")
	b.ReportMetric(float64(pOn99)/float64(pOff99), "p99-ratio")
	if err := on.log.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if st := on.log.Stats(); st.Written < uint64(b.N) {
		b.Fatalf("decision log wrote %d of %d decisions", st.Written, b.N)
	}
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100]
}

// TestEngineCheckAllocations pins the per-check allocations of the 10-line
// benchmark order (10 findings): texts are built in the check's arena and
// findings, fixes and line lists come from slabs (server/engine text.go,
// slab.go). Before them it was 140 (29 now); a finding that allocates its texts
// again one by one fails this.
func TestEngineCheckAllocations(t *testing.T) {
	eng, _ := engine.New(engine.Config{})
	eng.Swap(demoIndex(t))
	req := benchRequest()
	parsed, err := validate.CheckOrders(req, validate.DefaultLimits(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := &engine.Input{Req: req, CheckTime: parsed.CheckTime, BirthDate: parsed.BirthDate, OrderTimes: parsed.OrderStart, HistoryTimes: parsed.HistoryTime}
	if n := len(eng.Check(in).Findings); n < 9 {
		t.Fatalf("benchmark order has %d findings; the bound below assumes about 10", n)
	}
	const limit = 35
	if allocs := testing.AllocsPerRun(200, func() { eng.Check(in) }); allocs > limit {
		t.Fatalf("a 10-line check allocates %.0f times, want ≤ %d", allocs, limit)
	}
}

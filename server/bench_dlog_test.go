package server

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/benchecho"
	"github.com/rxguard/rxguard/internal/benchorder"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// BenchmarkScaleGRPCDecisionLog: CheckOrders (10 lines) over loopback gRPC
// on the synthetic release, on a sidecar with the decision log on (async,
// the default options, a real store on disk) and on one without it, with
// the echo of the same sizes as the wire's limit, at 1 and 50 callers, in
// one process and one run (rounds rotate the order, so noise hits all
// three alike). An "on" round's time includes draining the log's queue
// (Flush): the decisions/s it reports are committed ones, not queued ones.
// Run it as the scale sidecar runs, on one core:
//
//	RXGUARD_SYNTH_ENTRIES=706000 RXGUARD_SYNTH_RULES=61000 taskset -c 0 \
//	    go test ./server -run '^$' -bench BenchmarkScaleGRPCDecisionLog -cpu 1 -benchtime 3x
func BenchmarkScaleGRPCDecisionLog(b *testing.B) {
	idx := benchIndex(b, "synth")
	dlog, err := decisionlog.Open(context.Background(), decisionlog.Options{Dir: b.TempDir(), Logger: quietLog, SidecarID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	onAddr, stopOn := startLogServer(b, idx, dlog)
	defer func() {
		stopOn()
		if err := dlog.Close(); err != nil {
			b.Error(err)
		}
	}()
	offAddr, stopOff := startLogServer(b, idx, nil)
	defer stopOff()
	ctx := context.Background()
	req := benchorder.Order(10)
	dial := func(addr string) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		return conn
	}
	onConn, offConn := dial(onAddr), dial(offAddr)
	on, off := rxguardv1.NewGuardServiceClient(onConn), rxguardv1.NewGuardServiceClient(offConn)
	resp, err := off.CheckOrders(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	if err := benchecho.Prime(ctx, offConn, resp); err != nil {
		b.Fatal(err)
	}
	calls := map[string]func() error{
		"echo": func() error { _, err := benchecho.Echo(ctx, offConn, req); return err },
		"off":  func() error { _, err := off.CheckOrders(ctx, req); return err },
		"on":   func() error { _, err := on.CheckOrders(ctx, req); return err },
	}
	before := dlog.Stats().Written
	calledOn := 0
	for _, callers := range []int{1, 50} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			lat := map[string][]time.Duration{}
			busy := map[string]time.Duration{}
			order := []string{"echo", "off", "on"}
			for round := 0; b.Loop(); round++ {
				for k := range order {
					name := order[(k+round)%len(order)]
					start := time.Now()
					l, _ := runCallers(b, callers, 2000/callers+1, calls[name])
					if name == "on" {
						calledOn += len(l)
						if err := dlog.Flush(ctx); err != nil {
							b.Fatal(err)
						}
					}
					lat[name] = append(lat[name], l...)
					busy[name] += time.Since(start)
				}
			}
			tput := func(n string) float64 { return float64(len(lat[n])) / busy[n].Seconds() }
			for _, name := range order {
				p50, p99 := percentiles(lat[name])
				b.ReportMetric(float64(p50.Microseconds()), name+"-p50-µs")
				b.ReportMetric(float64(p99.Microseconds()), name+"-p99-µs")
				b.ReportMetric(tput(name), name+"-calls/s")
			}
			b.ReportMetric(tput("on")/tput("off"), "tput-on/off")
			b.ReportMetric(tput("on")/tput("echo"), "tput-on/echo")
			b.ReportMetric(tput("off")/tput("echo"), "tput-off/echo")
		})
	}
	if st := dlog.Stats(); st.Written-before < uint64(calledOn) || st.Failed > 0 || st.Dropped > 0 {
		b.Fatalf("decision log: %d written of %d checks, %d failed, %d dropped", st.Written-before, calledOn, st.Failed, st.Dropped)
	}
}

// startLogServer is a sidecar serving idx, with the decision log dlog (nil:
// none) and the echo registered.
func startLogServer(b *testing.B, idx *engine.Index, dlog *decisionlog.Log) (string, func()) {
	eng, _ := engine.New(engine.Config{})
	eng.Swap(idx)
	opts := check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quietLog}
	srvOpts := Options{Engine: eng, Logger: quietLog,
		Register: func(r grpc.ServiceRegistrar) { benchecho.Register(r, &benchecho.Service{}) }}
	if dlog != nil {
		opts.Log, srvOpts.Decisions = dlog, dlog
	}
	srvOpts.Service = check.New(opts)
	srv := New(srvOpts)
	srv.SetReady()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	return lis.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	}
}

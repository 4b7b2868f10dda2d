package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/benchorder"
	"github.com/rxguard/rxguard/plugins/sdk"
	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/pluginhost"
	"github.com/rxguard/rxguard/server/validate"
)

// BenchmarkGRPCPlugins: CheckOrders over loopback gRPC on a sidecar
// without plugins and on one with the two example plugins (real processes),
// in the same run; report the ratio.
func BenchmarkGRPCPlugins(b *testing.B) {
	req := residentVoriconazole()
	req.Orders[0].UnitPrice = 80
	ctx := context.Background()
	b.Run("without", func(b *testing.B) {
		ts := startServer(b, engine.Config{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ts.client.CheckOrders(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("with=antibiotic-tier+high-cost", func(b *testing.B) {
		ts, _ := startWithPlugins(b)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := ts.client.CheckOrders(ctx, req)
			if err != nil || len(resp.Findings) == 0 {
				b.Fatal(resp, err)
			}
		}
	})
}

// BenchmarkPluginsAtScale measures issue 14's plugin target,
//
//	c ≤ 1.5 × (a + b)
//
// with a, b and c from one run, on sidecars sharing one engine and release
// (the synthetic one, at the seeds' scale when RXGUARD_SYNTH_ENTRIES and
// RXGUARD_SYNTH_RULES are set, and the demo one):
//
//   - a: CheckOrders over loopback gRPC, sidecar without plugins;
//   - b: one empty round trip to a plugin process: pluginhost's Evaluate
//     (the host path the sidecar takes: deadline, counters, latency,
//     finding fix-ups) of the request the sidecar sends its plugins, to
//     testdata/emptyplugin, built with the same SDK as the examples and
//     answering no findings; braw is the bare gRPC Evaluate of the same
//     request to another process of that binary (no host wrapper);
//   - c: CheckOrders on a sidecar with the two example plugins;
//   - d: CheckOrders on a sidecar with the empty plugin only (c − d is what
//     the examples' own work and the second plugin cost).
//
// Each round makes 200 calls of every kind, one caller, in an order that
// rotates per round, so noise on the shared machine hits all of them
// alike. The ns/op is of a whole round. No sidecar keeps a decision log or
// a history store: the plugins are measured, not the disk. Besides p50 and
// p99 of each kind it reports each kind's CPU per call, in this process
// (client, sidecars, host: <k>-cpu-host-µs, garbage collection included)
// and in the plugin processes it reaches (<k>-cpu-plugins-µs).
//
// Run it with, e.g.,
//
//	go test ./server -run '^$' -bench 'BenchmarkPluginsAtScale' -benchtime 10x -count 3
//
// and pinned to one core (the sidecar of the scale run; the plugin
// processes inherit the mask and share the core) under taskset -c 0.
func BenchmarkPluginsAtScale(b *testing.B) {
	for _, release := range []string{"demo", "synth"} {
		b.Run("release="+release, func(b *testing.B) { benchPluginsAtScale(b, benchIndex(b, release)) })
	}
}

// pluginBenchOrder is the 10-line order of every benchmark with one line
// costly enough for high-cost to warn (100 × ¥80 = ¥8,000), so a plugin
// finding travels back; antibiotic-tier looks every line up and finds no
// antibiotic.
func pluginBenchOrder() *rxguardv1.CheckOrdersRequest {
	req := benchorder.Order(10)
	req.Orders[0].Quantity, req.Orders[0].UnitPrice = 100, 80
	return req
}

func benchPluginsAtScale(b *testing.B, idx *engine.Index) {
	ctx := context.Background()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	eng.Swap(idx)

	// A generous deadline: a timeout would turn a measured round trip
	// into a failure finding (checked at the end).
	long := func(c pluginhost.Config) pluginhost.Config { c.Timeout = 5 * time.Second; return c }
	examples := startPluginManager(b,
		long(pinned(b, "antibiotic-tier", antibioticPkg, pluginhost.FailOpen)),
		long(pinned(b, "high-cost", highCostPkg, pluginhost.FailClosed)))
	empty := startPluginManager(b, long(pinned(b, "empty", emptyPluginPkg, pluginhost.FailOpen)))
	raw, rawPID := rawPlugin(b, sdktest.Build(b, emptyPluginPkg))

	without := startPluginSidecar(b, eng, nil)
	with := startPluginSidecar(b, eng, examples)
	withEmpty := startPluginSidecar(b, eng, empty)

	req := pluginBenchOrder()
	// What the sidecar hands its plugins (check.Service.startPlugins): the
	// validated request, the physician's status, the release version.
	parsed, err := validate.CheckOrders(req, validate.DefaultLimits(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	evReq := &pluginv1.EvaluateRequest{
		Request:          parsed.Req,
		PhysicianStatus:  eng.Physicians().Status(parsed.Req.GetPhysician().GetCode(), parsed.CheckTime).Proto(),
		KnowledgeVersion: idx.Version(),
	}

	// Every contender answers as it should before anything is timed.
	resp, err := with.CheckOrders(ctx, req)
	if err != nil || !hasFinding(resp.GetFindings(), "plugin:high-cost", "HIGH-COST-DOUBLE-SIGN") {
		b.Fatalf("with the examples: %v %v", resp.GetFindings(), err)
	}
	if fs := empty.Evaluate(ctx, evReq); len(fs) != 0 {
		b.Fatalf("empty plugin answered %v", fs)
	}

	calls := map[string]func() error{
		"a": func() error { _, err := without.CheckOrders(ctx, req); return err },
		"b": func() error {
			if fs := empty.Evaluate(ctx, evReq); len(fs) != 0 {
				return fmt.Errorf("empty plugin answered %v", fs)
			}
			return nil
		},
		"braw": func() error { _, err := raw.Evaluate(ctx, evReq); return err },
		"c": func() error {
			resp, err := with.CheckOrders(ctx, req)
			if err == nil && len(resp.GetFindings()) == 0 {
				err = fmt.Errorf("no findings")
			}
			return err
		},
		"d": func() error { _, err := withEmpty.CheckOrders(ctx, req); return err },
	}
	// The processes each kind of call runs in: this one (client, sidecars,
	// host) and the plugin processes it reaches.
	pids := map[string][]int{"a": nil, "b": pluginPIDs(empty), "braw": {rawPID}, "c": pluginPIDs(examples), "d": pluginPIDs(empty)}
	order := []string{"a", "b", "braw", "c", "d"}
	const perRound = 200
	lat := map[string][]time.Duration{}
	hostCPU, plugCPU := map[string]time.Duration{}, map[string]time.Duration{}
	for round := 0; b.Loop(); round++ {
		for k := range order {
			name := order[(k+round)%len(order)]
			h0, p0 := cpuTime(0), cpuTime(pids[name]...)
			l, _ := runCallers(b, 1, perRound, calls[name])
			hostCPU[name] += cpuTime(0) - h0
			plugCPU[name] += cpuTime(pids[name]...) - p0
			lat[name] = append(lat[name], l...)
		}
	}

	for _, m := range []*pluginhost.Manager{examples, empty} {
		for _, s := range m.Status() {
			if s.Errors+s.Timeouts+s.Unavailable+s.Canceled != 0 {
				b.Fatalf("plugin %s did not answer every call: %+v", s.Name, s)
			}
		}
	}
	p50, p99 := map[string]float64{}, map[string]float64{}
	for _, name := range order {
		l50, l99 := percentiles(lat[name])
		p50[name], p99[name] = float64(l50.Microseconds()), float64(l99.Microseconds())
		b.ReportMetric(p50[name], name+"-p50-µs")
		b.ReportMetric(p99[name], name+"-p99-µs")
		// CPU per call: this process's (for b and braw mostly the
		// host's side of the plugin call) and the plugin processes'.
		n := float64(len(lat[name]))
		b.ReportMetric(float64(hostCPU[name].Microseconds())/n, name+"-cpu-host-µs")
		if len(pids[name]) > 0 {
			b.ReportMetric(float64(plugCPU[name].Microseconds())/n, name+"-cpu-plugins-µs")
		}
	}
	b.ReportMetric(p50["c"]/(p50["a"]+p50["b"]), "c/(a+b)-p50")
	b.ReportMetric(p99["c"]/(p99["a"]+p99["b"]), "c/(a+b)-p99")
	b.ReportMetric(p50["c"]/(p50["a"]+p50["braw"]), "c/(a+braw)-p50")
	b.ReportMetric(p50["c"]/p50["a"], "c/a-p50")
}

// emptyPluginPkg is testdata/emptyplugin (see BenchmarkPluginsAtScale).
const emptyPluginPkg = "github.com/rxguard/rxguard/server/testdata/emptyplugin"

func hasFinding(fs []*rxguardv1.Finding, source, ruleID string) bool {
	for _, f := range fs {
		if f.GetSource() == source && f.GetRuleId() == ruleID {
			return true
		}
	}
	return false
}

func startPluginManager(b *testing.B, cfgs ...pluginhost.Config) *pluginhost.Manager {
	b.Helper()
	m, err := pluginhost.Start(context.Background(), cfgs, quietLog)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// startPluginSidecar is a sidecar on loopback gRPC serving eng's release
// with the plugins of m (nil: none), without history store or decision
// log, and a client of it.
func startPluginSidecar(b *testing.B, eng *engine.Engine, m *pluginhost.Manager) rxguardv1.GuardServiceClient {
	b.Helper()
	opts := check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quietLog}
	srvOpts := Options{Engine: eng, Logger: quietLog}
	if m != nil { // a nil *Manager in the interface would still be "plugins"
		opts.Plugins, srvOpts.Plugins = m, m.Status
	}
	srvOpts.Service = check.New(opts)
	srv := New(srvOpts)
	srv.SetReady()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, lis, nil) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	return rxguardv1.NewGuardServiceClient(conn)
}

// rawPlugin starts the plugin executable at path over go-plugin (as the
// host does, without its supervision and wrapper) and returns its bare
// gRPC client and its pid; the process is killed when the benchmark ends.
// (sdktest.Start would do, but logs go-plugin's debug lines into the
// benchmark's output.)
func rawPlugin(b *testing.B, path string) (pluginv1.PolicyPluginServiceClient, int) {
	b.Helper()
	cmd := exec.Command(path)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginMap(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
	})
	b.Cleanup(pc.Kill)
	rpc, err := pc.Client()
	if err != nil {
		b.Fatal(err)
	}
	c, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		b.Fatal(err)
	}
	return c.(pluginv1.PolicyPluginServiceClient), cmd.Process.Pid
}

func pluginPIDs(m *pluginhost.Manager) []int {
	var out []int
	for _, s := range m.Status() {
		out = append(out, s.PID)
	}
	return out
}

// cpuTime is the CPU time the processes pids (0: this one) have used so
// far, summed over their threads from /proc/<pid>/task/*/schedstat
// (nanoseconds, unlike the 10 ms ticks of /proc/<pid>/stat); 0 where
// /proc cannot tell.
func cpuTime(pids ...int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		dir := "/proc/self/task"
		if pid != 0 {
			dir = "/proc/" + strconv.Itoa(pid) + "/task"
		}
		tasks, _ := os.ReadDir(dir)
		for _, t := range tasks {
			raw, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(raw))
			if len(f) == 0 {
				continue
			}
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				sum += time.Duration(ns)
			}
		}
	}
	return sum
}

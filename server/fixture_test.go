package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/server/cdshooks"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/nhsa"
	"github.com/rxguard/rxguard/server/pluginhost"
	"github.com/rxguard/rxguard/server/validate"
)

var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// demoRelease builds the embedded demo release once per test binary.
var demoRelease = sync.OnceValues(func() (*demoBuild, error) {
	m, records, _, err := demo.Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, err
	}
	idx, err := engine.CompileRecords(m, records)
	if err != nil {
		return nil, err
	}
	return &demoBuild{manifest: m, records: records, index: idx}, nil
})

type demoBuild struct {
	manifest knowledge.Manifest
	records  []knowledge.Record
	index    *engine.Index
}

func demoIndex(tb testing.TB) *engine.Index {
	tb.Helper()
	d, err := demoRelease()
	if err != nil {
		tb.Fatal(err)
	}
	return d.index
}

// testServer is a real sidecar on a loopback port with the demo release.
type testServer struct {
	srv      *Server
	eng      *engine.Engine
	svc      *check.Service
	log      *decisionlog.Log
	conn     *grpc.ClientConn
	client   rxguardv1.GuardServiceClient
	httpAddr string
	grpcAddr string
}

func startServer(tb testing.TB, cfg engine.Config) *testServer {
	return startServerWith(tb, cfg, parts{})
}

// parts are what a test sidecar runs with besides the demo release.
type parts struct {
	plugins *pluginhost.Manager // nil: none
	noLog   bool                // no decision log (benchmark baseline)
	// wrapLog, if set, stands between the check service and the decision
	// log (to see what the service appends).
	wrapLog func(check.DecisionLog) check.DecisionLog
	// security is the listeners' TLS and authentication; conn (the
	// testServer's client) stays plaintext, so a TLS test dials its own.
	security Security
}

// startServerWith is startServer with other parts. Unless told otherwise a
// test sidecar records its decisions in a real decision log on disk.
func startServerWith(tb testing.TB, cfg engine.Config, p parts) *testServer {
	tb.Helper()
	eng, err := engine.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	eng.Swap(demoIndex(tb))
	hist, err := history.Open(context.Background(), history.Options{Dir: tb.TempDir(), Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { hist.Close() })
	opts := check.Options{Engine: eng, Limits: validate.DefaultLimits(), History: hist, Logger: quietLog}
	srvOpts := Options{Engine: eng, Logger: quietLog, HistoryTruncations: hist.Truncations}
	var dlog *decisionlog.Log
	if !p.noLog {
		if dlog, err = decisionlog.Open(context.Background(), decisionlog.Options{Dir: tb.TempDir(), Logger: quietLog, SidecarID: "test-sidecar"}); err != nil {
			tb.Fatal(err)
		}
		// Registered before the server's cleanup, so it runs after it:
		// the log closes once the server has stopped.
		tb.Cleanup(func() { dlog.Close() })
		opts.Log, srvOpts.Decisions = dlog, dlog
		if p.wrapLog != nil {
			opts.Log = p.wrapLog(dlog)
		}
	}
	if p.plugins != nil {
		opts.Plugins = p.plugins
		srvOpts.Plugins = p.plugins.Status
	}
	svc := check.New(opts)
	srvOpts.Service = svc
	srvOpts.Security = p.security
	// Every door a sidecar can open, so tests over all routes (the roles
	// table) see them.
	if srvOpts.NHSA, err = nhsa.New(svc, nhsa.Config{}, quietLog); err != nil {
		tb.Fatal(err)
	}
	cds := cdshooks.Config{Enabled: true, Hospital: cdshooks.HospitalConfig{Code: "H370800001", Level: 2}}
	if srvOpts.CDSHooks, err = cdshooks.New(cds, svc, quietLog); err != nil {
		tb.Fatal(err)
	}
	srv := New(srvOpts)
	srv.SetReady()
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcLis, httpLis) }()
	conn, err := grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return &testServer{srv: srv, eng: eng, svc: svc, log: dlog, conn: conn, client: rxguardv1.NewGuardServiceClient(conn),
		httpAddr: httpLis.Addr().String(), grpcAddr: grpcLis.Addr().String()}
}

// exampleRequest loads a request from examples/ — the files the README uses.
func exampleRequest(tb testing.TB, name string) *rxguardv1.CheckOrdersRequest {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		tb.Fatal(err)
	}
	req := &rxguardv1.CheckOrdersRequest{}
	if err := protojson.Unmarshal(b, req); err != nil {
		tb.Fatal(err)
	}
	return req
}

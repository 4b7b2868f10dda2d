package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/server/cdshooks"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/grpccodec"
	"github.com/rxguard/rxguard/server/nhsa"
	"github.com/rxguard/rxguard/server/pluginhost"
)

// Default listeners (contract).
const (
	DefaultGRPCAddr = "127.0.0.1:7600"
	DefaultHTTPAddr = "127.0.0.1:7601"
)

// maxRecvBytes is the transport's hard cap. It is above the validator's
// request limit so that a request between the two gets InvalidArgument with
// a field violation the HIS developer can read, not a bare ResourceExhausted.
const maxRecvBytes = 4 << 20

// Server runs the gRPC and HTTP listeners of one sidecar.
type Server struct {
	log    *slog.Logger
	engine *engine.Engine
	guard  *Guard
	grpc   *grpc.Server
	health *health.Server
	http   *http.Server
	ready  atomic.Bool
	// stopServing ends the checks' claim on long passes (SetReady).
	stopServing atomic.Pointer[func()]
	// metrics is the sidecar's own registry (not the global default), so
	// tests and embedders can run several servers in one process.
	metrics *prometheus.Registry
	// What reports to /readyz, /status and /metrics (nil: not configured).
	sync      SyncStatus
	plugins   func() []pluginhost.PluginStatus
	storage   StorageStatus // the stores' disk guards (storage.go)
	memory    MemoryStatus  // the resident set (memory.go)
	decisions DecisionLogStatus
	// grpcConns and httpConns cap the connections of each listener.
	grpcConns, httpConns *connLimiter
	// security is the listeners' TLS and authentication; methods and
	// routes are the one table of who may call what (security.go).
	security Security
	methods  auth.MethodRoles
	routes   *routes
}

// DecisionLogStatus is what the server reports of the decision log.
type DecisionLogStatus interface {
	Status() decisionlog.Status
	Stats() decisionlog.Stats
}

// Options are the parts a sidecar's listeners serve and report on. Service
// and Engine are required; a nil part is not configured.
type Options struct {
	// Service decides (GuardService and AuditService are its adapters).
	Service *check.Service
	// Engine is read for /readyz and /status (the active release).
	Engine *engine.Engine
	Logger *slog.Logger
	// Conn bounds the listeners (zero fields: defaults).
	Conn ConnLimits
	// Sync reports bureau sync in /readyz, /status and /metrics.
	Sync SyncStatus
	// Plugins reports the plugin processes in /status and /metrics.
	Plugins func() []pluginhost.PluginStatus
	// Storage reports the stores' disk guards.
	Storage StorageStatus
	// Memory reports the resident set and the release of the stores'
	// mapped pages (nil: not reported).
	Memory MemoryStatus
	// Decisions reports the decision log (degraded when it cannot write).
	Decisions DecisionLogStatus
	// HistoryTruncations counts history lookups that hit the per-lookup
	// cap (history.Store.Truncations).
	HistoryTruncations func() uint64
	// CDSHooks serves /cds-services on the HTTP listener (nil: off).
	CDSHooks *cdshooks.Handler
	// NHSA serves the national 3101/3102/3103 endpoints on the HTTP
	// listener (nil: not served).
	NHSA *nhsa.Handler
	// Security is the listeners' TLS and authentication (zero:
	// plaintext, no credentials; see docs/security.md).
	Security Security
	// Register adds services to the gRPC server before it serves, behind
	// the same options and interceptors: benchmarks' baselines only (the
	// echo of docs/PERFORMANCE.md); nil in the product.
	Register func(grpc.ServiceRegistrar)
}

// New builds the listeners of one sidecar; they answer NOT_SERVING until
// SetReady is called with an active release.
func New(o Options) *Server {
	conn := o.Conn.withDefaults()
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, engine: o.Engine, guard: NewGuard(o.Service), health: health.NewServer(),
		sync: o.Sync, plugins: o.Plugins, storage: o.Storage, memory: o.Memory, decisions: o.Decisions,
		grpcConns: newConnLimiter("grpc", conn.GRPC.MaxConnections, log),
		httpConns: newConnLimiter("http", conn.HTTP.MaxConnections, log),
		security:  o.Security, methods: grpcMethodRoles(), routes: newRoutes(o.Security.HTTP.Auth)}
	rec := &recoverer{log: log}
	opts := append(conn.GRPC.serverOptions(), grpc.MaxRecvMsgSize(maxRecvBytes))
	// Roles first: a refused call never reaches a handler.
	opts = append(opts, grpcSecurityOptions(o.Security.GRPC, s.methods)...)
	opts = append(opts, grpc.ChainUnaryInterceptor(rec.unary), grpc.ChainStreamInterceptor(rec.stream),
		// Invalid UTF-8 reaches validation (InvalidArgument naming the
		// field) instead of failing the decode as Internal.
		grpc.ForceServerCodecV2(grpccodec.New()))
	s.grpc = grpc.NewServer(opts...)
	// Every method registered here needs its role in grpcMethodRoles
	// (security.go).
	s.grpc.RegisterService(guardServiceDesc(o.Service), s.guard)
	rxguardv1.RegisterAuditServiceServer(s.grpc, &Audit{svc: o.Service})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if o.Register != nil {
		// A benchmark baseline is called as the HIS calls CheckOrders,
		// behind the same interceptors and role.
		known := s.grpc.GetServiceInfo()
		o.Register(s.grpc)
		for name, info := range s.grpc.GetServiceInfo() {
			if _, ok := known[name]; ok {
				continue
			}
			for _, m := range info.Methods {
				s.methods["/"+name+"/"+m.Name] = auth.HIS
			}
		}
	}
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(rxguardv1.GuardService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)

	// The HTTP routes and who may call each: s.routes.handle is the only
	// way to add one (security.go).
	rt := s.routes
	rt.handleFunc("GET /healthz", auth.Public, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	rt.handleFunc("GET /readyz", auth.Public, s.readyz)
	rt.handleFunc("GET /status", cmp.Or(o.Security.StatusRole, auth.Public), s.statusPage)
	s.metrics = prometheus.NewRegistry()
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rt.handle("GET /metrics", cmp.Or(o.Security.MetricsRole, auth.Public), promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	s.metrics.MustRegister(o.Security.collectors()...)
	s.metrics.MustRegister(append(s.grpcConns.collectors(), s.httpConns.collectors()...)...)
	s.metrics.MustRegister(o.Service.Metrics().Collectors()...)
	s.metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rxguard_grpc_handler_panics_total",
		Help: "gRPC calls that panicked and were answered Internal (a bug: the log has the stack).",
	}, func() float64 { return float64(rec.panics.Load()) }))
	if s.sync != nil {
		s.metrics.MustRegister(newSyncCollector(s.sync))
	}
	if s.plugins != nil {
		s.metrics.MustRegister(newPluginCollector(s.plugins))
	}
	if s.storage != nil {
		s.metrics.MustRegister(newStorageCollector(s.storage))
	}
	if s.memory != nil {
		s.metrics.MustRegister(newMemoryCollector(s.memory))
	}
	if s.decisions != nil {
		s.metrics.MustRegister(newDecisionLogCollector(s.decisions))
	}
	if t := o.HistoryTruncations; t != nil {
		s.metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rxguard_history_lookup_truncated_total",
			Help: "History lookups that found more entries in the rules' window than the per-lookup cap; the newest were used (a patient with an implausible history: check what the HIS records).",
		}, func() float64 { return float64(t()) }))
	}
	// The national and CDS Hooks doors are HIS callers, like GuardService.
	if h := o.CDSHooks; h != nil {
		rt.handle("/cds-services", auth.HIS, h)
		rt.handle("/cds-services/", auth.HIS, h)
		s.metrics.MustRegister(h.Collectors()...)
	}
	if h := o.NHSA; h != nil {
		rt.handle(nhsa.Prefix, auth.HIS, h)
		s.metrics.MustRegister(h.Collectors()...)
	}
	s.http = conn.HTTP.httpServer(rt.mux)
	return s
}

// Guard returns the GuardService implementation (for in-process use).
func (s *Server) Guard() *Guard { return s.guard }

// SetReady marks the sidecar ready: a knowledge release is active. From
// then on until shutdown, long passes (a delta's apply) pause for the
// checks it answers on one processor (internal/yield).
func (s *Server) SetReady() {
	if !s.ready.Swap(true) {
		stop := yield.Serving()
		s.stopServing.Store(&stop)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(rxguardv1.GuardService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	idx := s.engine.Index()
	if !s.ready.Load() || idx == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "no active knowledge release"})
		return
	}
	// Ready does not depend on the bureau: a persisted or embedded release
	// is served; the sync detail says how fresh it is.
	m := idx.Manifest
	out := map[string]any{
		"ready": true, "knowledge_version": m.Version, "records": m.RecordCount, "created": m.Created,
	}
	if s.sync != nil {
		st := s.sync()
		out["sync"] = map[string]any{
			"stale": st.Stale, "last_success": st.LastSuccess, "last_error": st.LastError,
			"lag_seconds": st.LagSeconds, "versions_behind": st.VersionsBehind, "bureau_latest": st.BureauLatest,
		}
	}
	// Still 200 when a store refuses writes (disk nearly full): checks are
	// answered; "degraded" says signed orders are not being recorded.
	s.addStorage(out)
	s.addDecisions(out)
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves gRPC on grpcLis and HTTP on httpLis (nil = no HTTP) until
// ctx ends, then stops gracefully: in-flight checks finish. Each listener
// is capped at its MaxConnections.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	errc := make(chan error, 2)
	grpcLis = s.grpcConns.wrap(grpcLis)
	go func() { errc <- s.grpc.Serve(grpcLis) }()
	if httpLis != nil {
		httpLis = s.httpConns.wrap(httpLis)
		if t := s.security.HTTP.TLS; t != nil {
			// The handshake runs in the connection's goroutine, not in
			// Accept, so a slow client cannot stall the listener.
			httpLis = tls.NewListener(httpLis, t.Config())
		}
		go func() {
			if err := s.http.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		s.shutdown()
		return err
	}
	s.shutdown()
	return nil
}

func (s *Server) shutdown() {
	if stop := s.stopServing.Load(); stop != nil {
		(*stop)()
	}
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		s.grpc.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
}

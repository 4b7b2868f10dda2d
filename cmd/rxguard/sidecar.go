package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/internal/resident"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/cdshooks"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/nhsa"
	"github.com/rxguard/rxguard/server/pluginhost"
	"github.com/rxguard/rxguard/server/validate"
)

// decisionLogConfig is the decision record's section (docs/operations.md,
// "Decision record").
type decisionLogConfig struct {
	// Disabled turns the decision log off (RecordResponse and AuditService
	// then answer FailedPrecondition). It is on by default.
	Disabled bool `json:"disabled,omitempty"`
	// Durability: "async" (default; a kill -9 loses at most the last
	// commit interval) or "sync" (the reply waits for the group commit).
	Durability string `json:"durability,omitempty"`
	// Retention: Go duration; default 26280h (3 years).
	Retention string `json:"retention,omitempty"`
	// CommitInterval: Go duration, the group-commit interval; default 5ms.
	CommitInterval string `json:"commit_interval,omitempty"`
	// SyncInterval: Go duration; in async durability, how often what was
	// committed is fsynced (the power-loss window); default 1s.
	SyncInterval string `json:"sync_interval,omitempty"`
	// QueueSize: decisions that may wait for the writer; default 8192.
	QueueSize int `json:"queue_size,omitempty"`
	// SidecarID names this instance in every decision; default the host
	// name.
	SidecarID string `json:"sidecar_id,omitempty"`
}

func (c decisionLogConfig) options(dir string, log *slog.Logger, space *diskspace.Guard) (decisionlog.Options, error) {
	o := decisionlog.Options{Dir: dir, Logger: log, Space: space, QueueSize: c.QueueSize, SidecarID: c.SidecarID}
	var err error
	if o.Durability, err = decisionlog.ParseDurability(c.Durability); err != nil {
		return o, fmt.Errorf("decision_log.durability: %w", err)
	}
	if o.Retention, err = positiveDuration("decision_log.retention", c.Retention); err != nil {
		return o, err
	}
	if o.CommitInterval, err = positiveDuration("decision_log.commit_interval", c.CommitInterval); err != nil {
		return o, err
	}
	if o.SyncInterval, err = positiveDuration("decision_log.sync_interval", c.SyncInterval); err != nil {
		return o, err
	}
	// Ranges (queue_size, the intervals' upper bounds) and defaults
	// (sidecar_id: the host name) are decisionlog.Open's.
	return o, nil
}

// sidecar is one running rxguard: its stores, engine, check service,
// plugins, bureau sync and listeners. newSidecar is the one function that
// assembles it from its configuration; `rxguard serve` and the tests use it
// alike.
type sidecar struct {
	log       *slog.Logger
	dataDir   string
	eng       *engine.Engine
	kb        *store.Store
	decisions *decisionlog.Log // nil: disabled
	sync      *syncer          // nil: no bureau
	srv       *server.Server
	// kbSpace guards the knowledge store (watchDisk stores the embedded
	// demo release through it once there is room); space, the others.
	kbSpace *diskspace.Guard
	space   []*diskspace.Guard
	pages   *resident.Dirs // the logs' directories and the knowledge tables, whose mapped pages run gives back
	grpcLis net.Listener
	httpLis net.Listener
	closers []func()
	// loaded restores the memory limit raised for the knowledge load
	// (raiseMemoryLimitForLoad).
	loaded func()
	// encrypted: the patient history and the decision log are encrypted
	// at rest (encryption.key_file).
	encrypted bool
}

// releaseInterval is how often the logs' mapped pages are released: at
// 4,000 checks a second the decision log appends about 14 MB a second.
const releaseInterval = time.Second

// newSidecar opens everything the configuration names and binds the
// listeners; run serves. On error, whatever was opened is closed.
func newSidecar(ctx context.Context, cfg config, log *slog.Logger) (_ *sidecar, err error) {
	sc := &sidecar{log: log, dataDir: cfg.DataDir, encrypted: cfg.Encryption.KeyFile != ""}
	// Until the knowledge is loaded (the store's proof at Open, the
	// compile in run): the load's live heap is above a sidecar-sized limit.
	sc.loaded = raiseMemoryLimitForLoad(log)
	defer func() {
		if err != nil {
			sc.close()
		}
	}()
	if sc.eng, err = engine.New(cfg.Engine); err != nil {
		return nil, fmt.Errorf("rule configuration: %w", err)
	}
	conn, err := cfg.connLimits()
	if err != nil {
		return nil, fmt.Errorf("connection limits: %w", err)
	}
	// Before anything is opened: a listener that would be reachable
	// without TLS or credentials stops the start here.
	security, err := cfg.Security.build(cfg.GRPCAddr, cfg.HTTPAddr, log)
	if err != nil {
		return nil, err
	}
	// Before any store is opened: a key file that is missing, malformed or
	// readable by others stops the start with nothing touched.
	key, err := cfg.Encryption.key()
	if err != nil {
		return nil, err
	}
	kbSpace, histSpace, decSpace := cfg.diskGuards(log)
	sc.kbSpace, sc.space = kbSpace, []*diskspace.Guard{histSpace}
	if sc.kb, err = store.Open(ctx, store.Options{Dir: filepath.Join(cfg.DataDir, "kb"), Logger: log, Space: kbSpace}); err != nil {
		return nil, err
	}
	sc.closers = append(sc.closers, func() { sc.kb.Close() })
	hist, err := history.Open(ctx, history.Options{Dir: filepath.Join(cfg.DataDir, "history"), Logger: log, Space: histSpace, EncryptionKey: key})
	if err != nil {
		return nil, err
	}
	sc.closers = append(sc.closers, func() { hist.Close() })

	svcOpts := check.Options{Engine: sc.eng, Limits: validate.DefaultLimits(), History: hist, Logger: log}
	srvOpts := server.Options{Engine: sc.eng, Logger: log, Conn: conn, HistoryTruncations: hist.Truncations, Security: security}
	if !cfg.DecisionLog.Disabled {
		o, err := cfg.DecisionLog.options(filepath.Join(cfg.DataDir, "decisions"), log, decSpace)
		if err != nil {
			return nil, err
		}
		o.EncryptionKey = key
		if sc.decisions, err = decisionlog.Open(ctx, o); err != nil {
			return nil, fmt.Errorf("decision log: %w", err)
		}
		// Closed after the listeners stopped: everything answered is
		// flushed (closers run in reverse).
		sc.closers = append(sc.closers, func() {
			if err := sc.decisions.Close(); err != nil {
				log.Error("decision log close", "err", err)
			}
		})
		sc.space = append(sc.space, decSpace)
		svcOpts.Log, srvOpts.Decisions = sc.decisions, sc.decisions
	}
	stores := append([]*diskspace.Guard{kbSpace}, sc.space...)
	srvOpts.Storage = func() []diskspace.Status {
		out := make([]diskspace.Status, len(stores))
		for i, g := range stores {
			out[i] = g.Status()
		}
		return out
	}
	if len(cfg.Plugins) > 0 {
		pcfgs, err := cfg.pluginHostConfigs()
		if err != nil {
			return nil, err
		}
		plugins, err := pluginhost.Start(ctx, pcfgs, log)
		if err != nil {
			return nil, fmt.Errorf("plugins: %w", err)
		}
		sc.closers = append(sc.closers, func() { plugins.Close() })
		svcOpts.Plugins, srvOpts.Plugins = plugins, plugins.Status
	}
	if cfg.Bureau.Address != "" {
		if sc.sync, err = prepareSync(ctx, cfg.Bureau, sc.kb, sc.eng, log); err != nil {
			return nil, fmt.Errorf("bureau sync: %w", err)
		}
		sc.closers = append(sc.closers, sc.sync.close)
		svcOpts.Stale, srvOpts.Sync = sc.sync.client.Stale, sc.sync.client.Status
	}
	// The logs' mapped pages are given back every second (package
	// resident): without it every decision written stays in the resident
	// set (340 MB after 100,000 checks at the seeds' scale), growing
	// with every check until the kernel runs short of memory. The
	// knowledge store's tables are only dropped from the resident set
	// (180 MB at that scale, read by the cold load and every delta, then
	// by nothing: the compiled index answers the checks) and stay in the
	// page cache: evicted, they were read back page fault by page fault
	// by the next delta, on the core the checks run on
	// (docs/PERFORMANCE.md).
	dirs := []string{filepath.Join(cfg.DataDir, "history")}
	if sc.decisions != nil {
		dirs = append(dirs, filepath.Join(cfg.DataDir, "decisions"))
	}
	sc.pages = resident.NewDirs(dirs...).Cached(sc.kb.HoldTables, sc.kb.Streaming)
	srvOpts.Memory = sc.pages.Status
	srvOpts.Service = check.New(svcOpts)
	if !cfg.NHSA.Disabled {
		if srvOpts.NHSA, err = nhsa.New(srvOpts.Service, cfg.NHSA, log); err != nil {
			return nil, err
		}
	}
	if cfg.CDSHooks.Enabled {
		if srvOpts.CDSHooks, err = cdshooks.New(cfg.CDSHooks, srvOpts.Service, log); err != nil {
			return nil, err
		}
	}
	srvOpts.Register = benchServices
	sc.srv = server.New(srvOpts)

	if sc.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("gRPC listener: %w", err)
	}
	// Serve closes the listeners when it stops; these close them when run
	// never started (a second Close is harmless).
	sc.closers = append(sc.closers, func() { sc.grpcLis.Close() })
	if cfg.HTTPAddr != "off" {
		if sc.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("HTTP listener: %w", err)
		}
		sc.closers = append(sc.closers, func() { sc.httpLis.Close() })
	}
	return sc, nil
}

// run serves until ctx ends, then stops gracefully (in-flight checks
// finish; the decision log is flushed by close).
func (sc *sidecar) run(ctx context.Context) error {
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- sc.srv.Serve(serveCtx, sc.grpcLis, sc.httpLis) }()
	go sc.pages.Run(ctx, releaseInterval, sc.log)
	m, err := server.EnsureActive(ctx, sc.kb, sc.eng, sc.log)
	sc.loaded()
	if err != nil {
		// Stop serving: a sidecar without knowledge must exit (and be
		// restarted by its supervisor), not hang NOT_SERVING.
		stop()
		return errors.Join(fmt.Errorf("load knowledge: %w", err), <-served)
	}
	sc.srv.SetReady()
	watchDisk(ctx, sc.kb, sc.eng, sc.log, sc.kbSpace, sc.space...)
	if sc.sync != nil {
		sc.sync.start(ctx)
	}
	httpAddr := "off"
	if sc.httpLis != nil {
		httpAddr = sc.httpLis.Addr().String()
	}
	sc.log.Info("rxguard serving", "grpc", sc.grpcLis.Addr().String(), "http", httpAddr, "knowledge_version", m.Version,
		"codes", sc.eng.Index().Codes(), "data", sc.dataDir, "decision_log", sc.decisions != nil, "encrypted_at_rest", sc.encrypted)
	// Reclaim space of releases garbage-collected by the switch; off the
	// request path.
	go func() { _ = sc.kb.RunGC(ctx) }()
	return <-served
}

// close closes what newSidecar opened, last opened first.
func (sc *sidecar) close() {
	if sc.loaded != nil {
		sc.loaded() // a start that failed before the load ended
	}
	for i := len(sc.closers) - 1; i >= 0; i-- {
		sc.closers[i]()
	}
	sc.closers = nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/pluginhost"
	"github.com/rxguard/rxguard/server/validate"
)

func cmdServe(ctx context.Context, args []string, log *slog.Logger, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (JSON; see docs/operations.md)")
	grpcAddr := fs.String("grpc", "", "gRPC listen address (default "+server.DefaultGRPCAddr+")")
	httpAddr := fs.String("http", "", "HTTP listen address for health endpoints (default "+server.DefaultHTTPAddr+"; \"off\" disables)")
	dataDir := fs.String("data", "", "data directory (default ./data)")
	bureauAddr := fs.String("bureau", "", "bureau address to sync from (overrides bureau.address)")
	var trusted stringList
	fs.Var(&trusted, "trusted-key", "bureau publisher public key (base64 or hex); repeatable; added to bureau.trusted_keys")
	poll := fs.String("poll", "", "bureau poll interval (overrides bureau.poll_interval)")
	skew := fs.String("max-clock-skew", "", "refuse releases created further after this host's clock (overrides bureau.max_clock_skew; default 24h)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *grpcAddr != "" {
		cfg.GRPCAddr = *grpcAddr
	}
	if *httpAddr != "" {
		cfg.HTTPAddr = *httpAddr
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *bureauAddr != "" {
		cfg.Bureau.Address = *bureauAddr
	}
	cfg.Bureau.TrustedKeys = append(cfg.Bureau.TrustedKeys, trusted...)
	if *poll != "" {
		cfg.Bureau.PollInterval = *poll
	}
	if *skew != "" {
		cfg.Bureau.MaxClockSkew = *skew
	}

	eng, err := engine.New(cfg.Engine)
	if err != nil {
		return fmt.Errorf("rule configuration: %w", err)
	}
	conn, err := cfg.connLimits()
	if err != nil {
		return fmt.Errorf("connection limits: %w", err)
	}
	kbSpace, histSpace := cfg.diskGuards(log)
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(cfg.DataDir, "kb"), Logger: log, Space: kbSpace})
	if err != nil {
		return err
	}
	defer st.Close()

	hist, err := history.Open(ctx, history.Options{Dir: filepath.Join(cfg.DataDir, "history"), Logger: log, Space: histSpace})
	if err != nil {
		return err
	}
	defer hist.Close()

	srv := server.NewWithConnLimits(eng, validate.DefaultLimits(), conn, log)
	srv.WithHistory(hist)
	srv.WithStorage(func() []diskspace.Status { return []diskspace.Status{kbSpace.Status(), histSpace.Status()} })
	if len(cfg.Plugins) > 0 {
		pcfgs, err := cfg.pluginHostConfigs()
		if err != nil {
			return err
		}
		plugins, err := pluginhost.Start(ctx, pcfgs, log)
		if err != nil {
			return fmt.Errorf("plugins: %w", err)
		}
		defer plugins.Close()
		srv.WithPlugins(plugins)
	}
	var sy *syncer
	if cfg.Bureau.Address != "" {
		if sy, err = prepareSync(ctx, cfg.Bureau, st, eng, srv, log); err != nil {
			return fmt.Errorf("bureau sync: %w", err)
		}
		defer sy.close()
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	var httpLis net.Listener
	if cfg.HTTPAddr != "off" {
		if httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			grpcLis.Close()
			return fmt.Errorf("HTTP listener: %w", err)
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, grpcLis, httpLis) }()

	m, err := server.EnsureActive(ctx, st, eng, log)
	if err != nil {
		return fmt.Errorf("load knowledge: %w", err)
	}
	srv.SetReady()
	watchDisk(ctx, st, eng, log, kbSpace, histSpace)
	if sy != nil {
		sy.start(ctx)
	}
	log.Info("rxguard serving", "grpc", grpcLis.Addr().String(), "http", cfg.HTTPAddr, "knowledge_version", m.Version,
		"codes", eng.Index().Codes(), "data", cfg.DataDir)
	// Reclaim space of releases garbage-collected by the switch; off the
	// request path.
	go func() { _ = st.RunGC(ctx) }()
	return <-served
}

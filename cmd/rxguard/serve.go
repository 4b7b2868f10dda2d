package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/rxguard/rxguard/server"
)

func cmdServe(ctx context.Context, args []string, log *slog.Logger, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `FILE` (YAML or JSON; rxguard config example prints every key; see docs/operations.md)")
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
	// Decode the file, apply the flags, then validate once: a flag may
	// supply what the file lacks (-trusted-key for bureau.address).
	cfg, file, err := decodeConfig(*cfgPath)
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
	if err := cfg.check(file); err != nil {
		return err
	}

	sc, err := newSidecar(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sc.close()
	return sc.run(ctx)
}

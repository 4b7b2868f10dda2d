package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rxguard/rxguard/internal/tlsreload"
	"github.com/rxguard/rxguard/knowledge/bureausync"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/engine"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// syncer is the bureau sync client with its connection. prepareSync makes
// it before the server (which reports its status) is built;
// start runs it in the background once a release is active: the sidecar
// serves its persisted release and nothing waits for the bureau.
type syncer struct {
	client *bureausync.Client
	conn   *grpc.ClientConn
	log    *slog.Logger
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

func prepareSync(ctx context.Context, cfg bureauConfig, st *store.Store, eng *engine.Engine, log *slog.Logger) (*syncer, error) {
	trusted, err := parseTrustedKeys(cfg.TrustedKeys)
	if err != nil {
		return nil, err
	}
	poll, stale, backoff, err := cfg.durations()
	if err != nil {
		return nil, err
	}
	skew, err := cfg.maxClockSkew()
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		// TLS to the bureau; with cert_file/key_file also a client
		// certificate (mutual TLS), reloaded when it is renewed.
		c, err := tlsreload.NewClient(tlsreload.ClientFiles{CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile},
			tlsreload.Options{Name: "bureau", Logger: log})
		if err != nil {
			return nil, fmt.Errorf("bureau.ca_file, cert_file, key_file: %w", err)
		}
		creds = credentials.NewTLS(c.Config())
	}
	conn, err := grpc.NewClient(cfg.Address, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, fmt.Errorf("bureau address %q: %w", cfg.Address, err)
	}
	client, err := bureausync.New(ctx, cfg.Address, conn, st, server.Knowledge{Store: st, Engine: eng}, bureausync.Options{
		Trusted: trusted, PollInterval: poll, StaleAfter: stale, MaxBackoff: backoff, MaxClockSkew: skew, Logger: log,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	log.Info("bureau sync configured", "bureau", cfg.Address, "trusted_keys", len(trusted), "poll_interval", client.PollInterval())
	return &syncer{client: client, conn: conn, log: log}, nil
}

func (s *syncer) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.client.Run(ctx) }()
}

// close stops the loop (if started) and closes the connection.
func (s *syncer) close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.conn.Close()
}

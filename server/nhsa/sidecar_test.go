package nhsa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/nhsa"
	"github.com/rxguard/rxguard/server/validate"
)

var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// demoIndex is the embedded demo release, compiled once per test binary.
var demoIndex = sync.OnceValues(func() (*engine.Index, error) {
	m, records, _, err := demo.Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, err
	}
	return engine.CompileRecords(m, records)
})

// sidecar is a real rxguard on loopback ports: the demo release, Badger
// history and decision log on disk, gRPC and HTTP listeners with the
// national endpoints, assembled the way server's e2e tests do.
type sidecar struct {
	svc    *check.Service
	base   string // http://127.0.0.1:port
	guard  rxguardv1.GuardServiceClient
	audit  rxguardv1.AuditServiceClient
	client *http.Client
}

func startSidecar(tb testing.TB, cfg nhsa.Config) *sidecar {
	tb.Helper()
	idx, err := demoIndex()
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := engine.New(engine.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	eng.Swap(idx)
	ctx := context.Background()
	hist, err := history.Open(ctx, history.Options{Dir: tb.TempDir(), Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { hist.Close() })
	dlog, err := decisionlog.Open(ctx, decisionlog.Options{Dir: tb.TempDir(), Logger: quietLog, SidecarID: "test-sidecar"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dlog.Close() })
	svc := check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), History: hist, Log: dlog, Logger: quietLog})
	h, err := nhsa.New(svc, cfg, quietLog)
	if err != nil {
		tb.Fatal(err)
	}
	srv := server.New(server.Options{Service: svc, Engine: eng, Logger: quietLog, Decisions: dlog, NHSA: h})
	srv.SetReady()
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, grpcLis, httpLis) }()
	conn, err := grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	tb.Cleanup(func() {
		conn.Close()
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return &sidecar{svc: svc, base: "http://" + httpLis.Addr().String(), guard: rxguardv1.NewGuardServiceClient(conn),
		audit: rxguardv1.NewAuditServiceClient(conn), client: client}
}

// post sends body to path and returns the status and the decoded reply.
func (s *sidecar) post(tb testing.TB, path string, body []byte) (int, map[string]any) {
	tb.Helper()
	code, _, out := s.postRaw(tb, path, body)
	return code, out
}

// postRaw is post that also returns the reply's bytes.
func (s *sidecar) postRaw(tb testing.TB, path string, body []byte) (int, []byte, map[string]any) {
	tb.Helper()
	code, b, out, err := s.tryPost(path, body)
	if err != nil {
		tb.Fatal(err)
	}
	return code, b, out
}

// tryPost is postRaw for other goroutines than the test's (which must not
// call Fatal): the failure is returned.
func (s *sidecar) tryPost(path string, body []byte) (int, []byte, map[string]any, error) {
	resp, err := s.client.Post(s.base+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, nil, nil, fmt.Errorf("%s: reply is not JSON (%d): %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, b, out, nil
}

func nhsaConfigDefault() nhsa.Config { return nhsa.Config{} }

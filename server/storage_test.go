package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
)

// A nearly full disk (a guard over a settable free space): RecordSigned is
// refused with ResourceExhausted and records nothing, checks go on,
// /readyz stays 200 and says degraded, /status and /metrics report the
// store; with room again all of it clears.
func TestNearlyFullDiskDegradesWithoutStoppingChecks(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	space := diskspace.New("history", "/data/history", diskspace.Options{MinFree: 256 << 20, Logger: quietLog,
		Statfs: func(string) (uint64, error) { return free.Load(), nil }})
	hist, err := history.Open(context.Background(), history.Options{Dir: t.TempDir(), Logger: quietLog, Space: space})
	if err != nil {
		t.Fatal(err)
	}
	defer hist.Close()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	eng.Swap(demoIndex(t))
	srv := New(Options{Engine: eng, Logger: quietLog,
		Service: check.New(check.Options{Engine: eng, History: hist, Logger: quietLog}),
		Storage: func() []diskspace.Status { return []diskspace.Status{space.Status()} }})
	srv.SetReady()
	ctx := context.Background()
	sign := &rxguardv1.RecordSignedRequest{PatientId: "P-DISK", EncounterId: "E1",
		Orders: []*rxguardv1.OrderLine{{LineId: "1", ItemCode: "001103000010000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1}}}

	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.http.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	readyz := func() (degraded bool) {
		t.Helper()
		code, body := get("/readyz")
		var r struct {
			Degraded *bool              `json:"degraded"`
			Storage  []diskspace.Status `json:"storage"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Degraded == nil || len(r.Storage) != 1 {
			t.Fatalf("/readyz: %d %s", code, body)
		}
		return *r.Degraded
	}

	if readyz() {
		t.Fatal("degraded with room on the disk")
	}
	if _, err := srv.Guard().RecordSigned(ctx, sign); err != nil {
		t.Fatal(err)
	}

	free.Store(10 << 20)
	_, err = srv.Guard().RecordSigned(ctx, sign)
	if status.Code(err) != codes.ResourceExhausted ||
		!strings.Contains(err.Error(), "disk nearly full: free space on /data/history is 10.0 MiB, below the 256.0 MiB") ||
		!strings.Contains(err.Error(), "recorded nothing") || strings.Contains(err.Error(), "P-DISK") {
		t.Fatalf("RecordSigned on a nearly full disk: %v", err)
	}
	resp, err := srv.Guard().CheckOrders(ctx, exampleRequest(t, "male-aifu-nuangong.json"))
	if err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
		t.Fatalf("CheckOrders on a nearly full disk: %v %v", resp.GetVerdict(), err)
	}
	if !readyz() {
		t.Fatal("/readyz not degraded while the history store refuses writes")
	}
	if _, body := get("/status"); !strings.Contains(body, `"degraded":true`) || !strings.Contains(body, `"refused_writes_total":1`) {
		t.Fatalf("/status: %s", body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`rxguard_store_writable{store="history"} 0`,
		`rxguard_store_free_bytes{store="history"} 1.048576e+07`,
		`rxguard_store_min_free_bytes{store="history"} 2.68435456e+08`,
		`rxguard_store_writes_refused_total{store="history"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	free.Store(1 << 30)
	space.Poll()
	if readyz() {
		t.Fatal("still degraded with room again")
	}
	if _, err := srv.Guard().RecordSigned(ctx, sign); err != nil {
		t.Fatalf("RecordSigned with room again: %v", err)
	}
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `rxguard_store_writable{store="history"} 1`) {
		t.Error("/metrics: the store is writable again")
	}
}

// On a nearly full disk with no store yet, EnsureActive serves the demo
// release from memory and stores nothing; called again once the store
// takes writes, it stores and activates it.
func TestEnsureActiveOnANearlyFullDiskServesTheDemoUnstored(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 20)
	dir := t.TempDir() + "/kb"
	space := diskspace.New("knowledge", dir, diskspace.Options{MinFree: 256 << 20, Logger: quietLog,
		Statfs: func(string) (uint64, error) { return free.Load(), nil }})
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: dir, Logger: quietLog, Space: space})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := EnsureActive(ctx, st, eng, quietLog)
	if err != nil || eng.Index() == nil || eng.Index().Manifest.Version != m.Version {
		t.Fatalf("EnsureActive on a nearly full disk: %v", err)
	}
	if _, ok, err := st.Active(ctx); err != nil || ok {
		t.Fatalf("the demo release was stored on a nearly full disk: %v %v", ok, err)
	}
	free.Store(1 << 30)
	space.Poll() // the store reopens for writing
	if _, err := EnsureActive(ctx, st, eng, quietLog); err != nil {
		t.Fatal(err)
	}
	if a, ok, err := st.Active(ctx); err != nil || !ok || a.Version != m.Version {
		t.Fatalf("with room, the demo release is stored and active: %v %v %v", a.Version, ok, err)
	}
}

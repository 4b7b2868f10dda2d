package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/pluginhost"
)

func TestMain(m *testing.M) { sdktest.Main(m) }

const (
	antibioticPkg = "github.com/rxguard/rxguard/plugins/examples/antibiotic-tier"
	highCostPkg   = "github.com/rxguard/rxguard/plugins/examples/high-cost"
	voriconazole  = "XJ02ACD9019A001010199919" // 伏立康唑: 特殊使用级 in the demo table
)

func pinned(t testing.TB, name, pkg string, policy pluginhost.Policy) pluginhost.Config {
	t.Helper()
	path := sdktest.Build(t, pkg)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return pluginhost.Config{Name: name, Path: path, SHA256: hex.EncodeToString(sum[:]), Timeout: 200 * time.Millisecond, OnFailure: policy}
}

// startWithPlugins is a sidecar on loopback with both example plugins.
func startWithPlugins(t testing.TB) (*testServer, *pluginhost.Manager) {
	t.Helper()
	m, err := pluginhost.Start(context.Background(), []pluginhost.Config{
		pinned(t, "antibiotic-tier", antibioticPkg, pluginhost.FailOpen),
		pinned(t, "high-cost", highCostPkg, pluginhost.FailClosed),
	}, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return startServerWith(t, engine.Config{}, parts{plugins: m}), m
}

// residentVoriconazole: a resident prescribes a 特殊使用级 antibiotic.
func residentVoriconazole() *rxguardv1.CheckOrdersRequest {
	req := clinicalRequest([]string{"B44.000"}, [2]string{voriconazole, "伏立康唑"})
	req.Physician.Title = rxguardv1.Title_TITLE_RESIDENT
	return req
}

func TestE2EPluginsBlockAndWarn(t *testing.T) {
	ts, _ := startWithPlugins(t)
	resp, err := ts.client.CheckOrders(context.Background(), residentVoriconazole())
	if err != nil {
		t.Fatal(err)
	}
	var tier *rxguardv1.Finding
	for _, f := range resp.Findings {
		if f.Source == "plugin:antibiotic-tier" {
			tier = f
		}
	}
	if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || tier == nil || tier.Action != rxguardv1.Action_ACTION_BLOCK ||
		tier.FindingId == "" || tier.Overridable || strings.Join(tier.LineIds, ",") != "1" {
		t.Fatalf("resident + 特殊使用级: %v %v", resp.Verdict, resp.Findings)
	}

	// An associate chief may prescribe it; a costly line needs a second signer.
	req := residentVoriconazole()
	req.Physician.Title = rxguardv1.Title_TITLE_ASSOCIATE_CHIEF
	req.Orders[0].Quantity, req.Orders[0].UnitPrice = 100, 80 // ¥8,000.00
	resp, err = ts.client.CheckOrders(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]rxguardv1.Action{}
	for _, f := range resp.Findings {
		sources[f.Source+"/"+f.RuleType] = f.Action
	}
	if _, blocked := sources["plugin:antibiotic-tier/ANTIBIOTIC_TIER"]; blocked {
		t.Errorf("associate chief blocked: %v", resp.Findings)
	}
	if sources["plugin:high-cost/HIGH_COST"] != rxguardv1.Action_ACTION_WARN || resp.Verdict != rxguardv1.Verdict_VERDICT_WARN {
		t.Errorf("high-cost line: %v %v", resp.Verdict, resp.Findings)
	}
}

// SIGKILL the antibiotic plugin again and again under load: no RPC fails,
// every response carries either the plugin's BLOCK or its fail_open INFO,
// and the plugin is back within a second of each kill.
func TestE2EPluginChaos(t *testing.T) {
	ts, m := startWithPlugins(t)
	req := residentVoriconazole()
	statusOf := func() pluginhost.PluginStatus {
		for _, s := range m.Status() {
			if s.Name == "antibiotic-tier" {
				return s
			}
		}
		t.Fatal("no status for antibiotic-tier")
		return pluginhost.PluginStatus{}
	}

	var stop atomic.Bool
	var ok, blocked, unavailable, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := ts.client.CheckOrders(context.Background(), req)
				if err != nil {
					failed.Add(1)
					t.Errorf("CheckOrders failed during chaos: %v", err)
					return
				}
				ok.Add(1)
				seen := false
				for _, f := range resp.Findings {
					switch {
					case f.Source == "plugin:antibiotic-tier" && f.Action == rxguardv1.Action_ACTION_BLOCK:
						blocked.Add(1)
						seen = true
					case f.Source == "plugin:antibiotic-tier" && f.RuleType == "PLUGIN_UNAVAILABLE" && f.Action == rxguardv1.Action_ACTION_INFO:
						unavailable.Add(1)
						seen = true
					}
				}
				if !seen {
					t.Errorf("response without the plugin's finding or its failure policy: %v", resp.Findings)
					return
				}
			}
		}()
	}

	const kills = 6
	var worst time.Duration
	for i := 0; i < kills; i++ {
		time.Sleep(150 * time.Millisecond)
		pid := statusOf().PID
		if pid == 0 {
			t.Fatalf("kill %d: plugin not running: %+v", i, statusOf())
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		for {
			s := statusOf()
			if s.State == pluginhost.StateRunning && s.PID != 0 && s.PID != pid {
				if d := time.Since(killed); d > worst {
					worst = d
				}
				break
			}
			if time.Since(killed) > time.Second {
				t.Fatalf("kill %d: plugin not back within 1 s: %+v", i, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(150 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d checks, %d with the plugin's BLOCK, %d with fail_open INFO, %d failed; %d kills, slowest recovery %v, restarts %d",
		ok.Load(), blocked.Load(), unavailable.Load(), failed.Load(), kills, worst, statusOf().Restarts)
	if failed.Load() != 0 || blocked.Load() == 0 || statusOf().Restarts < kills {
		t.Errorf("chaos: %d failed, %d blocked, %d restarts", failed.Load(), blocked.Load(), statusOf().Restarts)
	}

	// Hospital IT sees it on /metrics: restarts, calls, latency per plugin.
	resp, err := http.Get("http://" + ts.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	for _, want := range []string{
		fmt.Sprintf(`rxguard_plugin_restarts_total{plugin="antibiotic-tier"} %d`, statusOf().Restarts),
		`rxguard_plugin_up{plugin="antibiotic-tier",state="running"} 1`,
		`rxguard_plugin_call_duration_seconds_count{plugin="high-cost"}`,
		`rxguard_plugin_calls_total{plugin="antibiotic-tier"}`,
		`rxguard_plugin_bad_fixes_total{plugin="antibiotic-tier"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

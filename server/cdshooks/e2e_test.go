package cdshooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/cdshooks"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// checkNow is the sidecar's clock in these tests: CDS Hooks requests carry
// no check time, so the decisions are reproducible only with a fixed one.
var checkNow = time.Date(2026, 11, 22, 10, 0, 0, 0, engine.Shanghai)

var demoIndex = sync.OnceValues(func() (*engine.Index, error) {
	m, records, _, err := demo.Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, err
	}
	return engine.CompileRecords(m, records)
})

// sidecar is a real rxguard (demo release, history and decision log on
// disk) serving HTTP on loopback with CDS Hooks enabled.
type sidecar struct {
	base string // http://127.0.0.1:port
	svc  *check.Service
}

func testConfig() cdshooks.Config {
	return cdshooks.Config{Enabled: true, Hospital: cdshooks.HospitalConfig{Code: "H370800001", Level: 2}}
}

func startSidecar(t *testing.T, cfg cdshooks.Config) *sidecar {
	t.Helper()
	idx, err := demoIndex()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	eng.Swap(idx)
	ctx := context.Background()
	hist, err := history.Open(ctx, history.Options{Dir: t.TempDir(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hist.Close() })
	dlog, err := decisionlog.Open(ctx, decisionlog.Options{Dir: t.TempDir(), Logger: quietLog, SidecarID: "test-sidecar"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlog.Close() })
	svc := check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), History: hist, Log: dlog,
		Logger: quietLog, Now: func() time.Time { return checkNow }})
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + httpLis.Addr().String()
	if cfg.BaseURL == "" {
		cfg.BaseURL = base
	}
	h, err := cdshooks.New(cfg, svc, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Service: svc, Engine: eng, Logger: quietLog, Decisions: dlog, CDSHooks: h})
	srv.SetReady()
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, grpcLis, httpLis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &sidecar{base: base, svc: svc}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (s *sidecar) do(t *testing.T, method, path string, body []byte, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var uuidV7 = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// masked replaces decision ids by DECISION-1, DECISION-2 … in order of
// first appearance, so a golden file is stable and still shows which
// cards belong to which decision.
func masked(b []byte) []byte {
	seen := map[string]string{}
	return uuidV7.ReplaceAllFunc(b, func(id []byte) []byte {
		m, ok := seen[string(id)]
		if !ok {
			m = fmt.Sprintf("DECISION-%d", len(seen)+1)
			seen[string(id)] = m
		}
		return []byte(m)
	})
}

// golden compares got (JSON) to testdata/name after indenting and masking.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: answer is not JSON: %v\n%s", name, err, got)
	}
	pretty, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	pretty = append(masked(pretty), '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./server/cdshooks/ -update to create it)", err)
	}
	if !bytes.Equal(want, pretty) {
		t.Errorf("%s differs from the answer (go test -update rewrites it):\n--- got\n%s", name, pretty)
	}
}

type hookAnswer struct {
	Cards []struct {
		UUID      string `json:"uuid"`
		Indicator string `json:"indicator"`
		Summary   string `json:"summary"`
		Source    struct {
			Topic struct {
				Code string `json:"code"`
			} `json:"topic"`
		} `json:"source"`
		Extension map[string]any `json:"extension"`
	} `json:"cards"`
	Extension map[string]any `json:"extension"`
}

func decodeAnswer(t *testing.T, r reply) hookAnswer {
	t.Helper()
	var a hookAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return a
}

// The golden conversations: discovery, order-sign for a BLOCK and a WARN
// prescription, order-select showing only the selection's cards, feedback
// accepted and overridden read back from the decision log, 412 without a
// patient.
func TestGoldenConversations(t *testing.T) {
	sc := startSidecar(t, testConfig())
	ctx := context.Background()

	r := sc.do(t, http.MethodGet, "/cds-services", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("discovery: %d %s", r.status, r.body)
	}
	golden(t, "discovery.golden.json", r.body)

	// 艾附暖宫丸 (female-only) for a man: BLOCK → critical with the
	// block extension.
	r = sc.do(t, http.MethodPost, "/cds-services/rxguard-order-sign", readTestdata(t, "order-sign-block.request.json"), nil)
	if r.status != http.StatusOK {
		t.Fatalf("order-sign block: %d %s", r.status, r.body)
	}
	golden(t, "order-sign-block.golden.json", r.body)
	block := decodeAnswer(t, r)
	var blockCard string
	for _, c := range block.Cards {
		if c.Source.Topic.Code == "DRUG_GENDER" && c.Indicator == "critical" && c.Extension["rxguard-block"] == true {
			blockCard = c.UUID
		}
	}
	if blockCard == "" || block.Extension["rxguard-verdict"] != "BLOCK" {
		t.Fatalf("no critical DRUG_GENDER card with rxguard-block: %s", r.body)
	}

	// 莫西沙星 for hypertension: WARN → warning with override reasons.
	r = sc.do(t, http.MethodPost, "/cds-services/rxguard-order-sign", readTestdata(t, "order-sign-warn.request.json"), nil)
	if r.status != http.StatusOK {
		t.Fatalf("order-sign warn: %d %s", r.status, r.body)
	}
	golden(t, "order-sign-warn.golden.json", r.body)
	warn := decodeAnswer(t, r)
	if len(warn.Cards) != 1 || warn.Cards[0].Indicator != "warning" || warn.Extension["rxguard-verdict"] != "WARN" {
		t.Fatalf("want one warning card: %s", r.body)
	}
	warnCard := warn.Cards[0].UUID

	// order-select: 克拉霉素 selected beside 辛伐他汀 (interaction: shown,
	// it touches the selection) and 西地那非 (NOT_COVERED: not shown).
	r = sc.do(t, http.MethodPost, "/cds-services/rxguard-order-select", readTestdata(t, "order-select.request.json"), nil)
	if r.status != http.StatusOK {
		t.Fatalf("order-select: %d %s", r.status, r.body)
	}
	golden(t, "order-select.golden.json", r.body)
	sel := decodeAnswer(t, r)
	topics := map[string]bool{}
	for _, c := range sel.Cards {
		topics[c.Source.Topic.Code] = true
	}
	if !topics["DRUG_INTERACTION"] || topics["NOT_COVERED"] {
		t.Errorf("order-select cards %v: want DRUG_INTERACTION and not NOT_COVERED", topics)
	}
	decisionID := sel.Extension["rxguard-decision-id"].(string)
	d, err := sc.svc.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: decisionID})
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, f := range d.Decision.Response.Findings {
		all[f.RuleType] = true
	}
	if !all["NOT_COVERED"] {
		t.Errorf("the decision should still record the unselected line's finding: %v", all)
	}

	// Feedback: accepted (the BLOCK) and overridden (the WARN, sent twice
	// in one call: tolerated), each read back from the decision log.
	for _, fb := range []struct {
		file, card string
		want       rxguardv1.Response
	}{
		{"feedback-accepted", blockCard, rxguardv1.Response_RESPONSE_MODIFY},
		{"feedback-overridden", warnCard, rxguardv1.Response_RESPONSE_CONTINUE},
	} {
		body := readTestdata(t, fb.file+".request.json")
		body = bytes.ReplaceAll(body, []byte("{{BLOCK_CARD}}"), []byte(blockCard))
		body = bytes.ReplaceAll(body, []byte("{{WARN_CARD}}"), []byte(warnCard))
		for i, want := range []string{`{"recorded":1}`, `{"recorded":0}`} {
			r = sc.do(t, http.MethodPost, "/cds-services/rxguard-order-sign/feedback", body, nil)
			if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != want {
				t.Errorf("%s #%d: %d %s, want %s", fb.file, i+1, r.status, r.body, want)
			}
		}
		decision := fb.card[:36]
		d, err := sc.svc.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: decision})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(d.Decision.Responses); n != 1 || d.Decision.Responses[0].Response != fb.want || d.Decision.Responses[0].FindingId != fb.card {
			t.Errorf("%s: decision log has %v", fb.file, d.Decision.Responses)
		}
		// recorded_time is the log's wall clock: checked, then left out.
		for _, x := range d.Decision.Responses {
			if x.RecordedTime == "" {
				t.Errorf("%s: response without recorded_time", fb.file)
			}
			x.RecordedTime = ""
		}
		b, err := protojson.Marshal(&rxguardv1.Decision{DecisionId: decision, Responses: d.Decision.Responses})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, fb.file+".decision.golden.json", b)
	}

	// No patient: 412 with an OperationOutcome naming prefetch.patient.
	r = sc.do(t, http.MethodPost, "/cds-services/rxguard-order-sign", readTestdata(t, "order-sign-no-patient.request.json"), nil)
	if r.status != http.StatusPreconditionFailed {
		t.Fatalf("no patient: %d %s", r.status, r.body)
	}
	golden(t, "order-sign-no-patient.golden.json", r.body)
}

func decisionReq(card string) *rxguardv1.GetDecisionRequest {
	return &rxguardv1.GetDecisionRequest{DecisionId: card[:36]}
}

package cdshooks_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/server/cdshooks"
)

type outcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Code        string   `json:"code"`
		Diagnostics string   `json:"diagnostics"`
		Expression  []string `json:"expression"`
	} `json:"issue"`
}

func decodeOutcome(t *testing.T, r reply) outcome {
	t.Helper()
	var o outcome
	if err := json.Unmarshal(r.body, &o); err != nil || o.ResourceType != "OperationOutcome" || len(o.Issue) == 0 {
		t.Fatalf("not an OperationOutcome (%v): %s", err, r.body)
	}
	return o
}

// Bad requests get a clean 4xx OperationOutcome naming the path, and the
// sidecar keeps answering.
func TestBadRequests(t *testing.T) {
	sc := startSidecar(t, testConfig())
	good := readTestdata(t, "order-sign-block.request.json")
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	draft := func(m map[string]any) map[string]any {
		return m["context"].(map[string]any)["draftOrders"].(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		status             int
		expr               string // first issue's expression
	}{
		{"malformed JSON", "POST", "/cds-services/rxguard-order-sign", []byte(`{"hook":`), 400, ""},
		{"wrong type", "POST", "/cds-services/rxguard-order-sign", []byte(`{"hook":"order-sign","hookInstance":"x","context":{"userId":7}}`), 400, "context.userId"},
		{"wrong type in a draft order", "POST", "/cds-services/rxguard-order-sign", edit(func(m map[string]any) {
			draft(m)["dispenseRequest"].(map[string]any)["quantity"] = "two"
		}), 400, "context.draftOrders.entry[0].resource.dispenseRequest.quantity"},
		{"no national code", "POST", "/cds-services/rxguard-order-sign", edit(func(m map[string]any) {
			draft(m)["medicationCodeableConcept"] = map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1"}}}
		}), 400, "context.draftOrders.entry[0].resource.medicationCodeableConcept.coding"},
		{"zero quantity (check service validation)", "POST", "/cds-services/rxguard-order-sign", edit(func(m map[string]any) {
			draft(m)["dispenseRequest"].(map[string]any)["quantity"] = map[string]any{"value": 0}
		}), 400, "context.draftOrders.entry[0].resource.dispenseRequest.quantity"},
		{"bad userId", "POST", "/cds-services/rxguard-order-sign", edit(func(m map[string]any) {
			m["context"].(map[string]any)["userId"] = "PractitionerRole/1"
		}), 400, "context.userId"},
		{"wrong hook for the service", "POST", "/cds-services/rxguard-order-select", good, 400, "hook"},
		{"order-select without selections", "POST", "/cds-services/rxguard-order-select", edit(func(m map[string]any) { m["hook"] = "order-select" }), 400, "context.selections"},
		{"partial birth date", "POST", "/cds-services/rxguard-order-sign", edit(func(m map[string]any) {
			m["prefetch"].(map[string]any)["patient"].(map[string]any)["birthDate"] = "1978"
		}), 412, "prefetch.patient.birthDate"},
		{"too large", "POST", "/cds-services/rxguard-order-sign", bytes.Repeat([]byte(" "), cdshooks.MaxBodyBytes+1), 413, ""},
		{"wrong method", "GET", "/cds-services/rxguard-order-sign", nil, 405, ""},
		{"discovery by POST", "POST", "/cds-services", []byte(`{}`), 405, ""},
		{"unknown service", "POST", "/cds-services/nope", good, 404, ""},
		{"feedback: unknown card", "POST", "/cds-services/rxguard-order-sign/feedback",
			[]byte(`{"feedback":[{"card":"019ad0c4-7e00-7000-8000-000000000001-1","outcome":"accepted"}]}`), 400, "feedback[0].card"},
		{"feedback: not a card uuid", "POST", "/cds-services/rxguard-order-sign/feedback", []byte(`{"feedback":[{"card":"x","outcome":"accepted"}]}`), 400, "feedback[0].card"},
		{"feedback: empty", "POST", "/cds-services/rxguard-order-sign/feedback", []byte(`{"feedback":[]}`), 400, "feedback"},
		{"feedback: bad outcome", "POST", "/cds-services/rxguard-order-sign/feedback",
			[]byte(`{"feedback":[{"card":"019ad0c4-7e00-7000-8000-000000000001-1","outcome":"ignored"}]}`), 400, "feedback[0].outcome"},
		{"feedback: override without reason", "POST", "/cds-services/rxguard-order-sign/feedback",
			[]byte(`{"feedback":[{"card":"019ad0c4-7e00-7000-8000-000000000001-1","outcome":"overridden"}]}`), 400, "feedback[0].overrideReason.reason"},
		{"feedback: unknown reason", "POST", "/cds-services/rxguard-order-sign/feedback",
			[]byte(`{"feedback":[{"card":"019ad0c4-7e00-7000-8000-000000000001-1","outcome":"overridden","overrideReason":{"reason":{"code":"BECAUSE"}}}]}`), 400, "feedback[0].overrideReason.reason.code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sc.do(t, tc.method, tc.path, tc.body, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			o := decodeOutcome(t, r)
			if tc.expr != "" && (len(o.Issue[0].Expression) == 0 || o.Issue[0].Expression[0] != tc.expr) {
				t.Errorf("expression %v, want %s: %s", o.Issue[0].Expression, tc.expr, r.body)
			}
		})
	}
	// Still alive and deciding.
	if r := sc.do(t, "POST", "/cds-services/rxguard-order-sign", good, nil); r.status != 200 {
		t.Fatalf("after the bad requests: %d %s", r.status, r.body)
	}
}

// Overriding a BLOCK is refused (409) and nothing of the call is recorded,
// not even its valid items.
func TestFeedbackAllOrNothing(t *testing.T) {
	sc := startSidecar(t, testConfig())
	block := decodeAnswer(t, sc.do(t, "POST", "/cds-services/rxguard-order-sign", readTestdata(t, "order-sign-block.request.json"), nil))
	warn := decodeAnswer(t, sc.do(t, "POST", "/cds-services/rxguard-order-sign", readTestdata(t, "order-sign-warn.request.json"), nil))
	body := `{"feedback":[
	  {"card":"` + warn.Cards[0].UUID + `","outcome":"overridden","overrideReason":{"reason":{"system":"urn:rxguard:reason","code":"CLINICAL_NEED","display":"病情需要"}},"outcomeTimestamp":"2026-11-22T10:01:00+08:00"},
	  {"card":"` + block.Cards[0].UUID + `","outcome":"overridden","overrideReason":{"reason":{"code":"CLINICAL_NEED"},"userComment":"坚持"},"outcomeTimestamp":"2026-11-22T10:01:00+08:00"}]}`
	r := sc.do(t, "POST", "/cds-services/rxguard-order-sign/feedback", []byte(body), nil)
	if r.status != http.StatusConflict {
		t.Fatalf("override of a BLOCK: %d %s", r.status, r.body)
	}
	if o := decodeOutcome(t, r); o.Issue[0].Expression[0] != "feedback[1].outcome" {
		t.Errorf("expression %v", o.Issue[0].Expression)
	}
	d, err := sc.svc.GetDecision(context.Background(), decisionReq(warn.Cards[0].UUID))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Decision.Responses) != 0 {
		t.Errorf("the valid item was recorded: %v", d.Decision.Responses)
	}
	// Without a comment, the reason's display is the text.
	one := `{"feedback":[{"card":"` + warn.Cards[0].UUID + `","outcome":"overridden","overrideReason":{"reason":{"system":"urn:rxguard:reason","code":"CLINICAL_NEED","display":"病情需要"}},"outcomeTimestamp":"2026-11-22T10:01:00+08:00"}]}`
	if r := sc.do(t, "POST", "/cds-services/rxguard-order-sign/feedback", []byte(one), nil); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	d, _ = sc.svc.GetDecision(context.Background(), decisionReq(warn.Cards[0].UUID))
	if len(d.Decision.Responses) != 1 || d.Decision.Responses[0].ReasonText != "病情需要" || d.Decision.Responses[0].ReasonCode != "CLINICAL_NEED" {
		t.Errorf("responses %v", d.Decision.Responses)
	}
}

// With JWT configured: no token and a bad token are 401 with
// WWW-Authenticate, counted by reason; a valid ES384 token (aud = base_url
// + path) passes once; discovery stays open.
func TestJWTOverHTTP(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := key.PublicKey.Bytes()
	b64 := base64.RawURLEncoding
	set, _ := json.Marshal(map[string]any{"keys": []any{map[string]string{"kty": "EC", "crv": "P-384", "kid": "k1",
		"x": b64.EncodeToString(pt[1:49]), "y": b64.EncodeToString(pt[49:])}}})
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, set, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.BaseURL = "https://rxguard.hosp.local:7601/"
	cfg.JWT.Issuers = []cdshooks.IssuerConfig{{Iss: "https://ehr.hosp.local", JWKSFile: file}}
	sc := startSidecar(t, cfg)
	token := func(aud string) string {
		h, _ := json.Marshal(map[string]string{"alg": "ES384", "kid": "k1", "typ": "JWT"})
		now := time.Now()
		c, _ := json.Marshal(map[string]any{"iss": "https://ehr.hosp.local", "aud": aud, "exp": now.Add(time.Minute).Unix(),
			"iat": now.Unix(), "jti": now.Format(time.RFC3339Nano)})
		in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
		sum := sha512.Sum384([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 96)
		r.FillBytes(sig[:48])
		s.FillBytes(sig[48:])
		return in + "." + b64.EncodeToString(sig)
	}
	body := readTestdata(t, "order-sign-block.request.json")
	path := "/cds-services/rxguard-order-sign"
	if r := sc.do(t, "GET", "/cds-services", nil, nil); r.status != 200 {
		t.Errorf("discovery without a token: %d", r.status)
	}
	r := sc.do(t, "POST", path, body, nil)
	if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	wrong := token("https://rxguard.hosp.local:7601/cds-services/rxguard-order-select")
	r = sc.do(t, "POST", path, body, map[string]string{"Authorization": "Bearer " + wrong})
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error_description="wrong_aud"`) {
		t.Errorf("wrong aud: %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	if strings.Contains(string(r.body), wrong) {
		t.Errorf("the answer quotes the token")
	}
	good := token("https://rxguard.hosp.local:7601" + path)
	if r := sc.do(t, "POST", path, body, map[string]string{"Authorization": "Bearer " + good}); r.status != 200 {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
	if r := sc.do(t, "POST", path, body, map[string]string{"Authorization": "Bearer " + good}); r.status != 401 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), "replayed_jti") {
		t.Errorf("replayed token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	m := sc.do(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{`rxguard_cds_auth_failures_total{reason="wrong_aud"} 1`, `rxguard_cds_auth_failures_total{reason="missing_token"} 1`,
		`rxguard_cds_auth_failures_total{reason="replayed_jti"} 1`, `rxguard_cds_requests_total{outcome="ok",service="rxguard-order-sign"} 1`,
		`rxguard_cds_requests_total{outcome="unauthorized",service="rxguard-order-sign"} 3`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

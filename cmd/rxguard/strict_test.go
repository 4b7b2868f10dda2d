package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
)

// A configuration key the sidecar does not know stops the start with its
// path and the keys allowed there; a wrong type names its field. Before, a
// typo was silently ignored: {"engin": {"rules": {"DRUG_GENDER":
// {"disabled": true}}}} started with DRUG_GENDER on.
func TestConfigRefusesUnknownKeysWithTheirPath(t *testing.T) {
	for _, c := range []struct {
		name, json string
		want       []string // all must appear in the error
	}{
		{"top level", `{"engin": {"rules": {"DRUG_GENDER": {"disabled": true}}}}`,
			[]string{"engin: unknown key", "known here:", "engine", "decision_log"}},
		{"rule type", `{"engine": {"rules": {"DRUG_GENDR": {"disabled": true}}}}`,
			[]string{"engine.rules.DRUG_GENDR: unknown rule type", "DRUG_GENDER"}},
		{"rule setting", `{"engine": {"rules": {"DRUG_GENDER": {"disable": true}}}}`,
			[]string{"engine.rules.DRUG_GENDER.disable: unknown key", "action, disabled"}},
		{"engine section", `{"engine": {"rule": {}}}`, []string{"engine.rule: unknown key", "rules"}},
		{"bureau", `{"bureau": {"address": "127.0.0.1:7700", "pol_interval": "1m"}}`,
			[]string{"bureau.pol_interval: unknown key", "poll_interval"}},
		{"plugin in a list", `{"plugins": [{"name": "a", "path": "/x", "sha256": "00"}, {"name": "b", "timout": "20ms"}]}`,
			[]string{"plugins[1].timout: unknown key", "timeout"}},
		{"grpc", `{"grpc": {"max_conections": 4}}`, []string{"grpc.max_conections: unknown key", "max_connections"}},
		{"http", `{"http": {"idle": "1s"}}`, []string{"http.idle: unknown key", "idle_timeout"}},
		{"decision log", `{"decision_log": {"durabilty": "sync"}}`, []string{"decision_log.durabilty: unknown key", "durability"}},
		{"wrong type", `{"engine": {"rules": {"DRUG_GENDER": {"disabled": "yes"}}}}`, []string{"disabled", "bool"}},
		{"wrong type at the top", `{"min_free_bytes": "lots"}`, []string{"min_free_bytes"}},
		{"not an object", `[1, 2]`, []string{"cannot unmarshal array"}},
		{"not JSON", `{"engine": `, []string{"not valid JSON"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rxguard.json")
			if err := os.WriteFile(path, []byte(c.json), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(path)
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Every key the sidecar knows is accepted.
func TestConfigAcceptsEveryKnownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rxguard.json")
	full := `{
  "grpc_addr": "127.0.0.1:7600", "http_addr": "127.0.0.1:7601", "data_dir": "./data", "min_free_bytes": 268435456,
  "engine": {"rules": {"DRUG_GENDER": {"disabled": false, "action": "BLOCK"}, "QUANTITY_LIMIT": {"action": "WARN"},
                       "READMISSION": {"window_days": 30}}},
  "plugins": [{"name": "p", "path": "/bin/true", "sha256": "00", "args": ["-x"], "timeout": "20ms", "on_failure": "fail_closed"}],
  "bureau": {"address": "127.0.0.1:7700", "trusted_keys": ["k"], "poll_interval": "1m", "stale_after": "15m",
             "max_backoff": "10m", "max_clock_skew": "24h", "ca_file": ""},
  "grpc": {"max_connections": 64, "max_concurrent_streams": 128, "handshake_timeout": "5s", "keepalive_min_time": "10s",
           "keepalive_permit_without_stream": true, "max_connection_idle": "5m", "max_connection_age": "30m",
           "max_connection_age_grace": "10s", "keepalive_time": "2m", "keepalive_timeout": "20s"},
  "http": {"max_connections": 64, "read_header_timeout": "5s", "read_timeout": "15s", "write_timeout": "30s",
           "idle_timeout": "90s", "max_header_bytes": 65536, "max_body_bytes": 4194304},
  "decision_log": {"disabled": false, "durability": "sync", "retention": "26280h", "commit_interval": "5ms",
                   "sync_interval": "1s", "queue_size": 8192, "sidecar_id": "his-app-1"}
}`
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DecisionLog.Durability != "sync" || c.Bureau.MaxClockSkew != "24h" || len(c.Plugins) != 1 {
		t.Errorf("decoded %+v", c)
	}
	if e, err := engine.New(c.Engine); err != nil || e.ReadmissionDays() != 30 {
		t.Errorf("engine.rules.READMISSION.window_days 30: %v", err)
	}
}

// READMISSION's window is refused outside 1–365, and on other rule types,
// naming the key (the sidecar stops with it).
func TestConfigReadmissionWindowRefused(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"engine": {"rules": {"READMISSION": {"window_days": 0}}}}`, "engine.rules.READMISSION.window_days 0: must be 1 to 365 days"},
		{`{"engine": {"rules": {"READMISSION": {"window_days": 400}}}}`, "engine.rules.READMISSION.window_days 400"},
		{`{"engine": {"rules": {"DRUG_GENDER": {"window_days": 15}}}}`, "engine.rules.DRUG_GENDER.window_days 15: only READMISSION"},
	} {
		path := filepath.Join(t.TempDir(), "rxguard.json")
		if err := os.WriteFile(path, []byte(c.json), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path)
		if err != nil {
			t.Fatalf("%s: %v", c.json, err)
		}
		if _, err := engine.New(cfg.Engine); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: engine.New: %v, want %q", c.json, err, c.want)
		}
	}
}

// Every key of the config types, built by reflection (so a field added
// later is covered), is accepted.
func TestConfigAcceptsEveryFieldOfItsTypes(t *testing.T) {
	var build func(reflect.Type) any
	build = func(rt reflect.Type) any {
		for rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		switch rt.Kind() {
		case reflect.Struct:
			m := map[string]any{}
			for name, ft := range jsonFields(rt) {
				m[name] = build(ft)
			}
			return m
		case reflect.Map:
			key := "k"
			if rt.Key() == reflect.TypeFor[knowledge.RuleType]() {
				key = string(knowledge.RuleDrugGender)
			}
			return map[string]any{key: build(rt.Elem())}
		case reflect.Slice, reflect.Array:
			return []any{build(rt.Elem())}
		case reflect.String:
			return ""
		case reflect.Bool:
			return false
		}
		return 0
	}
	doc := build(reflect.TypeFor[config]())
	if n := len(doc.(map[string]any)); n < 10 {
		t.Fatalf("built a document of %d top-level keys", n)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rxguard.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(path); err != nil {
		t.Fatalf("%s\n%v", b, err)
	}
}

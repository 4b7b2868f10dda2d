package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/internal/strictconf"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
)

func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A misspelt key, a value of the wrong type or an invalid value at any
// level stops the start with the key's path, its line and what is allowed.
// Before, a typo was silently ignored: {"engin": {"rules": {"DRUG_GENDER":
// {"disabled": true}}}} started with DRUG_GENDER on.
func TestConfigErrorsNameTheKey(t *testing.T) {
	const validKey = "pjL32mB/vFFKCqAgDmFWi3O3eKbQUc2m7tDyzgsMBSw="
	const pin = "0000000000000000000000000000000000000000000000000000000000000000"
	for _, c := range []struct {
		name, file, text string
		want             []string // all must appear in the error
	}{
		// top level
		{"top-level key", "rxguard.yaml", "engin:\n  rules:\n    DRUG_GENDER: {disabled: true}\n",
			[]string{"line 1: engin: unknown key; known here: ", "decision_log", "engine", "grpc_addr"}},
		{"top-level key in JSON", "rxguard.json", `{"engin": {"rules": {"DRUG_GENDER": {"disabled": true}}}}`,
			[]string{"line 1: engin: unknown key; known here: "}},
		{"top-level type", "rxguard.yaml", "min_free_bytes: lots\n", []string{`line 1: min_free_bytes: want an integer, got "lots"`}},
		{"top-level value", "rxguard.yaml", "data_dir: /d\ngrpc_addr: localhost\n",
			[]string{`line 2: grpc_addr: "localhost" is not host:port (e.g. "127.0.0.1:7600")`}},
		{"http_addr value", "rxguard.yaml", "http_addr: none\n", []string{`line 1: http_addr: "none" is not host:port (e.g. "127.0.0.1:7600") or "off"`}},
		{"negative min_free_bytes", "rxguard.yaml", "min_free_bytes: -1\n", []string{"line 1: min_free_bytes: -1 is negative"}},
		{"section of the wrong shape", "rxguard.yaml", "grpc: 64\n", []string{`line 1: grpc: want a mapping of keys, got "64"`}},
		// grpc / http
		{"grpc key", "rxguard.yaml", "grpc:\n  max_conections: 4\n",
			[]string{"line 2: grpc.max_conections: unknown key; known here: handshake_timeout, keepalive_min_time", "max_connections"}},
		{"grpc type", "rxguard.yaml", "grpc:\n  max_connections: many\n", []string{`line 2: grpc.max_connections: want an integer, got "many"`}},
		{"grpc value", "rxguard.yaml", "grpc:\n  max_connections: -1\n", []string{"line 2: grpc.max_connections: -1 must be between 1 and 1048576"}},
		{"grpc bool", "rxguard.yaml", "grpc:\n  keepalive_permit_without_stream: yes\n",
			[]string{`line 2: grpc.keepalive_permit_without_stream: want true or false, got "yes"`}},
		{"http key", "rxguard.json", `{"http": {"idle": "1s"}}`, []string{"line 1: http.idle: unknown key; known here: idle_timeout"}},
		{"http value", "rxguard.yaml", "http:\n  read_timeout: forever\n",
			[]string{`line 2: http.read_timeout: "forever" is not a positive Go duration`}},
		{"http bound", "rxguard.yaml", "http:\n  max_header_bytes: 2097152\n", []string{"line 2: http.max_header_bytes: 2097152 must be between 1 and 1048576"}},
		// engine.rules.X.field
		{"engine key", "rxguard.yaml", "engine:\n  rule: {}\n", []string{"line 2: engine.rule: unknown key; known here: rules"}},
		{"rule type", "rxguard.yaml", "engine:\n  rules:\n    DRUG_GENDR: {disabled: true}\n",
			[]string{"line 3: engine.rules.DRUG_GENDR: unknown rule type; known: PHYSICIAN_QUALIFICATION, DRUG_GENDER, ITEM_GENDER,"}},
		{"rule setting", "rxguard.yaml", "engine:\n  rules:\n    DRUG_GENDER:\n      disable: true\n",
			[]string{"line 4: engine.rules.DRUG_GENDER.disable: unknown key; known here: action, disabled, window_days"}},
		{"readmission window", "rxguard.yaml", "engine:\n  rules:\n    READMISSION: {window_days: 0}\n",
			[]string{"line 3: engine.rules.READMISSION.window_days: 0 must be 1 to 365 days"}},
		{"window on another rule", "rxguard.yaml", "engine:\n  rules:\n    DRUG_GENDER: {window_days: 15}\n",
			[]string{"line 3: engine.rules.DRUG_GENDER.window_days: only READMISSION has a window_days setting; remove it"}},
		{"rule setting type", "rxguard.json", "{\"engine\": {\"rules\": {\"DRUG_GENDER\":\n {\"disabled\": \"yes\"}}}}",
			[]string{`line 2: engine.rules.DRUG_GENDER.disabled: want true or false, got "yes"`}},
		{"rule action", "rxguard.yaml", "engine:\n  rules:\n    DRUG_AGE: {action: BLOK}\n",
			[]string{`line 3: engine.rules.DRUG_AGE.action: "BLOK" is not one of INFO, WARN, BLOCK`}},
		// plugins[i].field
		{"plugin key", "rxguard.yaml", "plugins:\n  - {name: a, path: /x, sha256: " + pin + "}\n  - name: b\n    timout: 20ms\n",
			[]string{"line 4: plugins[1].timout: unknown key; known here: args, name, on_failure, path, sha256, timeout"}},
		{"plugin value", "rxguard.yaml", "plugins:\n  - name: a\n    path: /x\n    sha256: " + pin + "\n    timeout: soon\n    on_failure: fail_shut\n",
			[]string{`line 5: plugins[0].timeout: "soon" is not a positive Go duration`,
				`line 6: plugins[0].on_failure: want "fail_open" or "fail_closed", got "fail_shut"`}},
		{"plugin pin", "rxguard.yaml", "plugins:\n  - {name: a, path: /x, sha256: \"00\"}\n", []string{`line 2: plugins[0].sha256: want 64 hex digits, got "00"`}},
		{"plugins not a list", "rxguard.yaml", "plugins: {name: a}\n", []string{"line 1: plugins: want a list, got a mapping"}},
		// bureau
		{"bureau key", "rxguard.yaml", "bureau:\n  address: 127.0.0.1:7700\n  pol_interval: 1m\n",
			[]string{"line 3: bureau.pol_interval: unknown key; known here: address, ca_file, cert_file, key_file, max_backoff, max_clock_skew, poll_interval, stale_after, trusted_keys"}},
		{"bureau value", "rxguard.yaml", "bureau:\n  trusted_keys: [\"" + validKey + "\"]\n  poll_interval: 0s\n",
			[]string{`line 3: bureau.poll_interval: "0s" is not a positive Go duration`}},
		{"bureau key list", "rxguard.yaml", "bureau:\n  trusted_keys:\n    - " + validKey + "\n    - nonsense\n",
			[]string{"line 4: bureau.trusted_keys[1]: "}},
		{"bureau address without keys", "rxguard.yaml", "bureau:\n  address: 127.0.0.1:7700\n",
			[]string{"line 1: bureau.trusted_keys: empty, but address is set"}},
		// decision_log
		{"decision log key", "rxguard.yaml", "decision_log:\n  durabilty: sync\n", []string{"line 2: decision_log.durabilty: unknown key; known here: commit_interval, disabled, durability"}},
		{"decision log value", "rxguard.yaml", "decision_log:\n  durability: fsync\n", []string{`line 2: decision_log.durability: "fsync" is not one of async, sync`}},
		{"decision log bound", "rxguard.yaml", "decision_log:\n  commit_interval: 2s\n  queue_size: -1\n",
			[]string{"line 2: decision_log.commit_interval: 2s is longer than 1s (it bounds what a kill loses)",
				"line 3: decision_log.queue_size: -1 must be between 1 and 1048576"}},
		// environment, duplicates, anchors, syntax
		{"unset variable", "rxguard.yaml", "decision_log:\n  sidecar_id: ${RXGUARD_TEST_UNSET_VAR}\n",
			[]string{"line 2: decision_log.sidecar_id: environment variable RXGUARD_TEST_UNSET_VAR is not set (set it, or write ${RXGUARD_TEST_UNSET_VAR:-default})"}},
		{"variable of the wrong type", "rxguard.yaml", "grpc:\n  max_connections: ${RXGUARD_TEST_UNSET_VAR:-lots}\n",
			[]string{`line 2: grpc.max_connections: want an integer, got "lots"`}},
		{"duplicate section", "rxguard.yaml", "grpc: {max_connections: 4}\ndata_dir: /d\ngrpc: {max_connections: 8}\n",
			[]string{"line 3: grpc: duplicate key (first at line 1): keep one"}},
		{"duplicate rule", "rxguard.yaml", "engine:\n  rules:\n    DRUG_AGE: {disabled: true}\n    DRUG_AGE: {disabled: false}\n",
			[]string{"line 4: engine.rules.DRUG_AGE: duplicate key (first at line 3): keep one"}},
		{"alias", "rxguard.yaml", "grpc: &limits {max_connections: 4}\nhttp: *limits\n",
			[]string{"line 1: grpc: anchors (&limits) are not allowed", "line 2: http: aliases (*limits) are not allowed"}},
		{"not YAML", "rxguard.yaml", "engine:\n  rules: [\n", []string{"not valid YAML (nor JSON)"}},
		{"not an object", "rxguard.json", `[1, 2]`, []string{"line 1: want a mapping of keys, got a list"}},
		// every problem at once, in file order
		{"all of them", "rxguard.yaml", "engin: {}\ngrpc:\n  max_connections: x\ndecision_log:\n  durability: fsync\n",
			[]string{"3 errors:\n  line 1: engin: unknown key", "\n  line 3: grpc.max_connections: want an integer", "\n  line 5: decision_log.durability: \"fsync\""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.file, c.text)
			_, err := loadConfig(path)
			if err == nil {
				t.Fatal("config accepted")
			}
			if !strings.HasPrefix(err.Error(), "config "+path+": ") {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\nlacks\n%s", err, w)
				}
			}
			// config check reports the same, and fails.
			out, cerr := runCmd(t, "config", "check", path)
			if cerr == nil || strings.Contains(out, "ok:") || !strings.Contains(cerr.Error(), c.want[0]) {
				t.Errorf("config check: %v\n%s", cerr, out)
			}
		})
	}
}

// ${VAR} and ${VAR:-default} expand in the values of the file, typed
// afterwards.
func TestConfigExpandsEnvironment(t *testing.T) {
	t.Setenv("RXGUARD_TEST_MAX_CONN", "16")
	t.Setenv("RXGUARD_TEST_SIDECAR", "his-app-7")
	t.Setenv("RXGUARD_TEST_DATA", t.TempDir())
	path := writeConfig(t, "rxguard.yaml", `
data_dir: ${RXGUARD_TEST_DATA}/rx
grpc:
  max_connections: ${RXGUARD_TEST_MAX_CONN}
decision_log:
  sidecar_id: ${RXGUARD_TEST_SIDECAR}
  durability: ${RXGUARD_TEST_DURABILITY_UNSET:-sync}
  retention: "$$8760h"
`)
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), `decision_log.retention: "$8760h" is not a positive Go duration`) {
		t.Fatalf("$$ is a literal $: %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(mustRead(t, path)), `"$$8760h"`, "8760h", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != os.Getenv("RXGUARD_TEST_DATA")+"/rx" || c.DecisionLog.SidecarID != "his-app-7" || c.DecisionLog.Durability != "sync" {
		t.Errorf("decoded %+v", c)
	}
	if l, err := c.connLimits(); err != nil || l.GRPC.MaxConnections != 16 {
		t.Errorf("grpc.max_connections %d, %v; want 16", l.GRPC.MaxConnections, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every key the sidecar knows is accepted, in JSON as before.
func TestConfigAcceptsEveryKnownKey(t *testing.T) {
	path := writeConfig(t, "rxguard.json", `{
  "grpc_addr": "127.0.0.1:7600", "http_addr": "127.0.0.1:7601", "data_dir": "./data", "min_free_bytes": 268435456,
  "engine": {"rules": {"DRUG_GENDER": {"disabled": false, "action": "BLOCK"}, "QUANTITY_LIMIT": {"action": "WARN"}}},
  "plugins": [{"name": "p", "path": "/bin/true", "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
               "args": ["-x"], "timeout": "20ms", "on_failure": "fail_closed"}],
  "bureau": {"address": "127.0.0.1:7700", "trusted_keys": ["pjL32mB/vFFKCqAgDmFWi3O3eKbQUc2m7tDyzgsMBSw="], "poll_interval": "1m",
             "stale_after": "15m", "max_backoff": "10m", "max_clock_skew": "24h", "ca_file": ""},
  "grpc": {"max_connections": 64, "max_concurrent_streams": 128, "handshake_timeout": "5s", "keepalive_min_time": "10s",
           "keepalive_permit_without_stream": true, "max_connection_idle": "5m", "max_connection_age": "30m",
           "max_connection_age_grace": "10s", "keepalive_time": "2m", "keepalive_timeout": "20s"},
  "http": {"max_connections": 64, "read_header_timeout": "5s", "read_timeout": "15s", "write_timeout": "30s",
           "idle_timeout": "90s", "max_header_bytes": 65536, "max_body_bytes": 4194304},
  "decision_log": {"disabled": false, "durability": "sync", "retention": "26280h", "commit_interval": "5ms",
                   "sync_interval": "1s", "queue_size": 8192, "sidecar_id": "his-app-1"}
}`)
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DecisionLog.Durability != "sync" || c.Bureau.MaxClockSkew != "24h" || len(c.Plugins) != 1 || c.Plugins[0].Args[0] != "-x" {
		t.Errorf("decoded %+v", c)
	}
}

// Every key of the config types, built by reflection (so a field added
// later is covered), decodes: strictconf supports its type.
func TestConfigDecodesEveryFieldOfItsTypes(t *testing.T) {
	doc := buildDoc(reflect.TypeFor[config]())
	if n := len(doc.(map[string]any)); n < 10 {
		t.Fatalf("built a document of %d top-level keys", n)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := decodeConfig(writeConfig(t, "rxguard.json", string(b))); err != nil {
		t.Fatalf("%s\n%v", b, err)
	}
}

func buildDoc(rt reflect.Type) any {
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if rt == reflect.TypeFor[time.Duration]() {
		return "1s"
	}
	switch rt.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		for name, f := range strictconf.Fields(rt) {
			m[name] = buildDoc(f.Type)
		}
		return m
	case reflect.Map:
		key := "k"
		if rt.Key() == reflect.TypeFor[knowledge.RuleType]() {
			key = string(knowledge.RuleDrugGender)
		}
		return map[string]any{key: buildDoc(rt.Elem())}
	case reflect.Slice, reflect.Array:
		return []any{buildDoc(rt.Elem())}
	case reflect.String:
		return ""
	case reflect.Bool:
		return false
	}
	return 0
}

// Each section owns its validation: every section of the configuration (a
// field of a struct, list or map type) has a Validate that config.validate
// calls, so a section added without one fails here.
func TestConfigSectionsValidateThemselves(t *testing.T) {
	validator := reflect.TypeFor[strictconf.Validator]()
	for name, f := range strictconf.Fields(reflect.TypeFor[config]()) {
		switch f.Type.Kind() {
		case reflect.Struct, reflect.Slice, reflect.Map, reflect.Pointer:
			if !f.Type.Implements(validator) && !reflect.PointerTo(f.Type).Implements(validator) {
				t.Errorf("section %s (%s) has no Validate() error", name, f.Type)
			}
		}
	}
	// And the sections' errors arrive under their keys.
	c := defaultConfig()
	c.Engine.Rules = map[knowledge.RuleType]engine.RuleConfig{"NOPE": {}}
	c.DecisionLog.Durability = "fsync"
	c.GRPC.MaxConnections = -1
	var paths []string
	for _, e := range c.validate() {
		paths = append(paths, e.Path)
	}
	if want := []string{"decision_log.durability", "engine.rules.NOPE", "grpc.max_connections"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

// Flags override the file, and are validated like it.
func TestServeFlagsOverrideTheFile(t *testing.T) {
	path := writeConfig(t, "rxguard.yaml", "bureau:\n  poll_interval: 1m\n  max_clock_skew: 24h\n")
	out, err := runCmd(t, "serve", "-config", path, "-data", t.TempDir(), "-grpc", "127.0.0.1:0", "-http", "off", "-max-clock-skew", "soon")
	if err == nil || !strings.Contains(err.Error(), `bureau.max_clock_skew: "soon" is not a positive Go duration`) {
		t.Errorf("serve with a bad flag: %v\n%s", err, out)
	}
	// The file alone names the key with its line.
	if err := os.WriteFile(path, []byte("bureau:\n  poll_interval: 1m\n  max_clock_skew: soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, "serve", "-config", path, "-data", t.TempDir(), "-grpc", "127.0.0.1:0", "-http", "off")
	if err == nil || !strings.Contains(err.Error(), `line 3: bureau.max_clock_skew: "soon"`) {
		t.Errorf("serve with a bad file: %v\n%s", err, out)
	}
	// A flag supplies what the file lacks: bureau.address needs a key.
	if err := os.WriteFile(path, []byte("bureau:\n  address: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, f, err := decodeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.check(f); err == nil {
		t.Error("bureau.address without trusted_keys accepted")
	}
	c.Bureau.TrustedKeys = append(c.Bureau.TrustedKeys, "pjL32mB/vFFKCqAgDmFWi3O3eKbQUc2m7tDyzgsMBSw=") // what -trusted-key does
	if err := c.check(f); err != nil {
		t.Errorf("with a key from the flag: %v", err)
	}
}

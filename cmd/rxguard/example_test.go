package main

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rxguard/rxguard/internal/strictconf"
	"github.com/rxguard/rxguard/internal/testpki"
	"github.com/rxguard/rxguard/knowledge/bureausync"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/operations.md's configuration example from example.yaml (make docs)")

// `config example` prints the embedded example, and `config check`
// accepts it.
func TestConfigExamplePassesCheck(t *testing.T) {
	out, _, err := runSplit(t, "config", "example")
	if err != nil {
		t.Fatal(err)
	}
	if out != exampleConfig || !strings.Contains(out, "decision_log:") {
		t.Fatalf("config example printed %d bytes, want example.yaml (%d)", len(out), len(exampleConfig))
	}
	path := writeConfig(t, "rxguard.yaml", out)
	got, _, err := runSplit(t, "config", "check", path)
	if err != nil || got != "ok: "+path+"\n" {
		t.Errorf("config check of the example: %q, %v", got, err)
	}
	// Usage errors.
	for _, args := range [][]string{{"config"}, {"config", "check"}, {"config", "nope"}, {"config", "example", "x"}} {
		var ue usageError
		if _, err := runCmd(t, args...); !asUsage(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	// Several files: each is reported.
	bad := writeConfig(t, "bad.yaml", "engin: {}\n")
	got, _, err = runSplit(t, "config", "check", path, bad)
	if err == nil || got != "ok: "+path+"\n" || !strings.Contains(err.Error(), "config "+bad+": line 1: engin: unknown key") {
		t.Errorf("config check of two files: %q, %v", got, err)
	}
}

// The example's values are the defaults the components really use, so the
// example cannot say one thing while the sidecar does another.
func TestExampleShowsTheDefaults(t *testing.T) {
	c, err := loadConfig(writeConfig(t, "rxguard.yaml", exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	def := defaultConfig()
	if c.GRPCAddr != def.GRPCAddr || c.HTTPAddr != def.HTTPAddr || c.DataDir != def.DataDir || c.MinFreeBytes != def.MinFreeBytes {
		t.Errorf("top level %q %q %q %d, want the defaults %q %q %q %d", c.GRPCAddr, c.HTTPAddr, c.DataDir, c.MinFreeBytes,
			def.GRPCAddr, def.HTTPAddr, def.DataDir, def.MinFreeBytes)
	}
	if l, err := c.connLimits(); err != nil || l != server.DefaultConnLimits() {
		t.Errorf("grpc/http limits\n %+v (%v)\nwant the defaults\n %+v", l, err, server.DefaultConnLimits())
	}
	o, err := c.DecisionLog.options(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Durability != decisionlog.Async || o.Retention != decisionlog.DefaultRetention || o.CommitInterval != decisionlog.DefaultCommitInterval ||
		o.SyncInterval != decisionlog.DefaultSyncInterval || o.QueueSize != decisionlog.DefaultQueueSize || o.SidecarID != "" || c.DecisionLog.Disabled {
		t.Errorf("decision_log %+v, want decisionlog's defaults", o)
	}
	if skew, err := c.Bureau.maxClockSkew(); err != nil || skew != bureausync.DefaultMaxClockSkew {
		t.Errorf("bureau.max_clock_skew %v, want %v", skew, bureausync.DefaultMaxClockSkew)
	}
	if c.Bureau.Address != "" || len(c.Bureau.TrustedKeys) != 0 || c.Bureau.StaleAfter != "" || len(c.Plugins) != 0 {
		t.Errorf("bureau %+v, plugins %v: the example must not sync or start plugins", c.Bureau, c.Plugins)
	}

	// engine.rules lists every rule type, switched on, with its own
	// action, and its comment names that action.
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(exampleConfig), &doc); err != nil {
		t.Fatal(err)
	}
	rules := lookup(t, doc.Content[0], "engine", "rules")
	comment := map[string]string{}
	for i := 0; i+1 < len(rules.Content); i += 2 {
		comment[rules.Content[i].Value] = rules.Content[i+1].LineComment + rules.Content[i].LineComment
	}
	for _, rt := range engine.RuleTypes() {
		rc, ok := c.Engine.Rules[rt]
		if !ok {
			t.Errorf("engine.rules lacks %s", rt)
			continue
		}
		if rc.Disabled || rc.Action != "" {
			t.Errorf("engine.rules.%s %+v, want the default (on, its own action)", rt, rc)
		}
		a, _ := engine.DefaultAction(rt)
		if want := "default " + strings.TrimPrefix(a.String(), "ACTION_"); !strings.Contains(comment[string(rt)], want) {
			t.Errorf("engine.rules.%s comment %q lacks %q", rt, comment[string(rt)], want)
		}
	}
	if len(c.Engine.Rules) != len(engine.RuleTypes()) {
		t.Errorf("engine.rules has %d entries, want %d", len(c.Engine.Rules), len(engine.RuleTypes()))
	}
}

func lookup(t *testing.T, n *yaml.Node, keys ...string) *yaml.Node {
	t.Helper()
	for _, k := range keys {
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				n, found = n.Content[i+1], true
				break
			}
		}
		if !found {
			t.Fatalf("example has no %s", k)
		}
	}
	return n
}

// commentedOut is a commented-out example line: "#" and two or more spaces.
var commentedOut = regexp.MustCompile(`(?m)^#(\s{2,})`)

// Every key of the configuration types (by reflection: a section or key
// added later fails here until the example documents it) is in the
// example, live or in a commented-out example; with those uncommented it
// is still a valid configuration.
func TestExampleDocumentsEveryKey(t *testing.T) {
	full := commentedOut.ReplaceAllString(exampleConfig, " $1")
	// The TLS files the commented-out examples name, made real: the
	// security section loads them to validate.
	ca := testpki.NewCA(t, "his-ca")
	dir := t.TempDir()
	for _, l := range []string{"grpc", "http"} {
		testpki.Install(t, ca.Server(t), filepath.Join(dir, l+".crt"), filepath.Join(dir, l+".key"))
	}
	if err := os.Rename(ca.File, filepath.Join(dir, "his-ca.crt")); err != nil {
		t.Fatal(err)
	}
	full = strings.ReplaceAll(full, "/etc/rxguard/tls/", dir+"/")
	c, err := loadConfig(writeConfig(t, "full.yaml", full))
	if err != nil {
		t.Fatalf("the example with its commented-out lines uncommented:\n%v", err)
	}
	if len(c.Plugins) == 0 {
		t.Error("no commented-out plugin entry was found")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(full), &doc); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	docPaths(doc.Content[0], reflect.TypeFor[config](), "", have)
	want := map[string]bool{}
	typePaths(reflect.TypeFor[config](), "", want)
	var missing []string
	for p := range want {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("example.yaml does not document %s (add each with its default and meaning)", strings.Join(missing, ", "))
	}
	if len(want) < 40 {
		t.Errorf("only %d keys found in the types", len(want))
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// typePaths lists the key paths of t: map keys as "*", list items as "[]".
func typePaths(t reflect.Type, path string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		out[path] = true
	}
	if t == durationType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for name, f := range strictconf.Fields(t) {
			typePaths(f.Type, joinKey(path, name), out)
		}
	case reflect.Map:
		typePaths(t.Elem(), joinKey(path, "*"), out)
	case reflect.Slice:
		typePaths(t.Elem(), path+"[]", out)
	}
}

// docPaths lists the key paths of a document the same way.
func docPaths(n *yaml.Node, t reflect.Type, path string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		out[path] = true
	}
	switch {
	case t == durationType:
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := strictconf.Fields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if f, ok := fields[n.Content[i].Value]; ok {
				docPaths(n.Content[i+1], f.Type, joinKey(path, n.Content[i].Value), out)
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			docPaths(n.Content[i], t.Elem(), joinKey(path, "*"), out)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			docPaths(item, t.Elem(), path+"[]", out)
		}
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

const (
	docBegin = "<!-- config example: begin; generated from cmd/rxguard/example.yaml by `make docs` -->\n```yaml\n"
	docEnd   = "```\n<!-- config example: end -->"
)

// docs/operations.md shows example.yaml verbatim; `make docs` (this test
// with -update-docs) rewrites it.
func TestOperationsDocShowsTheExample(t *testing.T) {
	const path = "../../docs/operations.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no configuration example between\n%s\nand\n%s", path, docBegin, docEnd)
	}
	got := doc[i+len(docBegin) : j]
	if got == exampleConfig {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(doc[:i+len(docBegin)]+exampleConfig+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the example in %s", path)
		return
	}
	t.Errorf("the example in %s differs from cmd/rxguard/example.yaml (rxguard config example): run `make docs`", path)
}

// `serve -config example.yaml` starts; the flags override the file's
// addresses and data directory.
func TestServeStartsWithTheExample(t *testing.T) {
	path := writeConfig(t, "rxguard.yaml", exampleConfig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	data := t.TempDir()
	go func() {
		done <- run(ctx, []string{"serve", "-config", path, "-data", data, "-grpc", "127.0.0.1:0", "-http", "127.0.0.1:0"}, &out, &errOut)
	}()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(errOut.String(), "rxguard serving") {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, errOut.String())
		case <-deadline:
			t.Fatalf("serve did not become ready:\n%s", errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	log := errOut.String()
	if strings.Contains(log, "127.0.0.1:7600") || strings.Contains(log, "127.0.0.1:7601") || !strings.Contains(log, "data="+data) {
		t.Errorf("flags did not override the file's addresses and data_dir:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(data, "decisions")); err != nil {
		t.Errorf("the example's decision log is not open: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// The national and CDS Hooks doors follow their sections: nhsa on by
// default and off with nhsa.disabled; cds_hooks off by default and on with
// cds_hooks.enabled and the hospital.
func TestServeOpensTheDoorsItIsConfiguredFor(t *testing.T) {
	cds := "cds_hooks:\n  enabled: true\n  hospital: {code: H370800001, level: 2}\n"
	for _, tc := range []struct {
		name, config   string
		nhsa, cdsHooks bool
	}{
		{"defaults", "", true, false},
		{"nhsa disabled, cds enabled", "nhsa:\n  disabled: true\n" + cds, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, "rxguard.yaml", tc.config)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errOut syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "-config", path, "-data", t.TempDir(), "-grpc", "127.0.0.1:0", "-http", "127.0.0.1:0"}, &out, &errOut)
			}()
			httpAddr := regexp.MustCompile(`msg="rxguard serving" grpc=\S+ http=(\S+)`)
			deadline := time.After(60 * time.Second)
			var m []string
			for m = httpAddr.FindStringSubmatch(errOut.String()); m == nil; m = httpAddr.FindStringSubmatch(errOut.String()) {
				select {
				case err := <-done:
					t.Fatalf("serve stopped: %v\n%s", err, errOut.String())
				case <-deadline:
					t.Fatalf("serve did not become ready:\n%s", errOut.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			for _, door := range []struct {
				path string
				open bool
			}{{"/nhsa/3101", tc.nhsa}, {"/cds-services", tc.cdsHooks}} {
				method := http.MethodPost
				if door.path == "/cds-services" {
					method = http.MethodGet
				}
				req, _ := http.NewRequest(method, "http://"+m[1]+door.path, strings.NewReader("{}"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if served := resp.StatusCode != http.StatusNotFound; served != door.open {
					t.Errorf("%s %s: HTTP %d, want served=%v", method, door.path, resp.StatusCode, door.open)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

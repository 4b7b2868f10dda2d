package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

// kb import reads the official files as published, stores and activates a
// release; kb inspect reports it; check talks to a sidecar serving it.
func TestImportInspectCheck(t *testing.T) {
	data := t.TempDir()
	out, err := runCmd(t, "kb", "import", "-data", data, "../../knowledge/data/nhsa")
	if err != nil {
		t.Fatalf("kb import: %v\n%s", err, out)
	}
	for _, want := range []string{"activated release import-", "batch1-drug-gender.xlsx", "batch8-4-item-period-frequency.xlsx", "6472"} {
		if !strings.Contains(out, want) {
			t.Errorf("kb import output lacks %q:\n%s", want, out)
		}
	}

	out, err = runCmd(t, "kb", "inspect", "-data", data)
	if err != nil {
		t.Fatalf("kb inspect: %v\n%s", err, out)
	}
	for _, want := range []string{"active release  import-", "(verified)", "restriction", "DRUG_GENDER", "6472", "DUPLICATE_CHARGE", "900"} {
		if !strings.Contains(out, want) {
			t.Errorf("kb inspect output lacks %q:\n%s", want, out)
		}
	}

	// A sidecar over that store, and `rxguard check` against it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(data, "kb"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, _ := engine.New(engine.Config{})
	if _, ok, err := server.LoadActive(ctx, st, eng); err != nil || !ok {
		t.Fatalf("load imported release: %v %v", ok, err)
	}
	srv := server.New(server.Options{Engine: eng, Logger: log, Service: check.New(check.Options{Engine: eng, Logger: log})})
	srv.SetReady()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	defer func() { cancel(); <-done }()

	out, err = runCmd(t, "check", "-server", lis.Addr().String(), "../../examples/male-aifu-nuangong.json")
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{"BLOCK", "DRUG_GENDER", "艾附暖宫丸", "建议"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCmd(t, "check", "-json", "-server", lis.Addr().String(), "../../examples/male-aifu-nuangong.json")
	if err != nil || !strings.Contains(out, `"VERDICT_BLOCK"`) || !strings.Contains(out, `"ruleType"`) {
		t.Errorf("check -json: %v\n%s", err, out)
	}

	// Bad input comes back with the field that is wrong.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"scene":"SCENE_OUTPATIENT","orders":[{"line_id":"1","item_code":"X","kind":"ITEM_DRUG","quantity":1}]}`), 0o644)
	_, err = runCmd(t, "check", "-server", lis.Addr().String(), bad)
	if err == nil || !strings.Contains(err.Error(), "InvalidArgument") || !strings.Contains(err.Error(), "patient") {
		t.Errorf("check of a bad order: %v", err)
	}
}

func TestImportRefusesDirectoryWithoutOfficialFiles(t *testing.T) {
	_, err := runCmd(t, "kb", "import", "-data", t.TempDir(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no known file") {
		t.Errorf("import of an empty directory: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"kb"}, {"kb", "nope"}, {"check"}} {
		var ue usageError
		if _, err := runCmd(t, args...); err == nil || !asUsage(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func asUsage(err error, ue *usageError) bool {
	u, ok := err.(usageError)
	if ok {
		*ue = u
	}
	return ok
}

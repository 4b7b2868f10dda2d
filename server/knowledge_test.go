package server

import (
	"context"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server/engine"
)

// A fresh data directory gets the demo release; a restart serves the
// persisted one without rebuilding, and the engine sees the same version.
func TestEnsureActiveBuildsDemoThenServesPersisted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	open := func() *store.Store {
		st, err := store.Open(ctx, store.Options{Dir: dir, Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	eng, _ := engine.New(engine.Config{})
	m1, err := EnsureActive(ctx, st, eng, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m1.Version, "demo-") || eng.Index() == nil || eng.Index().Version() != m1.Version {
		t.Fatalf("demo release not active: %+v", m1)
	}
	if m1.Counts["restriction"] < 14000 {
		t.Errorf("demo release has only %d restrictions", m1.Counts["restriction"])
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open()
	defer st.Close()
	eng2, _ := engine.New(engine.Config{})
	m2, ok, err := LoadActive(ctx, st, eng2)
	if err != nil || !ok {
		t.Fatalf("persisted release not loaded: %v %v", ok, err)
	}
	if m2.Version != m1.Version || m2.ContentSHA256 != m1.ContentSHA256 || eng2.Index().Codes() != eng.Index().Codes() {
		t.Errorf("restart serves %s (%d codes), want %s (%d codes)", m2.Version, eng2.Index().Codes(), m1.Version, eng.Index().Codes())
	}
}

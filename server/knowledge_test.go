package server

import (
	"context"
	"google.golang.org/protobuf/proto"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/bureausync"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
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

// A delta installed through Knowledge.InstallDelta is stored as an overlay
// on the active release, served at once from the records handed over, and
// served again after a restart from the store (Open proves the merged
// overlay, LoadActive compiles it).
func TestInstallDeltaServesOverlayAfterRestart(t *testing.T) {
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
	// Withdraw 100 restrictions: the index must lose their bindings.
	m1, m2 := installWithdrawing(t, st, eng, knowledge.ClassRestriction, 100)
	if v := eng.Index().Version(); v != m2.Version {
		t.Fatalf("engine serves %s, want %s", v, m2.Version)
	}
	if from := eng.Index().CompiledFrom(); from != m1.Version {
		t.Errorf("a delta of restrictions was compiled from %q, want into the index of %s", from, m1.Version)
	}
	rs, err := st.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := rs[len(rs)-1]; last.Version != m2.Version || !last.Active || last.Base != m1.Version {
		t.Fatalf("releases %+v: want %s active as changes to %s", rs, m2.Version, m1.Version)
	}
	want := eng.Index().Codes()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open()
	defer st.Close()
	eng2, _ := engine.New(engine.Config{})
	m, ok, err := LoadActive(ctx, st, eng2)
	if err != nil || !ok {
		t.Fatalf("persisted overlay not loaded: %v %v", ok, err)
	}
	if m.Version != m2.Version || m.ContentSHA256 != m2.ContentSHA256 {
		t.Fatalf("restart serves %s, want %s", m.Version, m2.Version)
	}
	if got := eng2.Index().Codes(); got != want {
		t.Errorf("restart serves an index of %d codes, the installed one had %d", got, want)
	}
	if m.Counts[knowledge.ClassRestriction] != m1.Counts[knowledge.ClassRestriction]-100 {
		t.Errorf("restart serves %d restrictions, want %d", m.Counts[knowledge.ClassRestriction], m1.Counts[knowledge.ClassRestriction]-100)
	}
}

// InstallDelta compiles a delta into the active index when it changes only
// restrictions, and the whole release otherwise; either way the engine
// serves what a full compile of the stored release serves.
func TestInstallDeltaCompilesIntoTheActiveIndex(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		class       knowledge.Class
		incremental bool
	}{
		{"restrictions", knowledge.ClassRestriction, true},
		{"product rows", knowledge.ClassDrug, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: quietLog})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			eng, _ := engine.New(engine.Config{})
			m1, m2 := installWithdrawing(t, st, eng, tc.class, 50)
			got := eng.Index()
			if from := got.CompiledFrom(); (from == m1.Version) != tc.incremental {
				t.Errorf("compiled from %q; want incremental=%v", from, tc.incremental)
			}
			eng2, _ := engine.New(engine.Config{})
			if _, err := ActivateRelease(ctx, st, eng2, m2.Version); err != nil {
				t.Fatal(err)
			}
			if got.Codes() != eng2.Index().Codes() || got.Version() != eng2.Index().Version() {
				t.Errorf("installed index: %d codes of %s; a full compile of the stored release: %d of %s",
					got.Codes(), got.Version(), eng2.Index().Codes(), eng2.Index().Version())
			}
			// What each item of the base release is bound to — the
			// withdrawn ones and every other — is what a full compile of
			// the stored delta binds it to (ExplainItem's answer: rules,
			// sources, product rows, catalogue entries).
			base, err := st.Records(ctx, m1.Version)
			if err != nil {
				t.Fatal(err)
			}
			content, err := knowledge.ContentFromRecords(base)
			if err != nil {
				t.Fatal(err)
			}
			type item struct{ code, name string }
			items := map[item]bool{}
			for _, r := range content.Restrictions {
				items[item{r.Code, r.Name}] = true
			}
			for _, d := range content.Drugs {
				items[item{d.Code, d.GenericName}] = true
			}
			differ := 0
			for it := range items {
				a, b := eng.Explain(it.code, it.name), eng2.Explain(it.code, it.name)
				a.KnowledgeVersion, b.KnowledgeVersion = "", "" // compared above
				if !proto.Equal(a, b) {
					if differ++; differ <= 3 {
						t.Errorf("item %s (%s): installed delta explains\n%v\na full compile\n%v", it.code, it.name, a, b)
					}
				}
			}
			if differ > 0 || len(items) < 1000 {
				t.Errorf("%d of %d items explained differently", differ, len(items))
			}
		})
	}
}

// installWithdrawing activates the demo release in st and eng, then
// installs through Knowledge.InstallDelta a delta withdrawing its first n
// records of class; it returns both manifests.
func installWithdrawing(t *testing.T, st *store.Store, eng *engine.Engine, class knowledge.Class, n int) (m1, m2 knowledge.Manifest) {
	t.Helper()
	ctx := context.Background()
	m1, err := EnsureActive(ctx, st, eng, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	base, err := st.Records(ctx, m1.Version)
	if err != nil {
		t.Fatal(err)
	}
	var recs []knowledge.Record
	dropped := 0
	for _, r := range base {
		if r.Class == class && dropped < n {
			dropped++
			continue
		}
		recs = append(recs, r)
	}
	m2 = knowledge.NewManifest("delta-1", m1.Version, m1.Created.Add(time.Hour), recs)
	d := store.Delta{Base: m1.Version, BaseSHA256: m1.ContentSHA256, Changes: bureausync.Changes(wire.Diff(base, recs))}
	if err := (Knowledge{Store: st, Engine: eng}).InstallDelta(ctx, m2, d); err != nil {
		t.Fatal(err)
	}
	return m1, m2
}

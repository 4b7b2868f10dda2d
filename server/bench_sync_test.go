package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/bureausync"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
	"github.com/rxguard/rxguard/server/engine"
)

// deltaBench is a store and engine serving the demo release, and a way to
// make signed 10 000-operation deltas against whatever is active.
type deltaBench struct {
	st      *store.Store
	k       Knowledge
	key     ed25519.PrivateKey
	trusted []ed25519.PublicKey
	active  []knowledge.Record
	activeM knowledge.Manifest
	n       int
}

func newDeltaBench(tb testing.TB, ts *testServer) *deltaBench {
	tb.Helper()
	ctx := context.Background()
	d, err := demoRelease()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{Dir: tb.TempDir(), Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.PutRelease(ctx, d.manifest, d.records); err != nil {
		tb.Fatal(err)
	}
	if _, err := ActivateRelease(ctx, st, ts.eng, d.manifest.Version); err != nil {
		tb.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	return &deltaBench{st: st, k: Knowledge{Store: st, Engine: ts.eng}, key: key,
		trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, active: d.records, activeM: d.manifest}
}

// nextDelta revises the description of 10 000 restrictions (a real-looking
// bureau revision: same keys, new values) and returns the signed delta.
func (db *deltaBench) nextDelta(tb testing.TB, ops int) *wire.Release {
	tb.Helper()
	db.n++
	target := slices.Clone(db.active)
	changed := 0
	for i := range target {
		if changed == ops {
			break
		}
		if target[i].Class != knowledge.ClassRestriction {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(target[i].Value, &v); err != nil {
			tb.Fatal(err)
		}
		v["description"] = fmt.Sprintf("修订 %d", db.n)
		b, _ := json.Marshal(v)
		target[i] = knowledge.Record{Class: target[i].Class, Key: target[i].Key, Value: b}
		changed++
	}
	if changed != ops {
		tb.Fatalf("demo release has only %d restrictions, want %d", changed, ops)
	}
	m := knowledge.NewManifest(fmt.Sprintf("bench-%d", db.n), db.activeM.Version, time.Now(), target)
	m, err := knowledge.SignManifest(m, db.key)
	if err != nil {
		tb.Fatal(err)
	}
	rel := &wire.Release{Manifest: m, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: db.activeM.Version,
		BaseSHA256: db.activeM.ContentSHA256, Ops: wire.Diff(db.active, target)}
	db.active, db.activeM = target, m
	return rel
}

// apply is what the sync client does with a received delta: prove it
// against the active release, store it, switch.
func (db *deltaBench) apply(tb testing.TB, rel *wire.Release) {
	ctx := context.Background()
	d, err := bureausync.PrepareDelta(ctx, db.st, rel, db.trusted)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.k.InstallDelta(ctx, rel.Manifest, d); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkApplyDelta10k: time to prove, store and activate a 10 000-record
// delta against the demo release (≈ 15 000 records).
func BenchmarkApplyDelta10k(b *testing.B) {
	ts := startServer(b, engine.Config{})
	db := newDeltaBench(b, ts)
	for b.Loop() {
		b.StopTimer()
		rel := db.nextDelta(b, 10_000)
		b.StartTimer()
		db.apply(b, rel)
	}
	if got := ts.eng.Index().Version(); got != db.activeM.Version {
		b.Fatalf("active %s, want %s", got, db.activeM.Version)
	}
}

// BenchmarkCheckP99DuringDeltaApply compares CheckOrders latency over
// loopback gRPC while 10 000-record deltas are applied back to back with the
// same number of checks on an idle sidecar. Reported: p99 idle, p99 during
// apply and their ratio; the ns/op is of the whole run.
func BenchmarkCheckP99DuringDeltaApply(b *testing.B) {
	ts := startServer(b, engine.Config{})
	db := newDeltaBench(b, ts)
	req := benchRequest()
	ctx := context.Background()
	measure := func(n int) []time.Duration {
		lat := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			if _, err := ts.client.CheckOrders(ctx, req); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		return lat
	}
	const checks = 3000
	measure(200) // warm up
	var idle, during []time.Duration
	var applies atomic.Int64
	for b.Loop() {
		idle = append(idle, measure(checks)...)
		rels := make([]*wire.Release, 4)
		for i := range rels {
			rels[i] = db.nextDelta(b, 10_000)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, rel := range rels {
				select {
				case <-stop:
					return
				default:
				}
				db.apply(b, rel)
				applies.Add(1)
			}
		}()
		// Checks only while applies run.
		for applies.Load() < int64(len(rels)) && len(during) < 50*checks {
			during = append(during, measure(50)...)
		}
		close(stop)
		wg.Wait()
	}
	p := func(lat []time.Duration, q float64) float64 {
		s := slices.Clone(lat)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(q*float64(len(s)-1))].Microseconds())
	}
	b.ReportMetric(p(idle, 0.50), "p50-idle-µs")
	b.ReportMetric(p(idle, 0.99), "p99-idle-µs")
	b.ReportMetric(p(during, 0.50), "p50-apply-µs")
	b.ReportMetric(p(during, 0.99), "p99-apply-µs")
	b.ReportMetric(p(during, 0.99)/p(idle, 0.99), "p99-ratio")
	b.ReportMetric(float64(len(during)), "checks-during")
}

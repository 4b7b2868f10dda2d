package server

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/synth"
	"github.com/rxguard/rxguard/knowledge/wire"
	"github.com/rxguard/rxguard/server/engine"
)

// scaleDeltaBench is deltaBench on the synthetic release of synthSize (the
// seeds' scale with RXGUARD_SYNTH_ENTRIES=706000 RXGUARD_SYNTH_RULES=61000):
// a store on disk with the release active, and signed deltas made the way
// `rxguard kb synth -delta-records` makes them (synth.Revise).
type scaleDeltaBench struct {
	deltaBench
	content *knowledge.Content
}

func newScaleDeltaBench(tb testing.TB, eng *engine.Engine) *scaleDeltaBench {
	tb.Helper()
	ctx := context.Background()
	content, err := synth.Content(ctx, synthSize())
	if err != nil {
		tb.Fatal(err)
	}
	m, records, err := knowledge.BuildRelease("synth", "", "", synth.Created, content)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{Dir: tb.TempDir(), Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.PutRelease(ctx, m, records); err != nil {
		tb.Fatal(err)
	}
	if _, err := ActivateRelease(ctx, st, eng, m.Version); err != nil {
		tb.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	return &scaleDeltaBench{
		deltaBench: deltaBench{st: st, k: Knowledge{Store: st, Engine: eng}, key: key,
			trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, active: records, activeM: m},
		content: content,
	}
}

// nextDelta revises n records of the active content (synth.Revise: 80 %
// replaced, 10 % added, 10 % withdrawn) and returns the signed delta.
func (db *scaleDeltaBench) nextDelta(tb testing.TB, n int) *wire.Release {
	tb.Helper()
	db.n++
	if err := synth.Revise(db.content, n, uint64(db.n)); err != nil {
		tb.Fatal(err)
	}
	m, target, err := knowledge.BuildRelease("synth-delta", fmt.Sprintf("synth-delta-%d", db.n), db.activeM.Version,
		synth.Created.Add(time.Duration(db.n)*time.Hour), db.content)
	if err != nil {
		tb.Fatal(err)
	}
	if m, err = knowledge.SignManifest(m, db.key); err != nil {
		tb.Fatal(err)
	}
	rel := &wire.Release{Manifest: m, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: db.activeM.Version,
		BaseSHA256: db.activeM.ContentSHA256, Ops: wire.Diff(db.active, target)}
	db.active, db.activeM = target, m
	return rel
}

// BenchmarkScaleApplyDelta10k: BenchmarkApplyDelta10k at synthSize — prove
// a 10 000-record delta against the active release read from the store,
// store it, compile it and swap it in (issue 14: ≤ 1 s at 767,000 records).
// Each iteration applies one more delta on top of the last.
func BenchmarkScaleApplyDelta10k(b *testing.B) {
	eng, err := engine.New(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	db := newScaleDeltaBench(b, eng)
	for b.Loop() {
		b.StopTimer()
		rel := db.nextDelta(b, 10_000)
		b.StartTimer()
		db.apply(b, rel)
	}
	if got := eng.Index().Version(); got != db.activeM.Version {
		b.Fatalf("active %s, want %s", got, db.activeM.Version)
	}
	b.ReportMetric(float64(db.activeM.RecordCount), "records")
}

// BenchmarkScaleCheckP99DuringDeltaApply is BenchmarkCheckP99DuringDeltaApply
// at synthSize: CheckOrders over loopback gRPC (one caller, the 10-line
// order) on the idle sidecar serving the synthetic release, then while two
// 10 000-record deltas are applied one after the other (issue 14: p99
// during ≤ 2× idle). The deltas are made before the idle measurement.
func BenchmarkScaleCheckP99DuringDeltaApply(b *testing.B) {
	ts := startServer(b, engine.Config{})
	db := newScaleDeltaBench(b, ts.eng)
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
	var idle, during []time.Duration
	var applyTime time.Duration
	for b.Loop() {
		b.StopTimer()
		rels := []*wire.Release{db.nextDelta(b, 10_000), db.nextDelta(b, 10_000)}
		runtime.GC() // the deltas' garbage is the setup's, not the apply's
		b.StartTimer()
		measure(200) // warm up
		idle = append(idle, measure(checks)...)
		done := make(chan time.Duration)
		go func() {
			start := time.Now()
			for _, rel := range rels {
				db.apply(b, rel)
			}
			done <- time.Since(start)
		}()
	wait:
		for {
			select {
			case d := <-done:
				applyTime += d
				break wait
			default:
				during = append(during, measure(10)...)
			}
		}
	}
	if got := ts.eng.Index().Version(); got != db.activeM.Version {
		b.Fatalf("active %s, want %s", got, db.activeM.Version)
	}
	p := func(lat []time.Duration, q float64) float64 {
		s := slices.Clone(lat)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1))].Microseconds())
	}
	b.ReportMetric(p(idle, 0.50), "p50-idle-µs")
	b.ReportMetric(p(idle, 0.99), "p99-idle-µs")
	b.ReportMetric(p(during, 0.50), "p50-apply-µs")
	b.ReportMetric(p(during, 0.99), "p99-apply-µs")
	b.ReportMetric(p(during, 0.99)/p(idle, 0.99), "p99-ratio")
	b.ReportMetric(float64(len(during)), "checks-during")
	b.ReportMetric(float64(applyTime.Milliseconds())/float64(2*b.N), "ms/delta")
}

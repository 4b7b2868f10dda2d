package decisionlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if big.dir != "" && !big.kept {
		os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

// templates are realistic decisions (10 lines, 5 findings) to append with
// fresh ids.
func templates(n, physicians, depts, patients int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		out[i] = realistic(t0, uint64(i), physicians, depts, patients)
	}
	return out
}

// BenchmarkAppendThroughput appends realistic decisions from concurrent
// callers as fast as the writer takes them (back-pressure included) and
// reports decisions/s through to disk, the encoded size of a decision and,
// after Close has flushed and compacted level 0, the disk space per
// decision (ZSTD-compressed tables).
func BenchmarkAppendThroughput(b *testing.B) { appendThroughput(b, nil) }

// appendThroughput is BenchmarkAppendThroughput, encrypted with key (nil:
// not encrypted).
func appendThroughput(b *testing.B, key []byte) {
	ctx := context.Background()
	dir := b.TempDir()
	l, err := Open(ctx, Options{Dir: dir, Logger: quietLogger(), EncryptionKey: key})
	if err != nil {
		b.Fatal(err)
	}
	tmpl := templates(1024, 2000, 50, 200_000)
	var seq atomic.Uint64
	b.SetParallelism(4) // 8 concurrent checks on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := tmpl[seq.Add(1)%uint64(len(tmpl))]
			e.ID = NewID(time.Now())
			l.Append(ctx, e)
		}
	})
	if err := l.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := l.Stats()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if st.Written != uint64(b.N) {
		b.Fatalf("%d written of %d", st.Written, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
	b.ReportMetric(float64(b.N)/float64(st.Commits), "decisions/commit")
	b.ReportMetric(float64(proto.Size(want(tmpl[0], "sidecar-1"))), "proto-B/decision")
	if b.N >= 10_000 {
		b.ReportMetric(float64(dirBytes(dir))/float64(b.N), "disk-B/decision")
	}
}

// BenchmarkAppendSync is the latency Sync durability adds to a check:
// one Append waits for its group commit.
func BenchmarkAppendSync(b *testing.B) {
	ctx := context.Background()
	l := openTest(b, Options{Durability: Sync})
	tmpl := templates(64, 2000, 50, 200_000)
	var seq atomic.Uint64
	var waited atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := tmpl[seq.Add(1)%uint64(len(tmpl))]
			e.ID = NewID(time.Now())
			start := time.Now()
			l.Append(ctx, e)
			waited.Add(int64(time.Since(start)))
		}
	})
	b.ReportMetric(float64(waited.Load())/float64(b.N)/1e6, "ms/append")
}

// big is a store of many decisions (default 1,000,000; set
// RXGUARD_BENCH_DECISIONS to change), built once per benchmark run in a
// temporary directory that TestMain removes. RXGUARD_BENCH_DIR names a
// directory to build it in and keep, and to reuse when it already holds a
// store of the same size.
var big struct {
	once       sync.Once
	dir        string
	kept       bool
	n          int
	physicians int
	depts      int
	from, to   time.Time
	err        error
}

const (
	bigPhysicians = 2000
	bigDepts      = 50
)

func bigStore(b *testing.B) {
	b.Helper()
	big.once.Do(func() {
		big.n = 1_000_000
		if s := os.Getenv("RXGUARD_BENCH_DECISIONS"); s != "" {
			if big.n, big.err = strconv.Atoi(s); big.err != nil {
				return
			}
		}
		big.physicians, big.depts = bigPhysicians, bigDepts
		big.to = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		big.from = big.to.Add(-365 * 24 * time.Hour)
		marker := fmt.Sprintf("rxguard-bench-%d-decisions", big.n)
		if big.dir = os.Getenv("RXGUARD_BENCH_DIR"); big.dir != "" {
			big.kept = true
			if _, err := os.Stat(filepath.Join(big.dir, marker)); err == nil {
				return
			}
			if big.err = os.RemoveAll(big.dir); big.err != nil {
				return
			}
		} else if big.dir, big.err = os.MkdirTemp("", "rxguard-decisionlog-bench-"); big.err != nil {
			return
		}
		ctx := context.Background()
		l, err := Open(ctx, Options{Dir: big.dir, Logger: quietLogger()})
		if err != nil {
			big.err = err
			return
		}
		// A year of decisions, evenly spread; two templates per physician.
		tmpl := templates(2*bigPhysicians, bigPhysicians, bigDepts, 200_000)
		step := big.to.Sub(big.from) / time.Duration(big.n)
		start := time.Now()
		var wg sync.WaitGroup
		const producers = 4
		for p := range producers {
			wg.Go(func() {
				for i := p; i < big.n; i += producers {
					e := tmpl[i%len(tmpl)]
					e.Time = big.from.Add(time.Duration(i) * step)
					e.ID = idAt(e.Time, uint64(i))
					l.Append(ctx, e)
				}
			})
		}
		wg.Wait()
		if big.err = l.Flush(ctx); big.err != nil {
			return
		}
		built := time.Since(start)
		if big.err = l.Close(); big.err != nil {
			return
		}
		big.err = os.WriteFile(filepath.Join(big.dir, marker), nil, 0o600)
		b.Logf("built %d decisions in %v (%.0f decisions/s sustained), %.0f MiB on disk (%.0f B/decision)",
			big.n, built.Round(time.Millisecond), float64(big.n)/built.Seconds(), float64(dirBytes(big.dir))/(1<<20), float64(dirBytes(big.dir))/float64(big.n))
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
}

func openBig(b *testing.B) *Log {
	bigStore(b)
	l, err := Open(context.Background(), Options{Dir: big.dir, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func physicianCode(p int) string { return fmt.Sprintf("D3708%08d", p) }

// BenchmarkQueryByPhysician: the newest page of 100 of one physician (a
// different one each time) among 1,000,000 decisions.
func BenchmarkQueryByPhysician(b *testing.B) {
	l := openBig(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		decs, next, err := l.Query(ctx, Query{PhysicianCode: physicianCode(r.IntN(big.physicians)), PageSize: 100})
		if err != nil || len(decs) != 100 || next == "" {
			b.Fatalf("%d decisions, %v", len(decs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
}

// BenchmarkQueryByPhysicianLaterPage: the page after the first (from a
// page token), within one month.
func BenchmarkQueryByPhysicianLaterPage(b *testing.B) {
	l := openBig(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	type first struct{ code, token string }
	var firsts []first
	for range 64 {
		code := physicianCode(r.IntN(big.physicians))
		q := Query{PhysicianCode: code, PageSize: 20, From: big.to.Add(-90 * 24 * time.Hour), To: big.to.Add(-30 * 24 * time.Hour)}
		if _, next, err := l.Query(ctx, q); err != nil || next == "" {
			b.Fatalf("first page: %q, %v", next, err)
		} else {
			firsts = append(firsts, first{code, next})
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		f := firsts[i%len(firsts)]
		i++
		q := Query{PhysicianCode: f.code, PageSize: 20, From: big.to.Add(-90 * 24 * time.Hour), To: big.to.Add(-30 * 24 * time.Hour), PageToken: f.token}
		if decs, _, err := l.Query(ctx, q); err != nil || len(decs) == 0 {
			b.Fatalf("%d decisions, %v", len(decs), err)
		}
	}
}

// BenchmarkQueryCombined: department ∧ verdict ∧ rule type, joined on the
// indexes, a page of 100.
func BenchmarkQueryCombined(b *testing.B) {
	l := openBig(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	b.ResetTimer()
	for b.Loop() {
		q := Query{DepartmentCode: fmt.Sprintf("A%02d", r.IntN(big.depts)), Verdict: rxguardv1.Verdict_VERDICT_BLOCK, RuleType: "DUPLICATE_CHARGE", PageSize: 100}
		if decs, _, err := l.Query(ctx, q); err != nil || len(decs) == 0 {
			b.Fatalf("%d decisions, %v", len(decs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
}

// BenchmarkQueryTimeRange: no filter but a day, a page of 100 (the
// decisions' own keys in id order).
func BenchmarkQueryTimeRange(b *testing.B) {
	l := openBig(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	b.ResetTimer()
	for b.Loop() {
		from := big.from.Add(time.Duration(r.IntN(360)) * 24 * time.Hour)
		if decs, _, err := l.Query(ctx, Query{From: from, To: from.Add(24 * time.Hour), PageSize: 100}); err != nil || len(decs) != 100 {
			b.Fatalf("%d decisions, %v", len(decs), err)
		}
	}
}

// BenchmarkPhysicianReport: one physician over a month (about 40
// decisions of 1,000,000).
func BenchmarkPhysicianReport(b *testing.B) {
	l := openBig(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 12))
	b.ResetTimer()
	for b.Loop() {
		to := big.to.Add(-time.Duration(r.IntN(300)) * 24 * time.Hour)
		rep, err := l.PhysicianReport(ctx, physicianCode(r.IntN(big.physicians)), to.Add(-30*24*time.Hour), to)
		if err != nil || rep.Decisions == 0 {
			b.Fatalf("%v, %v", rep, err)
		}
	}
}

// BenchmarkDepartmentReport: one department over a month (about 1,700
// decisions of 1,000,000).
func BenchmarkDepartmentReport(b *testing.B) {
	l := openBig(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(13, 14))
	b.ResetTimer()
	for b.Loop() {
		to := big.to.Add(-time.Duration(r.IntN(300)) * 24 * time.Hour)
		rep, err := l.DepartmentReport(ctx, fmt.Sprintf("A%02d", r.IntN(big.depts)), to.Add(-30*24*time.Hour), to)
		if err != nil || rep.Decisions == 0 {
			b.Fatalf("%v, %v", rep, err)
		}
	}
}

package engine

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/synth"
)

// BenchmarkCompileSynthHeap compiles a synthetic release (the size from
// RXGUARD_SYNTH_ENTRIES / RXGUARD_SYNTH_RULES, 60,000 / 30,000 without
// them) decoded from its records, as a sidecar does, and reports the heap
// the index keeps (index-heap-MB: everything the index holds, decoded
// strings included) and per product code (index-heap-B/code). With
// RXGUARD_HEAP_PROFILE=file it writes an in-use heap profile of the
// compiled index, sampled every 512 bytes from the decode on:
//
//	RXGUARD_HEAP_PROFILE=/tmp/idx.heap go test ./server/engine -run '^$' -bench CompileSynthHeap -benchtime 1x
//	go tool pprof -sample_index=inuse_space -top /tmp/idx.heap
func BenchmarkCompileSynthHeap(b *testing.B) {
	o := synth.Options{Entries: 60_000, Rules: 30_000, Seed: 1}
	if v, err := strconv.Atoi(os.Getenv("RXGUARD_SYNTH_ENTRIES")); err == nil {
		o.Entries = v
	}
	if v, err := strconv.Atoi(os.Getenv("RXGUARD_SYNTH_RULES")); err == nil {
		o.Rules = v
	}
	m, records, err := synth.Release(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	profile := os.Getenv("RXGUARD_HEAP_PROFILE")
	if profile != "" {
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 512
		defer func() { runtime.MemProfileRate = old }()
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var idx *Index
	var grew uint64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		idx = nil
		base := heap()
		c, err := knowledge.ContentFromRecords(records)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		idx, err = Compile(m, c)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c = nil
		grew = heap() - base
		b.StartTimer()
	}
	b.StopTimer()
	records = nil
	if profile != "" {
		runtime.GC()
		f, err := os.Create(profile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(grew)/(1<<20), "index-heap-MB")
	b.ReportMetric(float64(grew)/float64(idx.Codes()), "index-heap-B/code")
	runtime.KeepAlive(idx)
}

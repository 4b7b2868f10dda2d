package pluginhost

import (
	"context"
	"testing"
)

func BenchmarkEvaluateNoPlugins(b *testing.B) {
	m := startManager(b)
	ctx, req := context.Background(), request("bench")
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Evaluate(ctx, req)
	}
}

func BenchmarkEvaluateOnePlugin(b *testing.B) {
	m := startManager(b, okConfig("bench", "B"))
	ctx, req := context.Background(), request("bench")
	if !isReal(m.Evaluate(ctx, req), "bench", "B") {
		b.Fatal("plugin not answering")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Evaluate(ctx, req)
	}
	if s := m.Status()[0]; s.Errors+s.Timeouts != 0 {
		b.Fatalf("errors during benchmark: %+v", s)
	}
}

func BenchmarkEvaluateOnePluginParallel(b *testing.B) {
	m := startManager(b, okConfig("bench", "B"))
	ctx, req := context.Background(), request("bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = m.Evaluate(ctx, req)
		}
	})
}

func BenchmarkEvaluateThreePlugins(b *testing.B) {
	m := startManager(b, okConfig("a", "A"), okConfig("b", "B"), okConfig("c", "C"))
	ctx, req := context.Background(), request("bench")
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Evaluate(ctx, req)
	}
}

// BenchmarkRawGRPC is the floor under BenchmarkEvaluateOnePlugin: the same
// gRPC call to the same plugin process without the host's wrapper
// (deadline, counters, latency histogram, finding fix-ups).
func BenchmarkRawGRPC(b *testing.B) {
	m := startManager(b, okConfig("bench", "B"))
	ctx, req := context.Background(), request("bench")
	svc := m.plugins[0].cur.Load().svc
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Evaluate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

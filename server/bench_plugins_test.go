package server

import (
	"context"
	"testing"

	"github.com/rxguard/rxguard/server/engine"
)

// BenchmarkGRPCPlugins: CheckOrders over loopback gRPC on a sidecar
// without plugins and on one with the two example plugins (real processes),
// in the same run; report the ratio.
func BenchmarkGRPCPlugins(b *testing.B) {
	req := residentVoriconazole()
	req.Orders[0].UnitPrice = 80
	ctx := context.Background()
	b.Run("without", func(b *testing.B) {
		ts := startServer(b, engine.Config{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ts.client.CheckOrders(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("with=antibiotic-tier+high-cost", func(b *testing.B) {
		ts, _ := startWithPlugins(b)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := ts.client.CheckOrders(ctx, req)
			if err != nil || len(resp.Findings) == 0 {
				b.Fatal(resp, err)
			}
		}
	})
}

package history

import (
	"context"
	"testing"
	"time"
)

// BenchmarkEncryption is the cost of encryption at rest on the hot path
// (a lookup of 200 entries read from SSTables, the cache off) and on
// RecordSigned (a synced 10-line Record), unencrypted and encrypted.
func BenchmarkEncryption(b *testing.B) {
	since := t0.Add(-400 * 24 * time.Hour)
	for _, v := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", testKey}} {
		s, target := benchStoreKey(b, true, v.key)
		b.Run("lookup/"+v.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.Lookup(ctx, target, since, t0)
				if err != nil || len(got) != 200 {
					b.Fatalf("got %d entries, err %v", len(got), err)
				}
			}
		})
		b.Run("record/"+v.name, func(b *testing.B) { benchRecord(b, v.key) })
	}
}

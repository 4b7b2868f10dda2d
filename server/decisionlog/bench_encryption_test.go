package decisionlog

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkEncryption is the cost of encryption at rest: append
// throughput (as BenchmarkAppendThroughput), and a page of 100 decisions of
// one physician from a closed and reopened store of 20,000 (tables, not
// the memtable), unencrypted and encrypted.
func BenchmarkEncryption(b *testing.B) {
	for _, v := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", testKey}} {
		b.Run("append/"+v.name, func(b *testing.B) { appendThroughput(b, v.key) })
		l := smallStore(b, v.key, 20_000, 100)
		b.Run("query/"+v.name, func(b *testing.B) {
			ctx := context.Background()
			r := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			for b.Loop() {
				decs, _, err := l.Query(ctx, Query{PhysicianCode: physicianCode(r.IntN(100)), PageSize: 100})
				if err != nil || len(decs) != 100 {
					b.Fatalf("%d decisions, %v", len(decs), err)
				}
			}
		})
	}
}

// smallStore writes n decisions of physicians physicians, closes the log
// and reopens it.
func smallStore(b *testing.B, key []byte, n, physicians int) *Log {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	l, err := Open(ctx, Options{Dir: dir, Logger: quietLogger(), EncryptionKey: key})
	if err != nil {
		b.Fatal(err)
	}
	tmpl := templates(2*physicians, physicians, 10, 20_000)
	to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := tmpl[i%len(tmpl)]
		e.Time = to.Add(-time.Duration(n-i) * time.Minute)
		e.ID = idAt(e.Time, uint64(i))
		l.Append(ctx, e)
	}
	if err := l.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if l, err = Open(ctx, Options{Dir: dir, Logger: quietLogger(), EncryptionKey: key}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

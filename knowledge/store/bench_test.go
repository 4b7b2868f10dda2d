package store

import (
	"context"
	"fmt"
	"testing"
)

const benchValueSize = 300

func releaseBytes(n int) int64 {
	_, recs := makeRelease("size", "", n, benchValueSize)
	var total int64
	for _, r := range recs {
		total += int64(len(r.Class) + len(r.Key) + len(r.Value))
	}
	return total
}

// BenchmarkPutActivate10k measures writing a 10k-record release (several
// synced transactions, read-back proof, manifest) and activating it
// (verification, switch, garbage collection of the release two back).
func BenchmarkPutActivate10k(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	s := openDisk(b, b.TempDir(), nil)
	defer s.Close()
	b.SetBytes(releaseBytes(n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, recs := makeRelease(fmt.Sprintf("v%06d", i), "", n, benchValueSize)
		b.StartTimer()
		if err := s.PutRelease(ctx, m, recs); err != nil {
			b.Fatal(err)
		}
		if err := s.Activate(ctx, m.Version); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecords15k measures loading a 15k-record release, proven against
// its manifest, as rxguard does to compile its index.
func BenchmarkRecords15k(b *testing.B) {
	const n = 15000
	ctx := context.Background()
	s := openDisk(b, b.TempDir(), nil)
	defer s.Close()
	m, recs := makeRelease("v1", "", n, benchValueSize)
	mustPut(b, s, m, recs)
	mustActivate(b, s, m.Version)
	b.SetBytes(releaseBytes(n))
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.Records(ctx, m.Version)
		if err != nil || len(got) != n {
			b.Fatalf("Records: %d, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkVerify15k measures what Open spends proving the active release.
func BenchmarkVerify15k(b *testing.B) {
	const n = 15000
	ctx := context.Background()
	s := openDisk(b, b.TempDir(), nil)
	defer s.Close()
	m, recs := makeRelease("v1", "", n, benchValueSize)
	mustPut(b, s, m, recs)
	b.SetBytes(releaseBytes(n))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Verify(ctx, m.Version); err != nil {
			b.Fatal(err)
		}
	}
}

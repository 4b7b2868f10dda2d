package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/internal/resident"
)

// MemoryStatus is what the server needs from the releaser of the stores'
// mapped pages (internal/resident).
type MemoryStatus func() resident.Status

type memoryCollector struct {
	status          MemoryStatus
	anon, file, rel *prometheus.Desc
}

func newMemoryCollector(status MemoryStatus) *memoryCollector {
	return &memoryCollector{
		status: status,
		anon:   prometheus.NewDesc("rxguard_resident_anon_bytes", "Resident anonymous memory (the heap): what the memory limit (GOMEMLIMIT) bounds.", nil, nil),
		file:   prometheus.NewDesc("rxguard_resident_file_bytes", "Resident pages of mapped files: the binary and whatever of the stores' files was read or written since their pages were last released.", nil, nil),
		rel:    prometheus.NewDesc("rxguard_mapped_pages_releases_total", "Times the stores' mapped pages were given back to the kernel.", nil, nil),
	}
}

func (c *memoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.anon
	ch <- c.file
	ch <- c.rel
}

func (c *memoryCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	ch <- prometheus.MustNewConstMetric(c.anon, prometheus.GaugeValue, float64(s.RSSAnonBytes))
	ch <- prometheus.MustNewConstMetric(c.file, prometheus.GaugeValue, float64(s.RSSFileBytes))
	ch <- prometheus.MustNewConstMetric(c.rel, prometheus.CounterValue, float64(s.Releases))
}

package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/internal/diskspace"
)

// StorageStatus is what the server needs from the stores' disk guards:
// one Status per store.
type StorageStatus func() []diskspace.Status

// addStorage adds the stores' disk state to a /readyz or /status document:
// "storage" (one entry per store) and "degraded" (some store refuses
// writes).
func (s *Server) addStorage(out map[string]any) {
	if s.storage == nil {
		return
	}
	stores := s.storage()
	degraded := false
	for _, st := range stores {
		degraded = degraded || !st.Writable
	}
	out["storage"] = stores
	out["degraded"] = degraded
}

type storageCollector struct {
	status                           StorageStatus
	writable, free, minFree, refused *prometheus.Desc
}

func newStorageCollector(status StorageStatus) *storageCollector {
	l := []string{"store"}
	return &storageCollector{
		status:   status,
		writable: prometheus.NewDesc("rxguard_store_writable", "1 when the store takes writes: enough free space and open read-write.", l, nil),
		free:     prometheus.NewDesc("rxguard_store_free_bytes", "Bytes available on the filesystem of the store's directory at the last measurement.", l, nil),
		minFree:  prometheus.NewDesc("rxguard_store_min_free_bytes", "The free space below which the store refuses writes (min_free_bytes).", l, nil),
		refused:  prometheus.NewDesc("rxguard_store_writes_refused_total", "Writes the store refused because the disk was nearly full.", l, nil),
	}
}

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.writable, c.free, c.minFree, c.refused} {
		ch <- d
	}
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.status() {
		writable := 0.0
		if s.Writable {
			writable = 1
		}
		ch <- prometheus.MustNewConstMetric(c.writable, prometheus.GaugeValue, writable, s.Store)
		ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(s.FreeBytes), s.Store)
		ch <- prometheus.MustNewConstMetric(c.minFree, prometheus.GaugeValue, float64(s.MinFreeBytes), s.Store)
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.RefusedWrites), s.Store)
	}
}

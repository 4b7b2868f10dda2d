package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/knowledge/bureausync"
)

// SyncStatus is what the server needs from the bureau sync client.
type SyncStatus func() bureausync.Status

// statusPage is /status: everything hospital IT asks first.
func (s *Server) statusPage(w http.ResponseWriter, _ *http.Request) {
	out := map[string]any{"ready": s.ready.Load()}
	if idx := s.engine.Index(); idx != nil {
		m := idx.Manifest
		out["knowledge"] = map[string]any{
			"version": m.Version, "parent": m.Parent, "created": m.Created, "publisher": m.Publisher,
			"records": m.RecordCount, "content_sha256": m.ContentSHA256, "signed": m.Signature != "",
		}
	}
	if p := s.engine.Physicians(); p != nil {
		out["physician_events"] = p.Events
	}
	if s.sync != nil {
		out["sync"] = s.sync()
	} else {
		out["sync"] = map[string]any{"configured": false}
	}
	if s.plugins != nil {
		out["plugins"] = s.plugins()
	}
	s.addStorage(out)
	if s.memory != nil {
		out["memory"] = s.memory()
	}
	s.addDecisions(out)
	out["security"] = s.security.status()
	out["time"] = time.Now().Format(time.RFC3339)
	writeJSON(w, http.StatusOK, out)
}

type syncCollector struct {
	status                                                    SyncStatus
	lastSuccess, lastAttempt, lag, stale, behind, consecutive *prometheus.Desc
	failures, applied, cursor, bureauSeq                      *prometheus.Desc
}

func newSyncCollector(status SyncStatus) *syncCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &syncCollector{
		status:      status,
		lastSuccess: d("rxguard_sync_last_success_timestamp_seconds", "Unix time of the last poll that left the sidecar up to date with the bureau (0: never)."),
		lastAttempt: d("rxguard_sync_last_attempt_timestamp_seconds", "Unix time of the last poll."),
		lag:         d("rxguard_sync_lag_seconds", "Seconds since the last successful sync (since start if none)."),
		stale:       d("rxguard_sync_stale", "1 when the last successful sync is older than stale_after."),
		behind:      d("rxguard_sync_versions_behind", "Releases the active one was behind the bureau's latest at the last contact (-1: unknown to the bureau)."),
		consecutive: d("rxguard_sync_consecutive_failures", "Polls failed in a row."),
		failures:    d("rxguard_sync_failures_total", "Polls that failed."),
		applied:     d("rxguard_sync_releases_applied_total", "Releases fetched from the bureau and activated."),
		cursor:      d("rxguard_physician_feed_cursor", "Last physician-status event seq stored."),
		bureauSeq:   d("rxguard_physician_feed_bureau_last_seq", "Newest physician-status event seq the bureau reported."),
	}
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lastSuccess, c.lastAttempt, c.lag, c.stale, c.behind, c.consecutive, c.failures, c.applied, c.cursor, c.bureauSeq} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	unix := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	stale := 0.0
	if s.Stale {
		stale = 1
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	g(c.lastSuccess, unix(s.LastSuccess))
	g(c.lastAttempt, unix(s.LastAttempt))
	g(c.lag, s.LagSeconds)
	g(c.stale, stale)
	g(c.behind, float64(s.VersionsBehind))
	g(c.consecutive, float64(s.ConsecutiveFailures))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures))
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.CounterValue, float64(s.ReleasesApplied))
	g(c.cursor, float64(s.FeedCursor))
	g(c.bureauSeq, float64(s.BureauLastSeq))
}

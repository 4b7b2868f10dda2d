package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/server/pluginhost"
)

// pluginCollector exposes the plugin host's per-plugin status as Prometheus
// metrics. It reads Status() at scrape time, so the hot path keeps its
// atomic counters and pays nothing for metrics.
type pluginCollector struct {
	status func() []pluginhost.PluginStatus

	up, calls, errors, timeouts, unavailable, restarts, badFixes, latency *prometheus.Desc
}

func newPluginCollector(status func() []pluginhost.PluginStatus) *pluginCollector {
	l := []string{"plugin"}
	return &pluginCollector{
		status:      status,
		up:          prometheus.NewDesc("rxguard_plugin_up", "1 when the plugin process is running and takes calls.", []string{"plugin", "state"}, nil),
		calls:       prometheus.NewDesc("rxguard_plugin_calls_total", "Evaluate calls that reached the plugin's turn.", l, nil),
		errors:      prometheus.NewDesc("rxguard_plugin_errors_total", "Calls that failed (transport or plugin error).", l, nil),
		timeouts:    prometheus.NewDesc("rxguard_plugin_timeouts_total", "Calls that passed their deadline.", l, nil),
		unavailable: prometheus.NewDesc("rxguard_plugin_unavailable_total", "Calls answered by the failure policy because no process was running.", l, nil),
		restarts:    prometheus.NewDesc("rxguard_plugin_restarts_total", "Plugin processes started after the first one.", l, nil),
		badFixes:    prometheus.NewDesc("rxguard_plugin_bad_fixes_total", "Structured suggestions (Finding.fixes) dropped from the plugin's findings as invalid for their request (the plugin's last_error in /status says why).", l, nil),
		latency:     prometheus.NewDesc("rxguard_plugin_call_duration_seconds", "Latency of calls sent to the plugin process.", l, nil),
	}
}

func (c *pluginCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.calls, c.errors, c.timeouts, c.unavailable, c.restarts, c.badFixes, c.latency} {
		ch <- d
	}
}

func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	bounds := pluginhost.LatencyBounds()
	for _, s := range c.status() {
		up := 0.0
		if s.State == pluginhost.StateRunning {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, s.Name, string(s.State))
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(s.Calls), s.Name)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(s.Errors), s.Name)
		ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.Timeouts), s.Name)
		ch <- prometheus.MustNewConstMetric(c.unavailable, prometheus.CounterValue, float64(s.Unavailable), s.Name)
		ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(s.Restarts), s.Name)
		ch <- prometheus.MustNewConstMetric(c.badFixes, prometheus.CounterValue, float64(s.BadFixes), s.Name)
		buckets := make(map[float64]uint64, len(bounds))
		var cum uint64
		for i, b := range bounds {
			if i < len(s.Latency.Buckets) {
				cum += s.Latency.Buckets[i]
			}
			buckets[b.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, s.Latency.Count, s.Latency.Sum.Seconds(), buckets, s.Name)
	}
}

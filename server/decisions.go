package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/server/decisionlog"
)

// addDecisions adds the decision log's state to a /readyz or /status
// document: "decision_log", and "degraded" when it cannot record (checks are
// still answered: a storage problem never fails a check).
func (s *Server) addDecisions(out map[string]any) {
	if s.decisions == nil {
		return
	}
	st := s.decisions.Status()
	out["decision_log"] = st
	if st.State != decisionlog.StateOK {
		out["degraded"] = true
	}
}

type decisionLogCollector struct {
	log                                                            DecisionLogStatus
	depth, capacity, written, waited, failed, dropped, commits, ok *prometheus.Desc
}

func newDecisionLogCollector(log DecisionLogStatus) *decisionLogCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &decisionLogCollector{
		log:      log,
		depth:    d("rxguard_decision_log_queue_depth", "Decisions waiting for the decision-log writer."),
		capacity: d("rxguard_decision_log_queue_capacity", "Capacity of the decision-log queue."),
		written:  d("rxguard_decision_log_written_total", "Decisions committed to the decision log."),
		waited:   d("rxguard_decision_log_waited_total", "Checks that waited for room in a full decision-log queue (back-pressure)."),
		failed:   d("rxguard_decision_log_failed_total", "Decisions the decision log could not write (storage error, disk nearly full)."),
		dropped:  d("rxguard_decision_log_dropped_total", "Decisions not queued: the check's caller gave up while waiting for room, or after shutdown."),
		commits:  d("rxguard_decision_log_commits_total", "Group commits of the decision log."),
		ok:       d("rxguard_decision_log_ok", "1 when the decision log records decisions, 0 when degraded."),
	}
}

func (c *decisionLogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.capacity, c.written, c.waited, c.failed, c.dropped, c.commits, c.ok} {
		ch <- d
	}
}

func (c *decisionLogCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.log.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.depth, float64(st.QueueDepth))
	gauge(c.capacity, float64(st.QueueCapacity))
	counter(c.written, st.Written)
	counter(c.waited, st.Waited)
	counter(c.failed, st.Failed)
	counter(c.dropped, st.Dropped)
	counter(c.commits, st.Commits)
	ok := 0.0
	if c.log.Status().State == decisionlog.StateOK {
		ok = 1
	}
	gauge(c.ok, ok)
}

package check

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// Metrics counts decisions and responses with atomics: the check path
// never locks or allocates for them. A finding of a rule type or source
// not seen before (a plugin's) takes a lock once, to extend a
// copy-on-write table; after that its counter is one atomic add.
type Metrics struct {
	checks   [4]atomic.Uint64 // by Verdict
	invalid  atomic.Uint64
	duration prometheus.Histogram

	findings atomic.Pointer[map[findingKey]*[4]atomic.Uint64] // by action
	mu       sync.Mutex                                       // extends findings

	responses [3][]atomic.Uint64 // [Response][reason code index; last = none]
}

type findingKey struct{ ruleType, source string }

func newMetrics() *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rxguard_check_duration_seconds",
			Help:    "Server-side time of CheckOrders decisions, validation to reply.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3},
		}),
	}
	table := map[findingKey]*[4]atomic.Uint64{}
	for _, t := range engine.RuleTypes() {
		table[findingKey{string(t), "builtin"}] = new([4]atomic.Uint64)
	}
	m.findings.Store(&table)
	for i := range m.responses {
		m.responses[i] = make([]atomic.Uint64, len(validate.ReasonCodes)+1)
	}
	return m
}

func (m *Metrics) observeCheck(resp *rxguardv1.CheckOrdersResponse, elapsed time.Duration) {
	if v := resp.Verdict; v >= 0 && int(v) < len(m.checks) {
		m.checks[v].Add(1)
	}
	for _, f := range resp.Findings {
		if a := f.Action; a >= 0 && int(a) < 4 {
			m.counter(f.RuleType, f.Source)[a].Add(1)
		}
	}
	m.duration.Observe(elapsed.Seconds())
}

func (m *Metrics) counter(ruleType, source string) *[4]atomic.Uint64 {
	if c := (*m.findings.Load())[findingKey{ruleType, source}]; c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.findings.Load()
	if c := old[findingKey{ruleType, source}]; c != nil {
		return c
	}
	// A plugin may invent rule types without bound; past a few hundred
	// series they are counted together rather than grow /metrics.
	key := findingKey{ruleType, source}
	if len(old) >= maxFindingSeries {
		key = findingKey{"OTHER", source}
		if c := old[key]; c != nil {
			return c
		}
	}
	next := make(map[findingKey]*[4]atomic.Uint64, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	c := new([4]atomic.Uint64)
	next[key] = c
	m.findings.Store(&next)
	return c
}

const maxFindingSeries = 512

func (m *Metrics) observeResponse(r *rxguardv1.FindingResponse) {
	resp := r.GetResponse()
	if resp < 0 || int(resp) >= len(m.responses) {
		return
	}
	i := len(validate.ReasonCodes)
	for j, c := range validate.ReasonCodes {
		if c.Code == r.GetReasonCode() {
			i = j
		}
	}
	m.responses[resp][i].Add(1)
}

// Collectors returns the Prometheus collectors of the check metrics.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.duration, metricsCollector{m}}
}

type metricsCollector struct{ m *Metrics }

var (
	checksDesc    = prometheus.NewDesc("rxguard_checks_total", "CheckOrders decisions by verdict.", []string{"verdict"}, nil)
	invalidDesc   = prometheus.NewDesc("rxguard_checks_invalid_total", "CheckOrders requests refused as bad input.", nil, nil)
	findingsDesc  = prometheus.NewDesc("rxguard_findings_total", "Findings in CheckOrders replies.", []string{"rule_type", "action", "source"}, nil)
	responsesDesc = prometheus.NewDesc("rxguard_responses_total", "Physicians' responses recorded (RecordResponse).", []string{"response", "reason_code"}, nil)
)

func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- checksDesc
	ch <- invalidDesc
	ch <- findingsDesc
	ch <- responsesDesc
}

func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	for v := rxguardv1.Verdict_VERDICT_PASS; v <= rxguardv1.Verdict_VERDICT_BLOCK; v++ {
		ch <- prometheus.MustNewConstMetric(checksDesc, prometheus.CounterValue, float64(m.checks[v].Load()), v.String())
	}
	ch <- prometheus.MustNewConstMetric(invalidDesc, prometheus.CounterValue, float64(m.invalid.Load()))
	for k, counts := range *m.findings.Load() {
		for a := rxguardv1.Action_ACTION_INFO; a <= rxguardv1.Action_ACTION_BLOCK; a++ {
			if n := counts[a].Load(); n > 0 || k.source == "builtin" {
				ch <- prometheus.MustNewConstMetric(findingsDesc, prometheus.CounterValue, float64(n), k.ruleType, a.String(), k.source)
			}
		}
	}
	for r := rxguardv1.Response_RESPONSE_CONTINUE; r <= rxguardv1.Response_RESPONSE_MODIFY; r++ {
		for i := range m.responses[r] {
			code := "NONE"
			if i < len(validate.ReasonCodes) {
				code = validate.ReasonCodes[i].Code
			}
			if n := m.responses[r][i].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(responsesDesc, prometheus.CounterValue, float64(n), r.String(), code)
			}
		}
	}
}

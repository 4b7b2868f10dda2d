package cdshooks

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/server/cdshooks/jwtauth"
)

type endpoint int

const (
	epDiscovery endpoint = iota
	epOrderSign
	epOrderSelect
	epFeedback
	epUnknown
	numEndpoints
)

func (e endpoint) String() string {
	return [...]string{"discovery", ServiceOrderSign, ServiceOrderSelect, "feedback", "unknown"}[e]
}

// outcomes label the requests by how they were answered.
var outcomes = [...]string{"ok", "bad_request", "unauthorized", "not_found", "method_not_allowed", "conflict",
	"precondition_failed", "too_large", "unavailable", "error"}

func outcomeOf(status int) int {
	switch status {
	case http.StatusOK:
		return 0
	case http.StatusBadRequest:
		return 1
	case http.StatusUnauthorized:
		return 2
	case http.StatusNotFound:
		return 3
	case http.StatusMethodNotAllowed:
		return 4
	case http.StatusConflict:
		return 5
	case http.StatusPreconditionFailed:
		return 6
	case http.StatusRequestEntityTooLarge:
		return 7
	case http.StatusServiceUnavailable:
		return 8
	}
	return 9
}

// metrics counts with atomics, read at scrape time.
type metrics struct {
	requests [numEndpoints][len(outcomes)]atomic.Uint64
	auth     []atomic.Uint64 // by jwtauth.Reasons
	reqDesc  *prometheus.Desc
	authDesc *prometheus.Desc
}

func newMetrics() *metrics {
	return &metrics{
		auth:     make([]atomic.Uint64, len(jwtauth.Reasons)),
		reqDesc:  prometheus.NewDesc("rxguard_cds_requests_total", "CDS Hooks requests by endpoint (service) and outcome.", []string{"service", "outcome"}, nil),
		authDesc: prometheus.NewDesc("rxguard_cds_auth_failures_total", "CDS Hooks client JWTs refused, by reason.", []string{"reason"}, nil),
	}
}

func (m *metrics) request(ep endpoint, status int) { m.requests[ep][outcomeOf(status)].Add(1) }

func (m *metrics) authFailure(reason string) {
	for i, r := range jwtauth.Reasons {
		if r == reason {
			m.auth[i].Add(1)
			return
		}
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.reqDesc
	ch <- m.authDesc
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for ep := range numEndpoints {
		for o, name := range outcomes {
			if n := m.requests[ep][o].Load(); n > 0 || o == 0 {
				ch <- prometheus.MustNewConstMetric(m.reqDesc, prometheus.CounterValue, float64(n), ep.String(), name)
			}
		}
	}
	for i, r := range jwtauth.Reasons {
		ch <- prometheus.MustNewConstMetric(m.authDesc, prometheus.CounterValue, float64(m.auth[i].Load()), r)
	}
}

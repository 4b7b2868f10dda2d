package server

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

// HistoryStore is what the guard needs of the patient-history store.
type HistoryStore interface {
	Record(ctx context.Context, patientID string, entries []history.Entry) (int, error)
	// Lookup returns the patient's entries with since <= Time <= until
	// (until is the check time), oldest first; when more than its cap are
	// in that window, the newest of them (see history.Store.Lookup).
	Lookup(ctx context.Context, patientID string, since, until time.Time) ([]history.Entry, error)
}

// historyWindow bounds how far back a check looks: the longest course a
// rule counts (one year) with margin, and the store's default retention.
const historyWindow = 400 * 24 * time.Hour

// WithHistory makes the sidecar record signed orders and use them as
// patient history in later checks, and counts on /metrics the lookups that
// hit the history store's per-lookup cap (rxguard_history_lookup_truncated_total).
func (s *Server) WithHistory(h HistoryStore) {
	s.guard.WithHistory(h)
	if t, ok := h.(interface{ Truncations() uint64 }); ok {
		s.metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rxguard_history_lookup_truncated_total",
			Help: "History lookups that found more entries in the rules' window than the per-lookup cap; the newest were used (a patient with an implausible history: check what the HIS records).",
		}, func() float64 { return float64(t.Truncations()) }))
	}
}

// WithHistory makes the guard record signed orders and use them as patient
// history in later checks.
func (g *Guard) WithHistory(h HistoryStore) *Guard {
	g.history = h
	return g
}

// recordedHistory returns the patient's recorded orders that the request
// does not already carry: those at or before check_time (a check is
// reproducible, and entries dated later can never crowd out the window)
// and at most historyWindow before it, de-duplicated against history[], and
// without this order's own lines recorded earlier (re-checking a signed
// order must not make it its own duplicate). Item codes are compared
// canonical (knowledge.CanonicalCode), as they are recorded.
func (g *Guard) recordedHistory(ctx context.Context, req *rxguardv1.CheckOrdersRequest, p validate.Parsed) []engine.HistoryEntry {
	patient := req.GetPatient().GetId()
	if g.history == nil || patient == "" {
		return nil
	}
	recorded, err := g.history.Lookup(ctx, patient, p.CheckTime.Add(-historyWindow), p.CheckTime)
	if err != nil {
		// The check goes on with the request's own history: a history
		// store problem must not stop orders being checked. The error
		// text names the patient, so only its kind is logged.
		g.log.Warn("patient history unavailable; checked with the request's history only", "cause", historyCause(err))
		return nil
	}
	if len(recorded) == 0 {
		return nil
	}
	// De-duplicate against the request's own history[]; a HIS that relies
	// on RecordSigned sends none, and then nothing needs merging.
	if len(req.History) > 0 {
		fromRequest := make([]history.Entry, len(req.History))
		for i, h := range req.History {
			fromRequest[i] = history.Entry{ItemCode: canonical(h.ItemCode), Time: p.HistoryTime[i], EncounterID: h.EncounterId}
		}
		recorded = history.Merge(fromRequest, recorded)[len(fromRequest):]
	}
	encounter := req.GetEncounter().GetId()
	out := make([]engine.HistoryEntry, 0, len(recorded))
	for _, e := range recorded {
		// Entries recorded before codes were canonicalised on the way in
		// are canonicalised here (a no-op, without allocating, for the rest).
		e.ItemCode = canonical(e.ItemCode)
		// The store already stops at check_time; any HistoryStore must.
		if e.Time.After(p.CheckTime) || (e.EncounterID == encounter && e.LineID != "" && sameLine(req, e)) {
			continue
		}
		out = append(out, engine.HistoryEntry{ItemCode: e.ItemCode, Quantity: e.Quantity, Days: e.Days, Time: e.Time, EncounterID: e.EncounterID})
	}
	return out
}

func sameLine(req *rxguardv1.CheckOrdersRequest, e history.Entry) bool {
	for _, o := range req.Orders {
		if o.LineId == e.LineID && canonical(o.ItemCode) == e.ItemCode {
			return true
		}
	}
	return false
}

// canonical is knowledge.CanonicalCode without the changed flag.
func canonical(code string) string {
	c, _ := knowledge.CanonicalCode(code)
	return c
}

// RecordSigned stores the orders a physician finally signed as the
// patient's history.
func (g *Guard) RecordSigned(ctx context.Context, req *rxguardv1.RecordSignedRequest) (*rxguardv1.RecordSignedResponse, error) {
	p, err := validate.RecordSigned(req, g.limits, g.now())
	if err != nil {
		return nil, err
	}
	if g.history == nil {
		return nil, status.Error(codes.FailedPrecondition, "this rxguard runs without a patient-history store")
	}
	entries := make([]history.Entry, len(req.Orders))
	for i, o := range req.Orders {
		// Recorded canonical, so "001103000010000 " signed and
		// "001103000010000" checked are the same item; the request itself
		// is left as sent.
		entries[i] = history.Entry{
			ItemCode: canonical(o.ItemCode), Kind: o.Kind, Quantity: o.Quantity, Days: o.Days, Time: p.LineTimes[i],
			EncounterID: req.EncounterId, LineID: o.LineId, DecisionID: req.DecisionId,
		}
	}
	n, err := g.history.Record(ctx, req.PatientId, entries)
	switch {
	case err == nil:
	case errors.Is(err, history.ErrInvalid):
		return nil, status.Errorf(codes.InvalidArgument, "record signed orders: %v", err)
	case errors.Is(err, diskspace.ErrNoSpace):
		return nil, noSpaceStatus(err)
	case ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	default:
		g.log.Error("recording signed orders failed", "cause", historyCause(err))
		return nil, status.Errorf(codes.Unavailable, "record signed orders: %v", err)
	}
	return &rxguardv1.RecordSignedResponse{Recorded: int32(n)}, nil
}

// historyCause classifies a history-store error for logs without its text,
// which may carry a patient id.
func historyCause(err error) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "request cancelled"
	case errors.Is(err, history.ErrClosed):
		return "store closed"
	case errors.Is(err, history.ErrCorrupt):
		return "corrupt entry in the history store"
	case errors.Is(err, history.ErrInvalid):
		return "invalid entry"
	}
	return "storage error"
}

package check

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

// HistoryWindow bounds how far back a check looks: the longest course a
// rule counts (one year) with margin, and the store's default retention.
const HistoryWindow = 400 * 24 * time.Hour

// recordedHistory returns the patient's recorded orders that the request
// does not already carry: only entries at or before check_time (a check is
// reproducible, and entries dated later can never crowd out the window)
// and at most HistoryWindow before it, de-duplicated against history[], and
// without this order's own lines recorded earlier (re-checking a signed
// order must not make it its own duplicate). Item codes are compared
// canonical (knowledge.CanonicalCode), as they are recorded. Only entries
// a rule could read for this order are returned (engine.HistoryNeeds),
// with the needs the engine must judge them with (nil: nothing filtered).
func (s *Service) recordedHistory(ctx context.Context, req *rxguardv1.CheckOrdersRequest, p validate.Parsed) (engine.RecordedHistory, *engine.HistoryNeeds) {
	patient := req.GetPatient().GetId()
	if s.history == nil || patient == "" {
		return nil, nil
	}
	var (
		view history.View
		err  error
	)
	if vs, ok := s.history.(viewStore); ok {
		view, err = vs.LookupView(ctx, patient, p.CheckTime.Add(-HistoryWindow), p.CheckTime)
	} else {
		var entries []history.Entry
		entries, err = s.history.Lookup(ctx, patient, p.CheckTime.Add(-HistoryWindow), p.CheckTime)
		view = history.ViewOf(entries)
	}
	if err != nil {
		// The check goes on with the request's own history: a history
		// store problem must not stop orders being checked. The error
		// text names the patient, so only its kind is logged.
		s.logger.Warn("patient history unavailable; checked with the request's history only", "cause", historyCause(err))
		return nil, nil
	}
	if view.Len() == 0 {
		return nil, nil
	}
	// Computed only now: a check without recorded history pays nothing.
	// The needs pin the index the engine then judges with.
	needs := s.engine.HistoryNeeds(req)
	if needs == nil {
		return nil, nil // no release: the check answers Unavailable
	}
	// Only the entries a rule could read for this order go on (a
	// long-stay patient has thousands on other items), chosen per
	// distinct item code (View.Filter). Filtering each entry on its own
	// commutes with the de-duplication below, which judges each recorded
	// entry on its own too. Entries recorded before codes were
	// canonicalised on the way in are judged, and kept, canonical.
	// Chosen by position: the entries stay where the view holds them
	// (the cache's own, read-only) and the engine reads them through
	// recorded, so nothing is copied before the engine's own events.
	// odd: some code was recorded before codes were canonicalised on the
	// way in. Seen only here (keep sees every code pos can hold), so the
	// usual history of canonical codes is not canonicalised again entry
	// by entry below and in the engine.
	entries := view.Entries()
	odd := false
	pos := view.Positions(func(code string) bool {
		c, changed := knowledge.CanonicalCode(code)
		odd = odd || changed
		return needs.Keep(c)
	}, nil)
	codeOf := canonical
	if !odd {
		codeOf = nil
	}
	encounter := req.GetEncounter().GetId()
	n := 0
	for _, at := range pos {
		e := &entries[at]
		// The store already stops at check_time; any HistoryStore must.
		if e.Time.After(p.CheckTime) || (e.EncounterID == encounter && e.LineID != "" && sameLine(req, canonicalIf(odd, e.ItemCode), e.LineID)) {
			continue
		}
		pos[n] = at
		n++
	}
	pos = pos[:n]
	if len(pos) == 0 {
		return nil, needs
	}
	// De-duplicate against the request's own history[]; a HIS that relies
	// on RecordSigned sends none, and then nothing needs merging.
	if len(req.History) > 0 {
		// On the stack for a usual request's history[].
		var buf [32]history.Entry
		fromRequest := buf[:0]
		if len(req.History) > len(buf) {
			fromRequest = make([]history.Entry, 0, len(req.History))
		}
		for i, h := range req.History {
			fromRequest = append(fromRequest, history.Entry{ItemCode: canonical(h.ItemCode), Time: p.HistoryTime[i], EncounterID: h.EncounterId})
		}
		pos = history.NotInRequestAt(fromRequest, entries, pos, codeOf)
		if len(pos) == 0 {
			return nil, needs
		}
	}
	return &recorded{entries: entries, pos: pos, odd: odd}, needs
}

// recorded is the entries at positions pos of a view's entries, as the
// engine reads them (engine.RecordedHistory); entries is read-only. odd:
// some codes are not canonical.
type recorded struct {
	entries []history.Entry
	pos     []int32
	odd     bool
}

func (r *recorded) Len() int { return len(r.pos) }

// At converts one entry on the stack; codes recorded before they were
// canonicalised on the way in are judged canonical.
func (r *recorded) At(i int) engine.HistoryEntry {
	e := &r.entries[r.pos[i]]
	return engine.HistoryEntry{ItemCode: canonicalIf(r.odd, e.ItemCode), Quantity: e.Quantity, Days: e.Days, Time: e.Time,
		EncounterID: e.EncounterID, HospitalCode: e.HospitalCode, ReportID: e.ReportID}
}

// EventAt is At's code, time, quantity, days and encounter, the fields
// the engine reads of every entry (engine.RecordedHistory).
func (r *recorded) EventAt(i int) (code string, t time.Time, quantity float64, days int32, encounterID string) {
	e := &r.entries[r.pos[i]]
	return canonicalIf(r.odd, e.ItemCode), e.Time, e.Quantity, e.Days, e.EncounterID
}

// canonicalIf is canonical(code) if odd, else code (already canonical).
func canonicalIf(odd bool, code string) string {
	if odd {
		return canonical(code)
	}
	return code
}

func sameLine(req *rxguardv1.CheckOrdersRequest, code, lineID string) bool {
	for _, o := range req.Orders {
		if o.LineId == lineID && canonical(o.ItemCode) == code {
			return true
		}
	}
	return false
}

// viewStore is a HistoryStore whose lookups can be filtered per distinct
// item code (history.Store).
type viewStore interface {
	LookupView(ctx context.Context, patientID string, since, until time.Time) (history.View, error)
}

// canonical is knowledge.CanonicalCode without the changed flag.
func canonical(code string) string {
	c, _ := knowledge.CanonicalCode(code)
	return c
}

// RecordSigned stores the orders a physician finally signed as the
// patient's history, and links them to their decision when it names one.
func (s *Service) RecordSigned(ctx context.Context, req *rxguardv1.RecordSignedRequest) (*rxguardv1.RecordSignedResponse, error) {
	p, err := validate.RecordSigned(req, s.limits, s.now())
	if err != nil {
		return nil, err
	}
	if s.history == nil {
		return nil, errorf(FailedPrecondition, nil, "this rxguard runs without a patient-history store")
	}
	hospital := canonical(req.HospitalCode)
	entries := make([]history.Entry, len(req.Orders))
	for i, o := range req.Orders {
		// Recorded canonical, so "001103000010000 " signed and
		// "001103000010000" checked are the same item; the request itself
		// is left as sent.
		entries[i] = history.Entry{
			ItemCode: canonical(o.ItemCode), Kind: o.Kind, Quantity: o.Quantity, Days: o.Days, Time: p.LineTimes[i],
			EncounterID: req.EncounterId, LineID: o.LineId, DecisionID: req.DecisionId,
			HospitalCode: hospital, ReportID: validate.SharedReportID(o.ReportId),
		}
	}
	n, err := s.record(ctx, "RecordSignedRequest", "signed orders", req.PatientId, entries)
	if err != nil {
		return nil, err
	}
	if s.log != nil && req.DecisionId != "" {
		ids := make([]string, len(req.Orders))
		for i, o := range req.Orders {
			ids[i] = o.LineId
		}
		// The lines are the patient's history whether or not the link
		// is stored; a decision id the log does not know (another
		// sidecar's, or expired) is not an error of the signing.
		if err := s.log.LinkSigned(ctx, req.DecisionId, ids); err != nil && !errors.Is(err, decisionlog.ErrDecisionNotFound) {
			s.logger.Warn("signed lines not linked to their decision", "decision_id", req.DecisionId, "err", err)
		}
	}
	return &rxguardv1.RecordSignedResponse{Recorded: int32(n)}, nil
}

// SharedLinePrefix starts the line id of a result recorded from the
// regional sharing platform: with the item code and time in the entry's
// identity, "shared/" + report id makes a result recorded again (the same
// export imported twice, a retried call) the same entry, never a second
// one, and keeps it apart from any HIS line id.
const SharedLinePrefix = "shared/"

// RecordSharedResults stores examinations and tests done elsewhere, as the
// regional sharing platform exports them (检查检验结果互认), as the
// patient's history: one ITEM_SERVICE entry of quantity 1 per result, with
// its hospital and report id, and no encounter (it belongs to none of this
// hospital's). REPEAT_EXAM then sees them like signed orders.
func (s *Service) RecordSharedResults(ctx context.Context, req *rxguardv1.RecordSharedResultsRequest) (*rxguardv1.RecordSharedResultsResponse, error) {
	p, err := validate.RecordSharedResults(req, s.limits, s.now())
	if err != nil {
		return nil, err
	}
	if s.history == nil {
		return nil, errorf(FailedPrecondition, nil, "this rxguard runs without a patient-history store")
	}
	entries := make([]history.Entry, len(req.Results))
	for i, r := range req.Results {
		report := validate.SharedReportID(r.ReportId)
		entries[i] = history.Entry{
			ItemCode: canonical(r.ItemCode), Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, Time: p.Times[i],
			LineID: SharedLinePrefix + report, HospitalCode: canonical(r.HospitalCode), ReportID: report,
		}
	}
	n, err := s.record(ctx, "RecordSharedResultsRequest", "shared results", req.PatientId, entries)
	if err != nil {
		return nil, err
	}
	return &rxguardv1.RecordSharedResultsResponse{Recorded: int32(n)}, nil
}

// record writes validated entries to the history store and maps its errors
// alike for every RPC that records (what names the request, items what its
// entries are, for messages).
func (s *Service) record(ctx context.Context, what, items, patient string, entries []history.Entry) (int, error) {
	n, err := s.history.Record(ctx, patient, entries)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, history.ErrInvalid):
		return 0, &validate.Error{What: what, Violations: []*errdetails.BadRequest_FieldViolation{
			{Field: "request", Description: "无法记录 (cannot be recorded): " + err.Error()}}}
	case errors.Is(err, diskspace.ErrNoSpace):
		msg := diskspace.ErrNoSpace.Error()
		var ns *diskspace.NoSpaceError
		if errors.As(err, &ns) {
			msg = ns.Error()
		}
		return 0, errorf(ResourceExhausted, err, "%s; recorded nothing: record these %s again once there is room", msg, items)
	case ctx.Err() != nil:
		return 0, ctx.Err()
	default:
		s.logger.Error("recording patient history failed", "request", what, "cause", historyCause(err))
		return 0, errorf(Unavailable, err, "record %s: %s; retry", items, historyCause(err))
	}
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

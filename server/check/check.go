// Package check is the one decision path behind every door of the sidecar:
// validate → snapshot of the active release → physician status → built-in
// rules ∥ plugins → merge → decision id → decision log → metrics. The gRPC
// GuardService, and the national 3101/3102 JSON and CDS Hooks adapters that
// follow it, only translate shapes and errors, so every surface decides and
// records alike.
//
// Errors are typed: *validate.Error for bad input, *Error with a Kind for
// the rest; each adapter maps them to its transport.
package check

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

// HistoryStore is what the service needs of the patient-history store.
type HistoryStore interface {
	Record(ctx context.Context, patientID string, entries []history.Entry) (int, error)
	// Lookup returns the patient's entries with since <= Time <= until.
	// The service only reads the result: it may be shared (history.Store
	// serves hits from its cache without copying).
	Lookup(ctx context.Context, patientID string, since, until time.Time) ([]history.Entry, error)
}

// PluginRunner evaluates a check with the hospital's local-policy plugins.
// It applies each plugin's deadline and failure policy itself and never
// fails: a plugin that cannot answer contributes its failure finding.
type PluginRunner interface {
	Evaluate(ctx context.Context, req *pluginv1.EvaluateRequest) []*rxguardv1.Finding
}

// DecisionLog is what the service needs of the decision record
// (decisionlog.Log).
type DecisionLog interface {
	Append(ctx context.Context, e decisionlog.Entry)
	RecordResponses(ctx context.Context, decisionID string, rs []*rxguardv1.FindingResponse, respondedTime time.Time) (int, error)
	LinkSigned(ctx context.Context, decisionID string, lineIDs []string) error
	Get(ctx context.Context, id string) (*rxguardv1.Decision, error)
	Query(ctx context.Context, q decisionlog.Query) ([]*rxguardv1.Decision, string, error)
	PhysicianReport(ctx context.Context, physicianCode string, from, to time.Time) (*rxguardv1.GetPhysicianReportResponse, error)
	DepartmentReport(ctx context.Context, dept string, from, to time.Time) (*rxguardv1.GetDepartmentReportResponse, error)
	// Flush returns once every decision appended before it is committed.
	Flush(ctx context.Context) error
}

// Options are the service's parts; only Engine is required.
type Options struct {
	Engine  *engine.Engine
	Limits  validate.Limits
	History HistoryStore // nil: request history only; RecordSigned unavailable
	Plugins PluginRunner // nil: built-in rules only
	Log     DecisionLog  // nil: decisions are not recorded
	// Stale reports whether the active release is stale (bureau sync);
	// nil: no sync configured.
	Stale  func() bool
	Now    func() time.Time
	Logger *slog.Logger
}

// Service decides. Its methods are safe for concurrent use.
type Service struct {
	engine  *engine.Engine
	limits  validate.Limits
	history HistoryStore
	plugins PluginRunner
	log     DecisionLog
	stale   func() bool
	now     func() time.Time
	logger  *slog.Logger
	metrics *Metrics
}

// New builds the service from its parts.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{
		engine: o.Engine, limits: o.Limits, history: o.History, plugins: o.Plugins, log: o.Log,
		stale: o.Stale, now: o.Now, logger: o.Logger, metrics: newMetrics(),
	}
}

// Metrics returns the service's counters (read at scrape time).
func (s *Service) Metrics() *Metrics { return s.metrics }

// Kind classifies the service's errors for the adapters.
type Kind int

const (
	// Unavailable: retry later (no active release yet, a store down).
	Unavailable Kind = iota + 1
	// NotFound: the decision or finding named does not exist.
	NotFound
	// FailedPrecondition: the request is well-formed but not allowed in
	// this state (continuing a BLOCK; no history store configured).
	FailedPrecondition
	// ResourceExhausted: the disk is nearly full; nothing was written.
	ResourceExhausted
)

// Error is a service error other than bad input (*validate.Error).
type Error struct {
	Kind Kind
	Msg  string // for the caller; names no patient
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func errorf(k Kind, err error, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Err: err}
}

var errNoRelease = &Error{Kind: Unavailable, Msg: "rxguard has no active knowledge release yet; retry shortly"}

// Check decides one CheckOrders request and records the decision.
func (s *Service) Check(ctx context.Context, req *rxguardv1.CheckOrdersRequest) (*rxguardv1.CheckOrdersResponse, error) {
	resp, _, err := s.check(ctx, req, nil)
	return resp, err
}

// CheckWire is Check for a door that has the request's protobuf encoding
// as it was received (reqWire): it also returns the response's encoding,
// which the door sends as it is, and the decision record keeps both
// encodings instead of encoding the messages again (decisionlog.Entry).
func (s *Service) CheckWire(ctx context.Context, req *rxguardv1.CheckOrdersRequest, reqWire []byte) (*rxguardv1.CheckOrdersResponse, []byte, error) {
	return s.check(ctx, req, reqWire)
}

// Records reports whether decisions are recorded (a door without a record
// need not keep the requests' encodings for CheckWire).
func (s *Service) Records() bool { return s.log != nil }

func (s *Service) check(ctx context.Context, req *rxguardv1.CheckOrdersRequest, reqWire []byte) (*rxguardv1.CheckOrdersResponse, []byte, error) {
	start := time.Now()
	now := s.now()
	parsed, err := validate.CheckOrders(req, s.limits, now)
	if err != nil {
		s.metrics.invalid.Add(1)
		return nil, nil, err
	}
	// From here on the rules and plugins judge the request with its codes
	// in canonical form; the caller's request stays as received and is
	// what the decision record keeps.
	received, judged := req, parsed.Req
	var fromPlugins <-chan []*rxguardv1.Finding
	if s.plugins != nil {
		// Plugins start before the built-in rules, so they need the
		// physician's status first; the rules fold it again from the same
		// events.
		status := &rxguardv1.PhysicianStatus{State: rxguardv1.QualificationState_QUALIFICATION_UNKNOWN}
		if s.engine.Index() != nil {
			status = s.engine.Physicians().Status(judged.GetPhysician().GetCode(), parsed.CheckTime).Proto()
		}
		fromPlugins = s.startPlugins(ctx, judged, status)
	}
	recorded, needs := s.recordedHistory(ctx, judged, parsed)
	res := s.engine.Check(&engine.Input{
		Req:          judged,
		CheckTime:    parsed.CheckTime,
		BirthDate:    parsed.BirthDate,
		OrderTimes:   parsed.OrderStart,
		HistoryTimes: parsed.HistoryTime,
		Recorded:     recorded,
		Needs:        needs,
		Normalised:   normalisedCodes(parsed.Normalised),
	})
	if res == nil {
		return nil, nil, errNoRelease
	}
	if fromPlugins != nil {
		engine.Merge(judged, res, <-fromPlugins)
	}
	id := decisionlog.NewID(now)
	setFindingIDs(id, res.Findings)
	resp := &rxguardv1.CheckOrdersResponse{
		RequestId:        received.RequestId,
		DecisionId:       id,
		Verdict:          res.Verdict,
		Findings:         res.Findings,
		PhysicianStatus:  res.Physician.Proto(),
		KnowledgeVersion: res.Version,
		KnowledgeStale:   s.stale != nil && s.stale(),
	}
	elapsed := time.Since(start)
	resp.EvalMicros = elapsed.Microseconds()
	var respWire []byte
	if reqWire != nil {
		// A response that cannot be encoded (never yet) is returned as a
		// message: the door's codec then fails it as it would have.
		respWire, _ = proto.Marshal(resp)
	}
	if s.log != nil {
		// Queued: the writer encodes and commits off the latency path
		// (in sync durability the call returns after the commit). Nothing
		// may change resp, received or the encodings after this point.
		e := decisionlog.Entry{ID: id, Time: now, Request: received, Response: resp}
		if reqWire != nil && respWire != nil {
			e.RequestWire, e.ResponseWire = reqWire, respWire
		}
		s.log.Append(ctx, e)
	}
	s.metrics.observeCheck(resp, elapsed)
	return resp, respWire, nil
}

// startPlugins runs the plugins on their own goroutine; the result channel
// delivers exactly once.
func (s *Service) startPlugins(ctx context.Context, req *rxguardv1.CheckOrdersRequest, status *rxguardv1.PhysicianStatus) <-chan []*rxguardv1.Finding {
	version := ""
	if idx := s.engine.Index(); idx != nil {
		version = idx.Version()
	}
	out := make(chan []*rxguardv1.Finding, 1)
	go func() {
		out <- s.plugins.Evaluate(ctx, &pluginv1.EvaluateRequest{Request: req, PhysicianStatus: status, KnowledgeVersion: version})
	}()
	return out
}

// normalisedCodes hands validation's list of normalised code fields to the
// engine (nil, the common case, costs nothing).
func normalisedCodes(ns []validate.Normalisation) []engine.NormalisedCode {
	if len(ns) == 0 {
		return nil
	}
	out := make([]engine.NormalisedCode, len(ns))
	for i, n := range ns {
		out[i] = engine.NormalisedCode{Field: n.Field, Line: n.Line, From: n.From, To: n.To}
	}
	return out
}

// Explain returns what the active release knows about one code.
func (s *Service) Explain(_ context.Context, req *rxguardv1.ExplainItemRequest) (*rxguardv1.ExplainItemResponse, error) {
	if err := validate.ExplainItem(req); err != nil {
		return nil, err
	}
	resp := s.engine.Explain(req.ItemCode, req.ItemName)
	if resp == nil {
		return nil, errNoRelease
	}
	return resp, nil
}

// PhysicianStatus returns a physician's qualification at a time (now by
// default) from the active release's registry and status events and the
// bureau's event feed.
func (s *Service) PhysicianStatus(_ context.Context, req *rxguardv1.GetPhysicianStatusRequest) (*rxguardv1.GetPhysicianStatusResponse, error) {
	at, err := validate.GetPhysicianStatus(req, s.now())
	if err != nil {
		return nil, err
	}
	idx := s.engine.Index()
	if idx == nil {
		return nil, errNoRelease
	}
	phys := s.engine.Physicians()
	code, _ := knowledge.CanonicalCode(req.PhysicianCode)
	st := phys.Status(code, at)
	return &rxguardv1.GetPhysicianStatusResponse{
		PhysicianCode:    code,
		Name:             phys.Name(code),
		Registered:       st.Known,
		Status:           st.Proto(),
		KnowledgeVersion: idx.Version(),
	}, nil
}

// RecordResponse records the physician's answers to findings of one
// decision; they are durable when it returns.
func (s *Service) RecordResponse(ctx context.Context, req *rxguardv1.RecordResponseRequest) (*rxguardv1.RecordResponseResponse, error) {
	at, err := validate.RecordResponse(req, s.limits, s.now())
	if err != nil {
		return nil, err
	}
	if s.log == nil {
		return nil, errorf(FailedPrecondition, nil, "this rxguard runs without a decision log (decision_log.disabled is true)")
	}
	n, err := s.log.RecordResponses(ctx, req.DecisionId, req.Responses, at)
	if err != nil {
		return nil, s.logError("record responses", err)
	}
	for _, r := range req.Responses {
		s.metrics.observeResponse(r)
	}
	return &rxguardv1.RecordResponseResponse{DecisionId: req.DecisionId, Recorded: int32(n)}, nil
}

// logError maps a decision-log error to the service's kinds.
func (s *Service) logError(what string, err error) error {
	var fnf *decisionlog.FindingNotFoundError
	var no *decisionlog.NotOverridableError
	switch {
	case errors.Is(err, decisionlog.ErrDecisionNotFound):
		return errorf(NotFound, err, "%s: %v", what, err)
	case errors.As(err, &fnf):
		return errorf(NotFound, err, "%s: %v", what, err)
	case errors.As(err, &no):
		return errorf(FailedPrecondition, err, "%s: %v", what, err)
	case errors.Is(err, decisionlog.ErrBadPageToken):
		return &validate.Error{What: "QueryDecisionsRequest", Violations: []*errdetails.BadRequest_FieldViolation{{Field: "page_token", Description: "无效的分页标记 (page_token was not issued for these filters)"}}}
	case errors.Is(err, diskspace.ErrNoSpace):
		return errorf(ResourceExhausted, err, "%s: %v; nothing was recorded: send it again once there is room", what, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	s.logger.Error("decision log failed", "op", what, "err", err)
	return errorf(Unavailable, err, "%s: %v", what, err)
}

// Limits returns the request limits the service validates with, so an
// adapter that must validate several requests before deciding any (the
// national 3101 with several patients) applies the same ones.
func (s *Service) Limits() validate.Limits { return s.limits }

// setFindingIDs numbers findings "<decision id>-1", "-2", … (contract). The
// ids are substrings of one string built for them all: one allocation a
// check instead of one per finding.
func setFindingIDs(decision string, fs []*rxguardv1.Finding) {
	if len(fs) == 0 {
		return
	}
	var b strings.Builder
	var num [20]byte
	b.Grow(len(fs) * (len(decision) + 1 + len(strconv.AppendInt(num[:0], int64(len(fs)), 10))))
	for i, f := range fs {
		start := b.Len()
		b.WriteString(decision)
		b.WriteByte('-')
		b.Write(strconv.AppendInt(num[:0], int64(i+1), 10))
		f.FindingId = b.String()[start:]
	}
}

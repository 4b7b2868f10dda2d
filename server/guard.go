// Package server is the rxguard sidecar: the gRPC GuardService, health and
// reflection, the HTTP endpoints, and the wiring of validation, knowledge
// and the rule engine.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// Guard implements rxguard.v1.GuardService.
type Guard struct {
	rxguardv1.UnimplementedGuardServiceServer
	engine  *engine.Engine
	limits  validate.Limits
	now     func() time.Time
	log     *slog.Logger
	history HistoryStore // nil: request history only
	plugins PluginRunner // nil: built-in rules only
	stale   func() bool  // nil: no bureau sync configured

	// Decision ids are a per-process random prefix and a counter: unique
	// across restarts without a clock or coordination on the hot path.
	idPrefix string
	seq      atomic.Uint64
}

// NewGuard returns the service over an engine.
func NewGuard(eng *engine.Engine, limits validate.Limits, log *slog.Logger) *Guard {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Guard{engine: eng, limits: limits, now: time.Now, log: log, idPrefix: hex.EncodeToString(b[:]) + "-"}
}

func (g *Guard) nextDecisionID() string {
	return g.idPrefix + strconv.FormatUint(g.seq.Add(1), 10)
}

// CheckOrders validates the request, evaluates it on one snapshot of the
// active release and answers with the verdict and ranked findings.
func (g *Guard) CheckOrders(ctx context.Context, req *rxguardv1.CheckOrdersRequest) (*rxguardv1.CheckOrdersResponse, error) {
	start := time.Now()
	parsed, err := validate.CheckOrders(req, g.limits, g.now())
	if err != nil {
		return nil, err
	}
	// From here on the rules and plugins judge the request with its codes
	// in canonical form; the caller's request stays as received.
	received := req
	req = parsed.Req
	var fromPlugins <-chan []*rxguardv1.Finding
	if g.plugins != nil {
		// Plugins start before the built-in rules, so they need the
		// physician's status first; the rules fold it again from the same
		// events.
		status := &rxguardv1.PhysicianStatus{State: rxguardv1.QualificationState_QUALIFICATION_UNKNOWN}
		if g.engine.Index() != nil {
			status = g.engine.Physicians().Status(req.GetPhysician().GetCode(), parsed.CheckTime).Proto()
		}
		fromPlugins = g.startPlugins(ctx, req, status)
	}
	res := g.engine.Check(&engine.Input{
		Req:          req,
		CheckTime:    parsed.CheckTime,
		BirthDate:    parsed.BirthDate,
		OrderTimes:   parsed.OrderStart,
		HistoryTimes: parsed.HistoryTime,
		Recorded:     g.recordedHistory(ctx, req, parsed),
		Normalised:   normalisedCodes(parsed.Normalised),
	})
	if res == nil {
		return nil, grpcstatus.Error(codes.Unavailable, "rxguard has no active knowledge release yet; retry shortly")
	}
	if fromPlugins != nil {
		engine.Merge(req, res, <-fromPlugins)
	}
	id := g.nextDecisionID()
	for i, f := range res.Findings {
		f.FindingId = id + "-" + strconv.Itoa(i+1)
	}
	return &rxguardv1.CheckOrdersResponse{
		RequestId:        received.RequestId,
		DecisionId:       id,
		Verdict:          res.Verdict,
		Findings:         res.Findings,
		PhysicianStatus:  res.Physician.Proto(),
		KnowledgeVersion: res.Version,
		KnowledgeStale:   g.stale != nil && g.stale(),
		EvalMicros:       time.Since(start).Microseconds(),
	}, nil
}

// ExplainItem returns what the active release knows about one code.
func (g *Guard) ExplainItem(ctx context.Context, req *rxguardv1.ExplainItemRequest) (*rxguardv1.ExplainItemResponse, error) {
	if err := validate.ExplainItem(req); err != nil {
		return nil, err
	}
	resp := g.engine.Explain(req.ItemCode, req.ItemName)
	if resp == nil {
		return nil, grpcstatus.Error(codes.Unavailable, "rxguard has no active knowledge release yet; retry shortly")
	}
	return resp, nil
}

// GetPhysicianStatus returns a physician's qualification at a time (now by
// default) from the active release's registry and status events and the
// bureau's event feed.
func (g *Guard) GetPhysicianStatus(ctx context.Context, req *rxguardv1.GetPhysicianStatusRequest) (*rxguardv1.GetPhysicianStatusResponse, error) {
	at, err := validate.GetPhysicianStatus(req, g.now())
	if err != nil {
		return nil, err
	}
	idx := g.engine.Index()
	if idx == nil {
		return nil, grpcstatus.Error(codes.Unavailable, "rxguard has no active knowledge release yet; retry shortly")
	}
	phys := g.engine.Physicians()
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

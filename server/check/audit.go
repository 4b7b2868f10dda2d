package check

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// The decision record's read side (事后监管): AuditService, and the
// physician's own report on GuardService.

// needLog is the read side's barrier: a reader sees every decision
// answered before its call (in async durability the last ones may still be
// queued), the way a HIS that checks and then asks expects.
func (s *Service) needLog(ctx context.Context) error {
	if s.log == nil {
		return errorf(FailedPrecondition, nil, "this rxguard runs without a decision log (decision_log.disabled is true)")
	}
	// Failures of earlier writes are counted and reported by the log's
	// status; they do not fail this read.
	if err := s.log.Flush(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// GetDecision returns one decision with its responses.
func (s *Service) GetDecision(ctx context.Context, req *rxguardv1.GetDecisionRequest) (*rxguardv1.GetDecisionResponse, error) {
	var r fieldErrors
	r.required("decision_id", "决策ID", req.GetDecisionId())
	if err := r.err("GetDecisionRequest"); err != nil {
		return nil, err
	}
	if err := s.needLog(ctx); err != nil {
		return nil, err
	}
	d, err := s.log.Get(ctx, req.DecisionId)
	if err != nil {
		return nil, s.logError("get decision", err)
	}
	return &rxguardv1.GetDecisionResponse{Decision: d}, nil
}

// QueryDecisions lists decisions, newest first.
func (s *Service) QueryDecisions(ctx context.Context, req *rxguardv1.QueryDecisionsRequest) (*rxguardv1.QueryDecisionsResponse, error) {
	var r fieldErrors
	from, to := r.rangeOf(req.GetFrom(), req.GetTo(), time.Time{}, time.Time{})
	if n := req.GetPageSize(); n < 0 || n > decisionlog.MaxPageSize {
		r.add("page_size", "每页条数须在1到1000之间 (page_size must be 1–1000, 0 for the default 100)")
	}
	if v := req.GetVerdict(); v < 0 || v > rxguardv1.Verdict_VERDICT_BLOCK {
		r.add("verdict", "结论值无效 (verdict must be VERDICT_PASS, VERDICT_WARN, VERDICT_BLOCK or unspecified)")
	}
	r.maxLen("physician_code", req.GetPhysicianCode())
	r.maxLen("department_code", req.GetDepartmentCode())
	r.maxLen("patient_id", req.GetPatientId())
	r.maxLen("rule_type", req.GetRuleType())
	r.maxLen("page_token", req.GetPageToken())
	if err := r.err("QueryDecisionsRequest"); err != nil {
		return nil, err
	}
	if err := s.needLog(ctx); err != nil {
		return nil, err
	}
	decs, next, err := s.log.Query(ctx, decisionlog.Query{
		From: from, To: to,
		PhysicianCode:  canonical(req.GetPhysicianCode()),
		DepartmentCode: canonical(req.GetDepartmentCode()),
		PatientID:      req.GetPatientId(),
		Verdict:        req.GetVerdict(),
		RuleType:       req.GetRuleType(),
		UnansweredOnly: req.GetUnansweredOnly(),
		PageSize:       int(req.GetPageSize()),
		PageToken:      req.GetPageToken(),
	})
	if err != nil {
		return nil, s.logError("query decisions", err)
	}
	return &rxguardv1.QueryDecisionsResponse{Decisions: decs, NextPageToken: next}, nil
}

// PhysicianReport summarises one physician over a period (default: the
// current calendar month), with the qualification status at its end.
func (s *Service) PhysicianReport(ctx context.Context, req *rxguardv1.GetPhysicianReportRequest) (*rxguardv1.GetPhysicianReportResponse, error) {
	var r fieldErrors
	r.required("physician_code", "医师编码", req.GetPhysicianCode())
	from, to := s.defaultMonth(&r, req.GetFrom(), req.GetTo())
	if err := r.err("GetPhysicianReportRequest"); err != nil {
		return nil, err
	}
	if err := s.needLog(ctx); err != nil {
		return nil, err
	}
	code := canonical(req.PhysicianCode)
	rep, err := s.log.PhysicianReport(ctx, code, from, to)
	if err != nil {
		return nil, s.logError("physician report", err)
	}
	if s.engine.Index() != nil {
		phys := s.engine.Physicians()
		at := to.Add(-time.Nanosecond)
		if now := s.now(); now.Before(at) {
			at = now
		}
		rep.Status = phys.Status(code, at).Proto()
		if name := phys.Name(code); name != "" {
			rep.Name = name
		}
	}
	return rep, nil
}

// DepartmentReport summarises one department over a period.
func (s *Service) DepartmentReport(ctx context.Context, req *rxguardv1.GetDepartmentReportRequest) (*rxguardv1.GetDepartmentReportResponse, error) {
	var r fieldErrors
	r.required("department_code", "科室编码", req.GetDepartmentCode())
	from, to := s.defaultMonth(&r, req.GetFrom(), req.GetTo())
	if err := r.err("GetDepartmentReportRequest"); err != nil {
		return nil, err
	}
	if err := s.needLog(ctx); err != nil {
		return nil, err
	}
	rep, err := s.log.DepartmentReport(ctx, canonical(req.DepartmentCode), from, to)
	if err != nil {
		return nil, s.logError("department report", err)
	}
	return rep, nil
}

// defaultMonth parses [from, to), defaulting to the current calendar month
// in Asia/Shanghai.
func (s *Service) defaultMonth(r *fieldErrors, from, to string) (time.Time, time.Time) {
	now := s.now().In(engine.Shanghai)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	return r.rangeOf(from, to, first, first.AddDate(0, 1, 0))
}

// fieldErrors collects violations of the small audit requests.
type fieldErrors struct {
	vs []*errdetails.BadRequest_FieldViolation
}

func (r *fieldErrors) add(field, desc string) {
	r.vs = append(r.vs, &errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
}

func (r *fieldErrors) required(field, zh, v string) {
	if _, changed := knowledge.CanonicalCode(v); v == "" || (changed && canonical(v) == "") {
		r.add(field, zh+"必填 ("+field+" is required)")
		return
	}
	r.maxLen(field, v)
}

func (r *fieldErrors) maxLen(field, v string) {
	if len(v) > validate.DefaultLimits().MaxStringLen {
		r.add(field, "过长 ("+field+" too long)")
	}
}

// rangeOf parses an RFC 3339 range, each end defaulting to def.
func (r *fieldErrors) rangeOf(from, to string, defFrom, defTo time.Time) (time.Time, time.Time) {
	parse := func(field, s string, def time.Time) time.Time {
		if s == "" {
			return def
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			r.add(field, "应为带时区的RFC 3339时间 ("+field+" must be RFC 3339 with offset, e.g. 2026-11-01T00:00:00+08:00)")
			return def
		}
		return t
	}
	f, t := parse("from", from, defFrom), parse("to", to, defTo)
	if !f.IsZero() && !t.IsZero() && !f.Before(t) {
		r.add("to", "结束时间须晚于开始时间 (to must be after from)")
	}
	return f, t
}

func (r *fieldErrors) err(what string) error {
	if len(r.vs) == 0 {
		return nil
	}
	return &validate.Error{What: what, Violations: r.vs}
}

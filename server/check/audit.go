package check

import (
	"context"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/decisionlog"
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
	if err := validate.GetDecision(req); err != nil {
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
	from, to, err := validate.QueryDecisions(req)
	if err != nil {
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
	from, to, err := validate.Report("GetPhysicianReportRequest", "physician_code", "医师编码", req.GetPhysicianCode(), req.GetFrom(), req.GetTo(), s.now())
	if err != nil {
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
	from, to, err := validate.Report("GetDepartmentReportRequest", "department_code", "科室编码", req.GetDepartmentCode(), req.GetFrom(), req.GetTo(), s.now())
	if err != nil {
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

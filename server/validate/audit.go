package validate

import (
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

var verdicts = enumTypeOf[rxguardv1.Verdict]()

// MaxPageSize bounds QueryDecisions.page_size (0 means the log's default).
const MaxPageSize = 1000

// GetDecision validates a GetDecision request: decision_id is required.
func GetDecision(req *rxguardv1.GetDecisionRequest) error {
	var r report
	r.text(path{}, "decision_id", "决策ID", req.GetDecisionId(), true, DefaultLimits().MaxStringLen)
	if r.failed() {
		return r.err("GetDecisionRequest")
	}
	return nil
}

// QueryDecisions validates a QueryDecisions request and returns its time
// range (zero ends: unbounded).
func QueryDecisions(req *rxguardv1.QueryDecisionsRequest) (from, to time.Time, err error) {
	var r report
	top, lim := path{}, DefaultLimits()
	from, to = r.timeRange(req.GetFrom(), req.GetTo(), time.Time{}, time.Time{})
	if n := req.GetPageSize(); n < 0 || n > MaxPageSize {
		r.addf("page_size", "每页条数须在1到%d之间 (page_size must be 1–%d, 0 for the default): got %d", MaxPageSize, MaxPageSize, n)
	}
	optionalEnum(&r, top, "verdict", "结论", req.GetVerdict(), verdicts)
	r.code(top, "physician_code", "医师编码", req.GetPhysicianCode(), false, lim.MaxStringLen)
	r.code(top, "department_code", "科室编码", req.GetDepartmentCode(), false, lim.MaxStringLen)
	r.text(top, "patient_id", "患者ID", req.GetPatientId(), false, lim.MaxStringLen)
	r.text(top, "rule_type", "规则类型", req.GetRuleType(), false, lim.MaxStringLen)
	r.text(top, "page_token", "分页标记", req.GetPageToken(), false, lim.MaxStringLen)
	if r.failed() {
		return time.Time{}, time.Time{}, r.err("QueryDecisionsRequest")
	}
	return from, to, nil
}

// Report validates a physician or department report request: the code is
// required, the range defaults to the calendar month of now (Asia/Shanghai).
func Report(what, codeField, zh, code, fromS, toS string, now time.Time) (from, to time.Time, err error) {
	var r report
	r.code(path{}, codeField, zh, code, true, DefaultLimits().MaxStringLen)
	now = now.In(shanghai())
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	from, to = r.timeRange(fromS, toS, first, first.AddDate(0, 1, 0))
	if r.failed() {
		return time.Time{}, time.Time{}, r.err(what)
	}
	return from, to, nil
}

// timeRange parses an RFC 3339 range [from, to), each end defaulting to
// def, and reports to not after from.
func (r *report) timeRange(fromS, toS string, defFrom, defTo time.Time) (from, to time.Time) {
	parse := func(name, zh, s string, def time.Time) time.Time {
		if s == "" || !r.text(path{}, name, zh, s, false, DefaultLimits().MaxStringLen) {
			return def
		}
		if t, ok := r.rfc3339(path{}, name, zh, s, shanghai()); ok {
			return t
		}
		return def
	}
	from, to = parse("from", "开始时间", fromS, defFrom), parse("to", "结束时间", toS, defTo)
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		r.addf("to", "结束时间须晚于开始时间 (to must be after from): from %s, to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to
}

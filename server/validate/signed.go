package validate

import (
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// ParsedSigned is a valid RecordSigned request with its times parsed: the
// time each line happened (its start_time, else the signing time).
type ParsedSigned struct {
	SignedTime time.Time
	LineTimes  []time.Time
}

// Time bounds of RecordSigned (docs/api.md, "Patient history: what a check
// sees"). A recorded line is history for checks from its time on, so a time
// the history would silently drop (too old) or that no check should yet
// see (ahead of the clock) is refused, never answered with recorded=0,
// which means "already recorded".
const (
	// MaxSignedSkew is how far after the server's clock signed_time may
	// lie: clock drift between the HIS and the sidecar, nothing more.
	// Orders are signed now or were signed earlier.
	MaxSignedSkew = 5 * time.Minute
	// MaxSignedAge is how far before the server's clock a line's time
	// (start_time, else signed_time) may lie: the patient history's
	// retention (history.DefaultRetention). An older line would never be
	// stored.
	MaxSignedAge = 400 * 24 * time.Hour
)

// RecordSigned validates a RecordSigned request: patient_id and at least one
// line are required; each line needs a line_id unique within the request,
// an item_code and a kind, quantity and days within the value bounds, and a
// valid start_time if it has one; hospital_code and a line's report_id are
// optional and bounded like every id. signed_time lies between 1900-01-01
// (EarliestTime), MaxSignedAge before now and MaxSignedSkew after it; a
// start_time in the same range, but up to MaxFutureSkew ahead (an order
// scheduled for the next morning, as CheckOrders accepts it). Violations
// come back as InvalidArgument with every field named.
func RecordSigned(req *rxguardv1.RecordSignedRequest, lim Limits, now time.Time) (ParsedSigned, error) {
	lim = lim.withDefaults()
	var r report
	if n := proto.Size(req); n > lim.MaxRequestBytes {
		r.tooLarge(n, lim.MaxRequestBytes)
		return ParsedSigned{}, r.err("RecordSignedRequest")
	}
	zone := shanghai()
	top := path{}
	p := ParsedSigned{SignedTime: now.In(zone)}
	r.text(top, "decision_id", "决策ID", req.GetDecisionId(), false, lim.MaxStringLen)
	r.text(top, "patient_id", "患者ID", req.GetPatientId(), true, lim.MaxStringLen)
	r.text(top, "encounter_id", "就诊ID", req.GetEncounterId(), false, lim.MaxStringLen)
	r.code(top, "hospital_code", "医疗机构编码", req.GetHospitalCode(), false, lim.MaxStringLen)
	oldest := now.Add(-MaxSignedAge)
	if s := req.GetSignedTime(); s != "" && r.text(top, "signed_time", "签署时间", s, false, lim.MaxStringLen) {
		if t, ok := r.rfc3339(top, "signed_time", "签署时间", s, zone); ok &&
			r.timeWithin(top, "signed_time", "签署时间", t, now.Add(MaxSignedSkew), "服务器当前时间后5分钟 (server time + 5m)") &&
			r.notOlderThan(top, "signed_time", "签署时间", t, oldest) {
			p.SignedTime = t
		}
	}
	orders := req.GetOrders()
	switch {
	case len(orders) == 0:
		r.addf("orders", "医嘱明细不能为空 (orders must not be empty)")
	case len(orders) > lim.MaxOrderLines:
		r.tooMany("orders", "医嘱明细", len(orders), lim.MaxOrderLines)
	default:
		p.LineTimes = make([]time.Time, len(orders))
		// line_id is part of a recorded line's identity: two lines without
		// one (or with the same one) would be stored as one.
		ids := lineIDs{orders: orders}
		for i, o := range orders {
			at := path{parent: "orders", i: i}
			if id := o.GetLineId(); r.text(at, "line_id", "行号", id, true, lim.MaxStringLen) {
				if first := ids.first(i); first >= 0 && !r.full() {
					r.addf(at.field("line_id"), "行号重复: %q已用于orders[%d] (duplicate line_id %q, first used by orders[%d])",
						Clip(id), first, Clip(id), first)
				}
			}
			r.code(at, "item_code", "项目编码", o.GetItemCode(), true, lim.MaxStringLen)
			r.text(at, "item_name", "项目名称", o.GetItemName(), false, lim.MaxNameLen)
			r.code(at, "report_id", "报告ID", o.GetReportId(), false, lim.MaxStringLen)
			requiredEnum(&r, at, "kind", "项目类别", o.GetKind(), itemKinds)
			r.between(at, "quantity", "数量", o.GetQuantity(), 0, false, MaxQuantity)
			r.intBetween(at, "days", "天数", o.GetDays(), 0, MaxDays)
			p.LineTimes[i] = p.SignedTime
			if s := o.GetStartTime(); s != "" && r.text(at, "start_time", "开始时间", s, false, lim.MaxStringLen) {
				if t, ok := r.rfc3339(at, "start_time", "开始时间", s, zone); ok &&
					r.timeWithin(at, "start_time", "开始时间", t, now.Add(MaxFutureSkew), "服务器当前时间后24小时 (server time + 24h)") &&
					r.notOlderThan(at, "start_time", "开始时间", t, oldest) {
					p.LineTimes[i] = t
				}
			}
		}
	}
	if r.failed() {
		return ParsedSigned{}, r.err("RecordSignedRequest")
	}
	return p, nil
}

// notOlderThan reports a violation unless t is after oldest (now minus
// MaxSignedAge): the history would drop such a line unrecorded.
func (r *report) notOlderThan(at path, name, zh string, t, oldest time.Time) bool {
	if t.After(oldest) {
		return true
	}
	if !r.full() {
		days := int(MaxSignedAge / (24 * time.Hour))
		r.addf(at.field(name), "%s早于%d天前, 超出病史保留期, 不会被记录 (%s is more than %d days ago, older than patient history is kept; it would not be recorded): got %s, earliest %s",
			zh, days, name, days, t.Format(time.RFC3339), oldest.Format(time.RFC3339))
	}
	return false
}

// GetPhysicianStatus validates a status query and returns the time to
// evaluate at (now when at is empty).
func GetPhysicianStatus(req *rxguardv1.GetPhysicianStatusRequest, now time.Time) (time.Time, error) {
	var r report
	lim := DefaultLimits()
	at := now.In(shanghai())
	r.code(path{}, "physician_code", "医师编码", req.GetPhysicianCode(), true, lim.MaxStringLen)
	if s := req.GetAt(); s != "" && r.text(path{}, "at", "时间", s, false, lim.MaxStringLen) {
		if t, ok := r.rfc3339(path{}, "at", "时间", s, shanghai()); ok {
			at = t
		}
	}
	if r.failed() {
		return time.Time{}, r.err("GetPhysicianStatusRequest")
	}
	return at, nil
}

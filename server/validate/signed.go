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

// RecordSigned validates a RecordSigned request: patient_id and at least one
// line are required; each line needs an item_code and a kind, a positive
// quantity, non-negative days, and a valid start_time if it has one.
// Violations come back as InvalidArgument with every field named.
func RecordSigned(req *rxguardv1.RecordSignedRequest, lim Limits, now time.Time) (ParsedSigned, error) {
	lim = lim.withDefaults()
	var r report
	if n := proto.Size(req); n > lim.MaxRequestBytes {
		r.addf("request", "请求过大: %d字节, 上限%d (request too large: %d bytes, limit %d)", n, lim.MaxRequestBytes, n, lim.MaxRequestBytes)
		return ParsedSigned{}, r.err("RecordSignedRequest")
	}
	zone := shanghai()
	top := path{}
	p := ParsedSigned{SignedTime: now.In(zone)}
	r.text(top, "decision_id", "决策ID", req.GetDecisionId(), false, lim.MaxStringLen)
	r.text(top, "patient_id", "患者ID", req.GetPatientId(), true, lim.MaxStringLen)
	r.text(top, "encounter_id", "就诊ID", req.GetEncounterId(), false, lim.MaxStringLen)
	if s := req.GetSignedTime(); s != "" && r.text(top, "signed_time", "签署时间", s, false, lim.MaxStringLen) {
		if t, ok := r.rfc3339(top, "signed_time", "签署时间", s, zone); ok {
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
		for i, o := range orders {
			at := path{parent: "orders", i: i}
			r.text(at, "line_id", "行号", o.GetLineId(), false, lim.MaxStringLen)
			r.text(at, "item_code", "项目编码", o.GetItemCode(), true, lim.MaxStringLen)
			r.text(at, "item_name", "项目名称", o.GetItemName(), false, lim.MaxNameLen)
			requiredEnum(&r, at, "kind", "项目类别", o.GetKind(), itemKinds)
			r.positive(at, "quantity", "数量", o.GetQuantity())
			r.nonNegInt(at, "days", "天数", o.GetDays())
			p.LineTimes[i] = p.SignedTime
			if s := o.GetStartTime(); s != "" && r.text(at, "start_time", "开始时间", s, false, lim.MaxStringLen) {
				if t, ok := r.rfc3339(at, "start_time", "开始时间", s, zone); ok {
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

// GetPhysicianStatus validates a status query and returns the time to
// evaluate at (now when at is empty).
func GetPhysicianStatus(req *rxguardv1.GetPhysicianStatusRequest, now time.Time) (time.Time, error) {
	var r report
	lim := DefaultLimits()
	at := now.In(shanghai())
	r.text(path{}, "physician_code", "医师编码", req.GetPhysicianCode(), true, lim.MaxStringLen)
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

// Package validate rejects malformed GuardService requests before the engine
// sees them. Bad input is answered with codes.InvalidArgument and a
// google.rpc.BadRequest that lists the violations with field paths
// ("orders[3].quantity") and a Chinese + English description, so a HIS
// developer can fix every problem from one reply.
//
// Validation sits on the latency path of every check, so a valid request
// costs one allocation (the slice of parsed times handed to the engine; past
// 32 order lines also a set of line_ids); messages and paths are only built
// once a violation is found.
//
// Only the shape of the request is checked here. Whether a code means
// anything (a malformed or unknown item_code) is a finding of the engine
// (UNKNOWN_ITEM), not bad input.
package validate

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Limits bound what one request may carry. A zero field means its default,
// so callers can override one limit without restating the others.
type Limits struct {
	// MaxOrderLines bounds orders[]: one order-entry screen, not a batch.
	MaxOrderLines int
	// MaxHistory bounds history[]: enough for a long inpatient stay.
	MaxHistory int
	// MaxDiagnoses bounds diagnoses[].
	MaxDiagnoses int
	// MaxPreviousEncounters bounds previous_encounters[]: years of a
	// chronic patient's stays, not the hospital's archive.
	MaxPreviousEncounters int
	// MaxRequestBytes bounds proto.Size of the whole request.
	MaxRequestBytes int
	// MaxStringLen bounds ids, codes, units and time strings, in bytes.
	MaxStringLen int
	// MaxNameLen bounds free-text names (orders[].item_name, physician.name,
	// diagnoses[].name), in bytes: Chinese is 3 bytes a character in UTF-8
	// and catalogue names carry strength and maker, so 256 is too short.
	MaxNameLen int
}

// DefaultLimits returns the limits the sidecar runs with unless configured.
func DefaultLimits() Limits {
	return Limits{
		MaxOrderLines:         200,
		MaxHistory:            2000,
		MaxDiagnoses:          100,
		MaxPreviousEncounters: 200,
		MaxRequestBytes:       1 << 20,
		MaxStringLen:          256,
		MaxNameLen:            1024,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxOrderLines <= 0 {
		l.MaxOrderLines = d.MaxOrderLines
	}
	if l.MaxHistory <= 0 {
		l.MaxHistory = d.MaxHistory
	}
	if l.MaxDiagnoses <= 0 {
		l.MaxDiagnoses = d.MaxDiagnoses
	}
	if l.MaxPreviousEncounters <= 0 {
		l.MaxPreviousEncounters = d.MaxPreviousEncounters
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	if l.MaxStringLen <= 0 {
		l.MaxStringLen = d.MaxStringLen
	}
	if l.MaxNameLen <= 0 {
		l.MaxNameLen = d.MaxNameLen
	}
	return l
}

// Parsed holds the request's times, parsed once so the engine need not
// parse them again. All times are in Asia/Shanghai, the zone of every
// calendar-day rule. OrderStart and HistoryTime share one allocation;
// OrderStart's capacity ends at its length, so appending to it copies.
type Parsed struct {
	// CheckTime is check_time, or now when check_time is empty.
	CheckTime time.Time
	// BirthDate is patient.birth_date at midnight.
	BirthDate time.Time
	// OrderStart[i] is orders[i].start_time, zero when absent.
	OrderStart []time.Time
	// HistoryTime[i] is history[i].time.
	HistoryTime []time.Time
	// Req is the request to judge: the caller's own when its codes are
	// canonical, else a copy with normalised codes (the caller's request
	// is never modified). Normalised says what changed.
	Req        *rxguardv1.CheckOrdersRequest
	Normalised []Normalisation
}

// CheckOrders validates req against lim. now is the check time used when
// req.check_time is empty. On success it returns the parsed times; otherwise
// a status error (codes.InvalidArgument with a BadRequest listing the
// violations in request order) and a zero Parsed.
func CheckOrders(req *rxguardv1.CheckOrdersRequest, lim Limits, now time.Time) (Parsed, error) {
	lim = lim.withDefaults()
	var r report

	// Before anything else: an oversized request gets this one violation,
	// not thousands about its content.
	if ok, n := withinSize(req, lim.MaxRequestBytes); !ok {
		r.tooLarge(n, lim.MaxRequestBytes)
		return Parsed{}, r.err("CheckOrdersRequest")
	}

	zone := shanghai()
	var p Parsed
	// check_time is field 10 but birth_date is checked against it, so it is
	// parsed first and its violation, if any, reported in its place below.
	checkTime, checkTimeOK := now.In(zone), true
	if s := req.GetCheckTime(); s != "" {
		checkTime, checkTimeOK = parseRFC3339(s, zone) // too long: rejected below
	}
	// check_time may replay the past (back to 1900) but not run ahead of
	// the server's clock by more than the skew; it is reported in its
	// place below.
	checkTimeInRange := !checkTime.Before(EarliestTime) && !checkTime.After(now.Add(MaxFutureSkew))
	p.CheckTime = checkTime
	// Nothing in the request may lie more than the skew after check_time
	// (when check_time itself is bad, that one violation is enough).
	latest, latestWhat := checkTime.Add(MaxFutureSkew), "检查时间后24小时 (check_time + 24h)"
	if !checkTimeOK || !checkTimeInRange {
		latest = time.Date(9999, 12, 31, 0, 0, 0, 0, zone)
	}

	top := path{}
	r.text(top, "request_id", "请求ID", req.GetRequestId(), false, lim.MaxStringLen)
	requiredEnum(&r, top, "scene", "场景", req.GetScene(), scenes)

	if h := req.GetHospital(); h == nil {
		r.missing("hospital", "医院信息")
	} else {
		at := path{parent: "hospital", i: -1}
		r.code(at, "code", "医院编码", h.GetCode(), false, lim.MaxStringLen)
		if lv := h.GetLevel(); lv < 1 || lv > 3 {
			r.addf(at.field("level"), "医院等级须为1、2或3 (hospital.level must be 1, 2 or 3): got %d", lv)
		}
	}

	if pt := req.GetPatient(); pt == nil {
		r.missing("patient", "患者信息")
	} else {
		at := path{parent: "patient", i: -1}
		r.text(at, "id", "患者ID", pt.GetId(), false, lim.MaxStringLen)
		requiredEnum(&r, at, "gender", "性别", pt.GetGender(), genders)
		if s := pt.GetBirthDate(); r.text(at, "birth_date", "出生日期", s, true, lim.MaxStringLen) {
			if d, ok := r.date(at, "birth_date", "出生日期", s, zone); ok && r.notBeforeEarliest(at, "birth_date", "出生日期", d) {
				if checkTimeOK && checkTimeInRange && d.After(checkTime) {
					r.addf(at.field("birth_date"), "出生日期晚于检查时间%s (birth_date is after check_time %s): got %q",
						checkTime.Format(dateLayout), checkTime.Format(dateLayout), Clip(s))
				}
				p.BirthDate = d
			}
		}
		requiredEnum(&r, at, "insurance_type", "险种", pt.GetInsuranceType(), insuranceTypes)
		optionalEnum(&r, at, "maternity", "孕产状态", pt.GetMaternity(), maternities)
	}

	if e := req.GetEncounter(); e == nil {
		r.missing("encounter", "就诊信息")
	} else {
		at := path{parent: "encounter", i: -1}
		r.text(at, "id", "就诊ID", e.GetId(), false, lim.MaxStringLen)
		requiredEnum(&r, at, "type", "就诊类型", e.GetType(), encounterTypes)
		r.code(at, "department_code", "科室编码", e.GetDepartmentCode(), false, lim.MaxStringLen)
		if s := e.GetAdmitDate(); s != "" && r.text(at, "admit_date", "入院日期", s, false, lim.MaxStringLen) {
			if d, ok := r.date(at, "admit_date", "入院日期", s, zone); ok {
				r.timeWithin(at, "admit_date", "入院日期", d, latest, latestWhat)
			}
		}
	}

	{
		// A missing physician is reported as a missing code: the code is
		// what the qualification rules need, and one path is simpler for
		// callers to handle than two.
		ph := req.GetPhysician()
		at := path{parent: "physician", i: -1}
		r.code(at, "code", "医师编码", ph.GetCode(), true, lim.MaxStringLen)
		if ph != nil {
			r.text(at, "name", "医师姓名", ph.GetName(), false, lim.MaxNameLen)
			optionalEnum(&r, at, "title", "职称", ph.GetTitle(), titles)
			r.code(at, "department_code", "科室编码", ph.GetDepartmentCode(), false, lim.MaxStringLen)
		}
	}

	// An over-long list is reported by its length alone: walking it could
	// cost far more than the check it guards and bury the one real problem
	// under thousands of element violations.
	if dx := req.GetDiagnoses(); len(dx) > lim.MaxDiagnoses {
		r.tooMany("diagnoses", "诊断", len(dx), lim.MaxDiagnoses)
	} else {
		for i, d := range dx {
			at := path{parent: "diagnoses", i: i}
			r.code(at, "code", "诊断编码", d.GetCode(), true, lim.MaxStringLen)
			r.text(at, "name", "诊断名称", d.GetName(), false, lim.MaxNameLen)
		}
	}

	orders, history := req.GetOrders(), req.GetHistory()
	// 住院登记 (SCENE_ADMISSION) registers a stay before anything is
	// ordered: the encounter-level rules judge it without order lines.
	// Every other scene checks an order, so an empty one is a HIS bug.
	mayBeEmpty := req.GetScene() == rxguardv1.Scene_SCENE_ADMISSION
	ordersOK := (len(orders) > 0 || mayBeEmpty) && len(orders) <= lim.MaxOrderLines
	historyOK := len(history) <= lim.MaxHistory
	if ordersOK && historyOK {
		// One allocation for both: the only one on the success path.
		times := make([]time.Time, len(orders)+len(history))
		p.OrderStart = times[:len(orders):len(orders)]
		p.HistoryTime = times[len(orders):]
	}

	switch {
	case len(orders) == 0 && mayBeEmpty:
	case len(orders) == 0:
		r.addf("orders", "医嘱明细不能为空, 仅住院登记(SCENE_ADMISSION)可无医嘱 (orders must not be empty except for SCENE_ADMISSION)")
	case !ordersOK:
		r.tooMany("orders", "医嘱明细", len(orders), lim.MaxOrderLines)
	default:
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
			requiredEnum(&r, at, "kind", "项目类别", o.GetKind(), itemKinds)
			r.between(at, "quantity", "数量", o.GetQuantity(), 0, false, MaxQuantity)
			r.text(at, "unit", "单位", o.GetUnit(), false, lim.MaxStringLen)
			r.intBetween(at, "days", "天数", o.GetDays(), 0, MaxDays)
			r.between(at, "times_per_day", "每日次数", o.GetTimesPerDay(), 0, true, MaxTimesPerDay)
			if s := o.GetStartTime(); s != "" && r.text(at, "start_time", "开始时间", s, false, lim.MaxStringLen) {
				if t, ok := r.rfc3339(at, "start_time", "开始时间", s, zone); ok && r.timeWithin(at, "start_time", "开始时间", t, latest, latestWhat) && p.OrderStart != nil {
					p.OrderStart[i] = t
				}
			}
			r.between(at, "unit_price", "单价", o.GetUnitPrice(), 0, true, MaxUnitPrice)
			r.text(at, "report_id", "报告ID", o.GetReportId(), false, lim.MaxStringLen)
		}
	}

	if !historyOK {
		r.tooMany("history", "历史医嘱", len(history), lim.MaxHistory)
	} else {
		for i, h := range history {
			at := path{parent: "history", i: i}
			r.code(at, "item_code", "项目编码", h.GetItemCode(), true, lim.MaxStringLen)
			optionalEnum(&r, at, "kind", "项目类别", h.GetKind(), itemKinds)
			r.between(at, "quantity", "数量", h.GetQuantity(), 0, true, MaxQuantity)
			r.intBetween(at, "days", "天数", h.GetDays(), 0, MaxDays)
			if s := h.GetTime(); r.text(at, "time", "时间", s, true, lim.MaxStringLen) {
				if t, ok := r.rfc3339(at, "time", "时间", s, zone); ok && r.timeWithin(at, "time", "时间", t, latest, latestWhat) && p.HistoryTime != nil {
					p.HistoryTime[i] = t
				}
			}
			r.text(at, "encounter_id", "就诊ID", h.GetEncounterId(), false, lim.MaxStringLen)
			r.code(at, "hospital_code", "医院编码", h.GetHospitalCode(), false, lim.MaxStringLen)
			r.text(at, "report_id", "报告ID", h.GetReportId(), false, lim.MaxStringLen)
		}
	}

	if prev := req.GetPreviousEncounters(); len(prev) > lim.MaxPreviousEncounters {
		r.tooMany("previous_encounters", "既往就诊", len(prev), lim.MaxPreviousEncounters)
	} else {
		for i, pe := range prev {
			previousEncounter(&r, path{parent: "previous_encounters", i: i}, pe, lim, zone, latest, latestWhat)
		}
	}

	if s := req.GetCheckTime(); s != "" && r.text(top, "check_time", "检查时间", s, false, lim.MaxStringLen) {
		switch {
		case !checkTimeOK:
			r.badRFC3339(top.field("check_time"), "检查时间", "check_time", s)
		case !checkTimeInRange:
			r.timeWithin(top, "check_time", "检查时间", checkTime, now.Add(MaxFutureSkew), "服务器当前时间后24小时 (server time + 24h)")
		}
	}

	if r.failed() {
		return Parsed{}, r.err("CheckOrdersRequest")
	}
	p.Req, p.Normalised = normaliseCodes(req)
	return p, nil
}

// previousEncounter checks one of previous_encounters[]: its type is
// required (READMISSION counts inpatient stays only, so a stay of unknown
// type would be silently ignored); dates are optional but must be dates in
// the request's bounds, discharge not before admission.
func previousEncounter(r *report, at path, pe *rxguardv1.PreviousEncounter, lim Limits, zone *time.Location, latest time.Time, latestWhat string) {
	r.text(at, "id", "就诊ID", pe.GetId(), false, lim.MaxStringLen)
	requiredEnum(r, at, "type", "就诊类型", pe.GetType(), encounterTypes)
	r.code(at, "hospital_code", "医院编码", pe.GetHospitalCode(), false, lim.MaxStringLen)
	var admit time.Time
	if s := pe.GetAdmitDate(); s != "" && r.text(at, "admit_date", "入院日期", s, false, lim.MaxStringLen) {
		if d, ok := r.date(at, "admit_date", "入院日期", s, zone); ok && r.timeWithin(at, "admit_date", "入院日期", d, latest, latestWhat) {
			admit = d
		}
	}
	if s := pe.GetDischargeDate(); s != "" && r.text(at, "discharge_date", "出院日期", s, false, lim.MaxStringLen) {
		if d, ok := r.date(at, "discharge_date", "出院日期", s, zone); ok && r.timeWithin(at, "discharge_date", "出院日期", d, latest, latestWhat) &&
			!admit.IsZero() && d.Before(admit) && !r.full() {
			r.addf(at.field("discharge_date"), "出院日期早于入院日期%s (discharge_date is before admit_date %s): got %q",
				pe.GetAdmitDate(), pe.GetAdmitDate(), Clip(s))
		}
	}
	r.code(at, "primary_diagnosis", "主要诊断编码", pe.GetPrimaryDiagnosis(), false, lim.MaxStringLen)
}

// ExplainItem validates an ExplainItem request: item_code must be present
// and no longer than DefaultLimits().MaxStringLen. Its format is not
// checked, because explaining why a code is malformed is part of the answer.
func ExplainItem(req *rxguardv1.ExplainItemRequest) error {
	var r report
	r.code(path{}, "item_code", "项目编码", req.GetItemCode(), true, DefaultLimits().MaxStringLen)
	if r.failed() {
		return r.err("ExplainItemRequest")
	}
	return nil
}

// lineIDs finds repeated line_ids. It must be asked about every order in
// index order, once each.
type lineIDs struct {
	orders []*rxguardv1.OrderLine
	seen   map[string]int // line_id → first index, only for long requests
}

// smallOrders is where a set starts to beat comparing each line_id against
// the earlier ones: below it the scan is a few hundred compares and, unlike a
// map, allocates nothing; at MaxOrderLines it would be ~20k.
const smallOrders = 32

// first returns the index of the first order before i with the same line_id
// as orders[i], or -1.
func (l *lineIDs) first(i int) int {
	id := l.orders[i].GetLineId()
	if len(l.orders) <= smallOrders {
		for j := range i {
			if l.orders[j].GetLineId() == id {
				return j
			}
		}
		return -1
	}
	if l.seen == nil {
		l.seen = make(map[string]int, len(l.orders))
	}
	if j, ok := l.seen[id]; ok {
		return j
	}
	l.seen[id] = i
	return -1
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// text checks a string field's presence (when required), length and
// encoding, and reports whether it is present and within bounds, so callers
// parse it only then.
//
// Invalid UTF-8 is refused here for in-process callers; over gRPC the codec
// (server/grpccodec) replaces such bytes with U+FFFD so the request reaches
// validation instead of failing as Internal, and U+FFFD is refused here
// too: no HIS means to send it, and a code or name carrying it would match
// nothing the bureau publishes.
func (r *report) text(at path, name, zh, s string, required bool, limit int) bool {
	switch {
	case s == "":
		if required && !r.full() {
			r.addf(at.field(name), "%s必填 (%s is required)", zh, name)
		}
		return false
	case len(s) > limit:
		if r.full() {
			return false
		}
		r.addf(at.field(name), "%s过长: %d字节, 上限%d (%s too long: %d bytes, limit %d)", zh, len(s), limit, name, len(s), limit)
		return false
	case !utf8.ValidString(s) || strings.Contains(s, "\uFFFD"):
		if !r.full() {
			r.addf(at.field(name), "%s含非法字符编码, 须为UTF-8 (%s is not valid UTF-8 or contains U+FFFD)", zh, name)
		}
		return false
	}
	return true
}

// code checks a national code field like text, and also that something is
// left once the padding CanonicalCode removes is gone: a code of only
// spaces is a missing code, not a code.
func (r *report) code(at path, name, zh, s string, required bool, limit int) bool {
	if !r.text(at, name, zh, s, required, limit) {
		return false
	}
	if c, changed := knowledge.CanonicalCode(s); changed && c == "" {
		if required && !r.full() {
			r.addf(at.field(name), "%s必填, 不能只含空白 (%s is required and must not be only white space)", zh, name)
		}
		return false
	}
	return true
}

// tooLarge is the one violation of a request over its byte limit: it
// comes alone, not with thousands about its content.
func (r *report) tooLarge(n, limit int) {
	r.addf("request", "请求过大: %d字节, 上限%d (request too large: %d bytes, limit %d)", n, limit, n, limit)
}

func (r *report) missing(field, zh string) {
	r.addf(field, "%s必填 (%s is required)", zh, field)
}

func (r *report) tooMany(field, zh string, n, limit int) {
	r.addf(field, "%s过多: %d条, 上限%d (too many %s: %d, limit %d)", zh, n, limit, field, n, limit)
}

// path names a field's parent: "" (the request), "patient", or an element
// "orders[3]" (i >= 0). It is a value so the hot path builds no strings.
type path struct {
	parent string
	i      int
}

func (p path) field(name string) string {
	switch {
	case p.parent == "":
		return name
	case p.i < 0:
		return p.parent + "." + name
	}
	return p.parent + "[" + strconv.Itoa(p.i) + "]." + name
}

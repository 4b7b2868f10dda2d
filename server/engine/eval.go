package engine

import (
	"math"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Shanghai is the zone all calendar-day arithmetic uses (RULES.md).
var Shanghai = loadShanghai()

func loadShanghai() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	// China has no daylight saving time, so a fixed zone is exact.
	return time.FixedZone("CST", 8*3600)
}

// Input is a validated request with its times parsed once.
type Input struct {
	Req          *rxguardv1.CheckOrdersRequest
	CheckTime    time.Time
	BirthDate    time.Time   // zero if unknown
	OrderTimes   []time.Time // per order line; zero = use CheckTime
	HistoryTimes []time.Time // per history entry
	// Recorded is history rxguard recorded itself (RecordSigned), already
	// de-duplicated against Req.History by the caller, and possibly
	// filtered with Needs; nil when there is none.
	Recorded RecordedHistory
	// Needs, if set, is what Recorded was filtered with
	// (Engine.HistoryNeeds): Check then judges against the index it was
	// computed from, so a release swapped in between cannot bring rules
	// that read entries the filter dropped.
	Needs *HistoryNeeds
	// Normalised lists the code fields of Req that the caller sent in
	// another form and validation normalised (Req holds the canonical
	// codes); findings judged on them say so in their evidence.
	Normalised []NormalisedCode
}

// NormalisedCode is one code field normalised before evaluation.
type NormalisedCode struct {
	Field string // request path, e.g. "orders[0].item_code", "physician.code"
	Line  int    // order line index for orders[].item_code, else -1
	From  string // as received
	To    string // as judged
}

// RecordedHistory is the recorded entries a check reads, oldest first. It
// is an interface, not a slice, so the caller hands over entries where
// they already are (the history cache's, chosen by position) instead of
// copying them into HistoryEntry values first: the engine reads each once
// into its events, and again only the one a finding quotes (issue 14).
// The entries must not change while Check runs.
type RecordedHistory interface {
	Len() int
	// At returns entry i, 0 <= i < Len(); the value is the caller's to
	// keep, and At must not allocate.
	At(i int) HistoryEntry
	// EventAt returns At(i)'s fields that every event needs, in
	// registers instead of a whole HistoryEntry copied through memory:
	// newEvaluation reads every entry (a long-stay check hundreds), At
	// only the one a finding quotes (issue 14).
	EventAt(i int) (code string, t time.Time, quantity float64, days int32, encounterID string)
}

// HistoryEntries is a RecordedHistory held as a slice.
type HistoryEntries []HistoryEntry

// Len is the number of entries.
func (h HistoryEntries) Len() int { return len(h) }

// At returns entry i.
func (h HistoryEntries) At(i int) HistoryEntry { return h[i] }

// EventAt returns entry i's code, time, quantity, days and encounter.
func (h HistoryEntries) EventAt(i int) (string, time.Time, float64, int32, string) {
	e := &h[i]
	return e.ItemCode, e.Time, e.Quantity, e.Days, e.EncounterID
}

// HistoryEntry is one earlier order of the patient.
type HistoryEntry struct {
	ItemCode    string
	Quantity    float64
	Days        int32
	Time        time.Time
	EncounterID string
	// HospitalCode is where it was done (empty = this hospital) and
	// ReportID its result on the regional sharing platform: REPEAT_EXAM
	// quotes both (检查检验结果互认).
	HospitalCode string
	ReportID     string
}

// event is one occurrence of an item on the patient's timeline: a line of
// this order or an entry of the history. Its only pointer is the code, and
// the time is kept as Unix seconds and nanoseconds (event.time rebuilds it
// for a finding's text): a long-stay check builds hundreds of these, so
// they are kept small (56 bytes, was 88 with a time.Time and a drug cache)
// and cheap for the GC to allocate and scan (issue 14). A line's drug is
// cached in evaluation.lineDrugs, a history entry's in the per-day lists
// (historyDay) that the drug rules read.
type event struct {
	code      string
	sec       int64 // t.Unix()
	quantity  float64
	day       int   // local calendar day number
	nsec      int32 // t.Nanosecond()
	days      int32
	encounter bool // in the request's encounter
	insured   bool
}

func newEvent(code string, t time.Time, quantity float64, days int32) event {
	return event{code: code, sec: t.Unix(), nsec: int32(t.Nanosecond()), day: dayNumber(t), quantity: quantity, days: days}
}

// time is the event's time (the instant it was given: its location is
// not kept, and every text formats it in Shanghai).
func (e *event) time() time.Time { return time.Unix(e.sec, int64(e.nsec)) }

// after reports whether e happened after o (time.Time.After).
func (e *event) after(o *event) bool {
	return e.sec > o.sec || (e.sec == o.sec && e.nsec > o.nsec)
}

// lineDrug is an order line's drug record, resolved on first use.
type lineDrug struct {
	drug     *drugInfo
	resolved bool
}

// evaluation is the per-check state the rules read. It is built once per
// check and never shared.
type evaluation struct {
	in       *Input
	req      *rxguardv1.CheckOrdersRequest
	idx      *Index
	checkDay int
	ageYears int
	ageDays  int
	hasAge   bool
	lines    []event // one per order line, same index
	history  []event
	// lineDrugs[i] is line i's drug record (lineDrug), in lineDrugBuf
	// for a usual order.
	lineDrugs   []lineDrug
	lineDrugBuf [16]lineDrug
	// byCode finds the history events of an item code (historyOf).
	byCode historyIndex
	// days holds, per line day a rule asked about, the history events
	// of that day and those running on it (historyOnDay, historyRunning);
	// course the encounter's events with their course group
	// (historyCourse). Each is computed once per check, not walked again
	// for every line (issue 14).
	days       []historyDay
	dayBuf     [2]historyDay
	course     []courseEvent
	courseDone bool
	// fired marks (rule order, line) pairs that already have a finding.
	fired map[firedKey]struct{}
	// physTable is the physician status table the check started with.
	physTable *Physicians
	// phys is the ordering physician's qualification, folded once.
	phys         PhysicianState
	physResolved bool
	out          []*rxguardv1.Finding
	firstLine    []int
	// readmissionDays is READMISSION's window N (Engine configuration).
	readmissionDays int
	// text holds the findings' texts (text.go), slabs their messages
	// (slab.go).
	text  text
	slabs slabs
}

// historyIndex holds, for each item code a rule asked for, the positions
// of its events in ev.history, so the rules that read one code (ITEM_COURSE,
// ITEM_FREQUENCY, ITEM_PERIOD_FREQUENCY, DUPLICATE_CHARGE, REPEAT_EXAM)
// walk those instead of all of a long-stay patient's events for every line
// (issue 14). A code's positions are gathered on its first request: the
// cost follows the codes an order's rules read, a handful, not the
// history's distinct codes. Each event has one code, so the positions of
// every code asked fit in one array of len(history), allocated once; the
// first runs are kept in the evaluation itself.
type historyIndex struct {
	pos  []int32 // runs[k] is pos[runs[k].from:runs[k].to]
	runs []codeRun
	buf  [16]codeRun
	// small holds pos for a short history (a request's own history[]),
	// sparing that check an allocation.
	small [64]int32
	// walk makes historyOf return every event, as the rules walked before
	// the index (the differential test compares both).
	walk bool
}

type codeRun struct {
	code     string
	from, to int32
}

// historyDay is what the rules read of the history for one calendar day.
type historyDay struct {
	day int
	// onDay are the positions of the events on day (SURGERY_GROUP).
	onDay []int32
	// running are the events whose supply still runs on day and that have
	// a drug record, with it (DRUG_INTERACTION, DUPLICATE_THERAPY).
	running              []historyDrug
	onDayDone, runningOK bool
}

// historyDrug is history event at with its drug record.
type historyDrug struct {
	at   int32
	drug *drugInfo
}

// courseEvent is a history event in the request's encounter with its
// PAYMENT_COURSE group (Index.courseGroup; "" for a code in none).
type courseEvent struct {
	at    int32
	group string
}

// historyDayOf returns the day's entry in ev.days, adding it first; the
// pointer is valid until the next call.
func (ev *evaluation) historyDayOf(day int) *historyDay {
	for i := range ev.days {
		if ev.days[i].day == day {
			return &ev.days[i]
		}
	}
	if ev.days == nil {
		ev.days = ev.dayBuf[:0]
	}
	ev.days = append(ev.days, historyDay{day: day})
	return &ev.days[len(ev.days)-1]
}

// historyOnDay returns the positions in ev.history, ascending, of the
// events on day (read-only); a walk (historyIndex.walk) returns every
// event, so rules still compare each event's day.
func (ev *evaluation) historyOnDay(day int) []int32 {
	if len(ev.history) == 0 {
		return nil
	}
	if ev.byCode.walk {
		return ev.everyEvent()
	}
	d := ev.historyDayOf(day)
	if !d.onDayDone {
		d.onDayDone = true
		n := 0
		for i := range ev.history {
			if ev.history[i].day == day {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		d.onDay = make([]int32, 0, n) // counted first: one allocation
		for i := range ev.history {
			if ev.history[i].day == day {
				d.onDay = append(d.onDay, int32(i))
			}
		}
	}
	return d.onDay
}

// historyRunning returns, ascending, the history events whose supply runs
// on day and that have a drug record, with it (read-only). A walk returns
// every event with its drug record or nil, so rules still check running.
func (ev *evaluation) historyRunning(day int) []historyDrug {
	if len(ev.history) == 0 {
		return nil
	}
	if ev.byCode.walk {
		all := make([]historyDrug, len(ev.history))
		for i := range ev.history {
			all[i] = historyDrug{at: int32(i), drug: ev.idx.drugFor(ev.history[i].code, "")}
		}
		return all
	}
	d := ev.historyDayOf(day)
	if !d.runningOK {
		d.runningOK = true
		n := 0
		for i := range ev.history {
			if running(&ev.history[i], day) {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		d.running = make([]historyDrug, 0, n) // counted first: one allocation
		for i := range ev.history {
			h := &ev.history[i]
			if !running(h, day) {
				continue
			}
			// A history entry has no item name: its drug is the code's.
			if p := ev.idx.drugFor(h.code, ""); p != nil {
				d.running = append(d.running, historyDrug{at: int32(i), drug: p})
			}
		}
	}
	return d.running
}

// historyCourse returns, ascending, the history events in the request's
// encounter with their course group (read-only). A walk returns every
// event, so rules still check encounter.
func (ev *evaluation) historyCourse() []courseEvent {
	if ev.courseDone {
		return ev.course
	}
	ev.courseDone = true
	n := 0
	for i := range ev.history {
		if ev.history[i].encounter || ev.byCode.walk {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	ev.course = make([]courseEvent, 0, n) // counted first: one allocation
	for i := range ev.history {
		if h := &ev.history[i]; h.encounter || ev.byCode.walk {
			ev.course = append(ev.course, courseEvent{at: int32(i), group: ev.idx.courseGroup[h.code]})
		}
	}
	return ev.course
}

// everyEvent is the positions of all history events (a walk).
func (ev *evaluation) everyEvent() []int32 {
	all := make([]int32, len(ev.history))
	for i := range all {
		all[i] = int32(i)
	}
	return all
}

// historyOf returns the positions in ev.history, ascending, of the events
// of code (read-only). Rules still compare each event's code, so a walk
// of every event (historyIndex.walk) finds the same.
func (ev *evaluation) historyOf(code string) []int32 {
	x := &ev.byCode
	if len(ev.history) == 0 {
		return nil
	}
	if x.runs == nil {
		x.runs = x.buf[:0]
		if len(ev.history) <= len(x.small) {
			x.pos = x.small[:0:len(ev.history)]
		} else {
			x.pos = make([]int32, 0, len(ev.history))
		}
		if x.walk {
			for i := range ev.history {
				x.pos = append(x.pos, int32(i))
			}
		}
	}
	if x.walk {
		return x.pos
	}
	for _, r := range x.runs {
		if r.code == code {
			return x.pos[r.from:r.to:r.to]
		}
	}
	from := len(x.pos)
	for i := range ev.history {
		if ev.history[i].code == code {
			x.pos = append(x.pos, int32(i))
		}
	}
	x.runs = append(x.runs, codeRun{code: code, from: int32(from), to: int32(len(x.pos))})
	return x.pos[from:len(x.pos):len(x.pos)]
}

type firedKey struct {
	rule int
	line int
}

// shanghaiFixedFrom is the first second from which Shanghai's offset,
// shanghaiOffset, never changes again (the zone's last transition, 1991),
// or math.MaxInt64 if the loaded zone has transitions ahead.
var shanghaiFixedFrom, shanghaiOffset = fixedOffset(Shanghai)

func fixedOffset(loc *time.Location) (from, offset int64) {
	t := time.Date(2000, 1, 1, 0, 0, 0, 0, loc)
	start, end := t.ZoneBounds()
	if !end.IsZero() {
		return math.MaxInt64, 0
	}
	_, off := t.Zone()
	if start.IsZero() {
		return math.MinInt64, int64(off) // a fixed zone
	}
	return start.Unix(), int64(off)
}

// dayNumber is the local calendar day of t as days since 1970-01-01.
// Every event of a check's history needs one: since 1991 Shanghai's offset
// is fixed, so the day is plain arithmetic instead of a zone lookup and a
// calendar conversion (pinned against them by TestDayNumberFixedOffset).
func dayNumber(t time.Time) int {
	if s := t.Unix(); s >= shanghaiFixedFrom {
		local := s + shanghaiOffset
		day := local / 86400
		if local%86400 < 0 {
			day-- // floor, for a fixed zone's days before 1970
		}
		return int(day)
	}
	return dayNumberZone(t)
}

// dayNumberZone is dayNumber through the zone's rules.
func dayNumberZone(t time.Time) int {
	y, m, d := t.In(Shanghai).Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// dateDay is the day number (as dayNumber) of a YYYY-MM-DD date; ok=false
// when s is empty or not a date. A date names a local calendar day, so it
// is read as that day, not converted from another zone.
func dateDay(s string) (day int, ok bool) {
	if s == "" {
		return 0, false
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, false
	}
	// Midnight UTC is a whole number of days from the epoch, before 1970 too.
	return int(t.Unix() / 86400), true
}

// ageAt returns completed years and days lived at the check date.
func ageAt(birth, at time.Time) (years, days int) {
	by, bm, bd := birth.In(Shanghai).Date()
	ay, am, ad := at.In(Shanghai).Date()
	years = ay - by
	if am < bm || (am == bm && ad < bd) {
		years--
	}
	days = dayNumber(at) - dayNumber(birth)
	return years, days
}

func newEvaluation(in *Input, idx *Index, phys *Physicians) *evaluation {
	req := in.Req
	ev := &evaluation{in: in, req: req, idx: idx, physTable: phys, checkDay: dayNumber(in.CheckTime)}
	ev.text.first = textFirstChunk(len(req.Orders))
	if !in.BirthDate.IsZero() {
		ev.ageYears, ev.ageDays = ageAt(in.BirthDate, in.CheckTime)
		ev.hasAge = true
	}
	selfPayPatient := req.GetPatient().GetInsuranceType() == rxguardv1.InsuranceType_INSURANCE_SELF_PAY
	// ev.history is req.History, then in.Recorded, in that order:
	// historyOrigin relies on it. Lines and history share one allocation.
	recorded := 0
	if in.Recorded != nil {
		recorded = in.Recorded.Len()
	}
	nLines, nHistory := len(req.Orders), len(req.History)+recorded
	all := make([]event, nLines+nHistory)
	ev.lines = all[:nLines:nLines]
	if nLines <= len(ev.lineDrugBuf) {
		ev.lineDrugs = ev.lineDrugBuf[:nLines]
	} else {
		ev.lineDrugs = make([]lineDrug, nLines)
	}
	for i, o := range req.Orders {
		t := in.CheckTime
		if i < len(in.OrderTimes) && !in.OrderTimes[i].IsZero() {
			t = in.OrderTimes[i]
		}
		l := &ev.lines[i]
		*l = newEvent(o.ItemCode, t, o.Quantity, o.Days)
		l.encounter = true
		l.insured = !o.SelfPay && !selfPayPatient
	}
	if nHistory > 0 {
		encID := req.GetEncounter().GetId()
		h := all[nLines:]
		for i, r := range req.History {
			var t time.Time
			if i < len(in.HistoryTimes) {
				t = in.HistoryTimes[i]
			}
			h[i] = newEvent(r.ItemCode, t, r.Quantity, r.Days)
			h[i].encounter = encID != "" && r.EncounterId == encID
			h[i].insured = true
		}
		h = h[len(req.History):]
		for i := range recorded {
			code, t, quantity, days, enc := in.Recorded.EventAt(i)
			h[i] = newEvent(code, t, quantity, days)
			h[i].encounter = encID != "" && enc == encID
			h[i].insured = true
		}
		ev.history = all[nLines:]
	}
	return ev
}

// historyOrigin returns where history entry i (an index into ev.history)
// was done — empty for this hospital — and its report id on the regional
// sharing platform. Read only when a finding quotes them, so events need
// not carry the strings.
func (ev *evaluation) historyOrigin(i int) (hospital, report string) {
	n := len(ev.req.History)
	switch {
	case i < n:
		h := ev.req.History[i]
		return h.GetHospitalCode(), h.GetReportId()
	case ev.in.Recorded != nil && i-n < ev.in.Recorded.Len():
		r := ev.in.Recorded.At(i - n)
		return r.HospitalCode, r.ReportID
	}
	return "", ""
}

// patientInsured: the patient is not 自费 as a whole (payment rules that
// judge the encounter, not a line, skip a self-pay patient).
func (ev *evaluation) patientInsured() bool {
	return ev.req.GetPatient().GetInsuranceType() != rxguardv1.InsuranceType_INSURANCE_SELF_PAY
}

// primaryDiagnosis is the diagnoses[] entry with primary = true (RULES.md),
// or nil.
func (ev *evaluation) primaryDiagnosis() *rxguardv1.Diagnosis {
	for _, dx := range ev.req.Diagnoses {
		if dx.GetPrimary() {
			return dx
		}
	}
	return nil
}

// icdCategory is the ICD-10 category of code: its first three characters
// once normalised (J18.900 → J18), or "" when it has fewer.
func icdCategory(code string) string {
	c := normaliseICD(code)
	if len(c) < 3 {
		return ""
	}
	return c[:3]
}

// supplyDays counts an order without supply days as one day: an order
// always covers at least the day it is given.
func supplyDays(d int32) int {
	if d < 1 {
		return 1
	}
	return int(d)
}

// maxCount saturates count: far above any rule's limit, far below where a
// sum of thousands of them could overflow an int.
const maxCount = 1 << 30

// count is how many times an occurrence performs its item: its quantity,
// at least once, saturating at maxCount (a huge or infinite quantity must
// count as many, never wrap around to a negative number and switch the
// rule off).
func count(q float64) int {
	switch {
	case q >= maxCount:
		return maxCount
	case q < 1 || q != q: // NaN counts once, like a missing quantity
		return 1
	}
	return int(q + 0.5)
}

// lineDrug resolves (once) what the release knows about the drug of order
// line i, by its code and, to find the catalogue entry, its item name.
// nil: no drug record.
func (ev *evaluation) lineDrug(i int) *drugInfo {
	d := &ev.lineDrugs[i]
	if !d.resolved {
		d.drug, d.resolved = ev.idx.drugFor(ev.lines[i].code, ev.req.Orders[i].ItemName), true
	}
	return d.drug
}

// isDrug: drug and herb lines carry drug knowledge.
func isDrug(k rxguardv1.ItemKind) bool {
	return k == rxguardv1.ItemKind_ITEM_DRUG || k == rxguardv1.ItemKind_ITEM_HERB
}

// running reports whether a history supply still covers day: given on day
// d for n days, it covers d … d+n-1.
func running(h *event, day int) bool {
	return h.day <= day && day < h.day+supplyDays(h.days)
}

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
}

// HistoryEntries is a RecordedHistory held as a slice.
type HistoryEntries []HistoryEntry

// Len is the number of entries.
func (h HistoryEntries) Len() int { return len(h) }

// At returns entry i.
func (h HistoryEntries) At(i int) HistoryEntry { return h[i] }

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
// this order or an entry of the history.
type event struct {
	code      string
	line      int // index into Req.Orders, or -1 for history
	t         time.Time
	day       int // local calendar day number
	quantity  float64
	days      int32
	encounter bool // in the request's encounter
	insured   bool

	drug     *drugInfo // resolved on first use
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
	// byCode finds the history events of an item code (historyOf).
	byCode historyIndex
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
	ev.lines = make([]event, len(req.Orders))
	for i, o := range req.Orders {
		t := in.CheckTime
		if i < len(in.OrderTimes) && !in.OrderTimes[i].IsZero() {
			t = in.OrderTimes[i]
		}
		ev.lines[i] = event{
			code: o.ItemCode, line: i, t: t, day: dayNumber(t),
			quantity: o.Quantity, days: o.Days, encounter: true,
			insured: !o.SelfPay && !selfPayPatient,
		}
	}
	// ev.history is req.History, then in.Recorded, in that order:
	// historyOrigin relies on it.
	recorded := 0
	if in.Recorded != nil {
		recorded = in.Recorded.Len()
	}
	if n := len(req.History) + recorded; n > 0 {
		encID := req.GetEncounter().GetId()
		ev.history = make([]event, 0, n)
		add := func(code string, t time.Time, qty float64, days int32, enc string) {
			ev.history = append(ev.history, event{
				code: code, line: -1, t: t, day: dayNumber(t),
				quantity: qty, days: days,
				encounter: encID != "" && enc == encID,
				insured:   true,
			})
		}
		for i, h := range req.History {
			var t time.Time
			if i < len(in.HistoryTimes) {
				t = in.HistoryTimes[i]
			}
			add(h.ItemCode, t, h.Quantity, h.Days, h.EncounterId)
		}
		for i := range recorded {
			h := in.Recorded.At(i)
			add(h.ItemCode, h.Time, h.Quantity, h.Days, h.EncounterID)
		}
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

// drugOf resolves (once) what the release knows about the drug of an
// occurrence; order lines also use their item name to find the catalogue
// entry. nil: no drug record.
func (ev *evaluation) drugOf(e *event) *drugInfo {
	if !e.resolved {
		name := ""
		if e.line >= 0 {
			name = ev.req.Orders[e.line].ItemName
		}
		e.drug, e.resolved = ev.idx.drugFor(e.code, name), true
	}
	return e.drug
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

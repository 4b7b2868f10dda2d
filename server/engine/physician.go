package engine

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

// physicianRecord is a registered physician with the bureau's status events
// in date order (ties in feed order).
type physicianRecord struct {
	name   string
	events []physicianEvent
}

// physicianEvent is one status event, folded to what Status reads plus its
// feed seq (so the bureau's feed can replace it without the release's
// decoded events staying in memory). 40 bytes and no pointer: until is an
// index into its table's untils.
type physicianEvent struct {
	seq    int64
	points int
	until  uint32 // untils[until]: YYYY-MM-DD as the event gives it, 0 for none
	day    int32  // local day number of the event's date
	untilD int32  // day number of until, 0 if it does not parse
	year   int32
	kind   eventKind
}

// eventKind is an event's type; eventOther (a type Status does not fold)
// is kept so the event still counts and can still be replaced by seq.
type eventKind uint8

const (
	eventOther eventKind = iota
	eventPointsAdded
	eventPointsReduced
	eventSuspended
	eventTerminated
	eventRestored
)

func kindOf(t string) eventKind {
	switch t {
	case "POINTS_ADDED":
		return eventPointsAdded
	case "POINTS_REDUCED":
		return eventPointsReduced
	case "SUSPENDED":
		return eventSuspended
	case "TERMINATED":
		return eventTerminated
	case "RESTORED":
		return eventRestored
	}
	return eventOther
}

// PhysicianState is a physician's payment qualification at one moment, as
// folded from the bureau's events (RULES.md, last section).
type PhysicianState struct {
	Known bool // in the registry
	State rxguardv1.QualificationState
	// Points this calendar year: additions minus repairs, never below 0.
	Points int
	// Until ends a suspension, or is the earliest re-registration after a
	// termination; "" otherwise.
	Until string
	// Decided: the bureau suspended or terminated the physician this
	// calendar year (so ≥ 9 points are not "pending").
	Decided bool
}

// Physicians is the physician registry with every status event the
// sidecar knows, ready to fold. It is immutable; the engine swaps a new one
// in when a release or the bureau's event feed brings news.
type Physicians struct {
	// The table holds no pointer per physician or event (the garbage
	// collector marks a handful of objects, not ≈ 370,000 at the seeds'
	// scale): codes map to rows, a row's name is a substring of names
	// and its events a run of events, each event's until an index into
	// untils.
	codes  codeTable // code → codeRef{entry: 1 + row}
	rows   []physicianRow
	names  string
	events []physicianEvent
	untils []string // distinct until dates; untils[0] = ""
	// undated lists the seqs of counted events whose date does not parse
	// (kept out of the records), so withFeed counts a replaced one once.
	undated []int64
	// Events counts the distinct events folded in (release and feed).
	Events int
}

// physicianRow is one physician of a Physicians table.
type physicianRow struct {
	nameOff, nameLen uint32 // names[nameOff : nameOff+nameLen]
	first, n         uint32 // events[first : first+n], in date order
}

// CompilePhysicians builds the table from a registry and event lists. An
// event is identified by its feed seq: the same seq in a release snapshot
// and in the feed is one event (the later list wins).
func CompilePhysicians(registry []knowledge.PhysicianRecord, eventLists ...[]knowledge.PhysicianEvent) *Physicians {
	p := newPhysicianBuild(len(registry))
	for _, r := range registry {
		code, _ := knowledge.CanonicalCode(r.Code)
		p.byCode[code] = &physicianRecord{name: r.Name}
	}
	bySeq := map[int64]*knowledge.PhysicianEvent{}
	for _, list := range eventLists {
		for i := range list {
			bySeq[list[i].Seq] = &list[i]
		}
	}
	events := make([]*knowledge.PhysicianEvent, 0, len(bySeq))
	for _, e := range bySeq {
		events = append(events, e)
	}
	p.events = len(events)
	sortBySeq(events)
	for i, e := range events {
		yield.Sometimes(i)
		code, _ := knowledge.CanonicalCode(e.PhysicianCode)
		rec := p.byCode[code]
		if rec == nil {
			// Events for an unregistered code still count: the registry
			// may lag the feed.
			rec = &physicianRecord{}
			p.byCode[code] = rec
		}
		if ev, ok := p.event(e); ok {
			rec.events = append(rec.events, ev)
		} else {
			p.undated = append(p.undated, e.Seq)
		}
	}
	n := 0
	for _, rec := range p.byCode {
		sort.SliceStable(rec.events, func(a, b int) bool { return rec.events[a].day < rec.events[b].day })
		n += len(rec.events) + 1
		if n >= yield.Batch {
			n = 0
			yield.Now()
		}
	}
	return p.freeze()
}

// physicianBuild is a Physicians table while CompilePhysicians or withFeed
// builds it, in a map of records.
type physicianBuild struct {
	byCode   map[string]*physicianRecord
	undated  []int64
	events   int
	untils   []string // untils[0] = ""
	untilIdx map[string]uint32
}

func newPhysicianBuild(n int) *physicianBuild {
	return &physicianBuild{byCode: make(map[string]*physicianRecord, n), untils: []string{""}, untilIdx: map[string]uint32{"": 0}}
}

// event folds e, interning its until date; ok=false for an event whose
// date does not parse (the importer and the feed client reject such
// events; it still counts).
func (b *physicianBuild) event(e *knowledge.PhysicianEvent) (physicianEvent, bool) {
	day, ok := parseDay(e.Date)
	if !ok {
		return physicianEvent{}, false
	}
	ev := physicianEvent{seq: e.Seq, kind: kindOf(e.Type), day: int32(day), year: int32(yearOf(day)), points: e.Points}
	if e.Until != "" {
		u, ok := b.untilIdx[e.Until]
		if !ok {
			u = uint32(len(b.untils))
			until := strings.Clone(e.Until) // not the decoded event's memory
			b.untils = append(b.untils, until)
			b.untilIdx[until] = u
		}
		ev.until = u
		if d, ok := parseDay(e.Until); ok {
			ev.untilD = int32(d)
		}
	}
	return ev, true
}

// freeze lays the records out as a Physicians table.
func (b *physicianBuild) freeze() *Physicians {
	nEvents, nameBytes := 0, 0
	for _, rec := range b.byCode {
		nEvents += len(rec.events)
		nameBytes += len(rec.name)
	}
	p := &Physicians{
		codes:   newCodeTable(len(b.byCode)),
		rows:    make([]physicianRow, 0, len(b.byCode)),
		events:  make([]physicianEvent, 0, nEvents),
		untils:  b.untils,
		undated: b.undated,
		Events:  b.events,
	}
	var names strings.Builder
	names.Grow(nameBytes)
	i := 0
	for code, rec := range b.byCode {
		yield.Sometimes(i)
		i++
		p.codes.insert(code, codeRef{entry: int32(len(p.rows)) + 1})
		p.rows = append(p.rows, physicianRow{nameOff: uint32(names.Len()), nameLen: uint32(len(rec.name)), first: uint32(len(p.events)), n: uint32(len(rec.events))})
		names.WriteString(rec.name)
		p.events = append(p.events, rec.events...)
	}
	p.names = names.String()
	return p
}

// thaw is the table as records again, for withFeed, without the events
// (dated or not) whose seq replaced holds: Events no longer counts them.
func (p *Physicians) thaw(replaced map[int64]*knowledge.PhysicianEvent) *physicianBuild {
	b := newPhysicianBuild(len(p.rows))
	b.events = p.Events
	b.untils = slices.Clone(p.untils)
	for i, u := range b.untils {
		b.untilIdx[u] = uint32(i)
	}
	p.codes.each(func(code []byte, ref codeRef) {
		row := &p.rows[ref.entry-1]
		rec := &physicianRecord{name: p.nameOf(row), events: make([]physicianEvent, 0, row.n)}
		for _, ev := range p.events[row.first : row.first+row.n] {
			if _, ok := replaced[ev.seq]; ok {
				b.events--
			} else {
				rec.events = append(rec.events, ev)
			}
		}
		b.byCode[string(code)] = rec
	})
	for _, seq := range p.undated {
		if _, ok := replaced[seq]; ok {
			b.events--
		} else {
			b.undated = append(b.undated, seq)
		}
	}
	return b
}

func (p *Physicians) nameOf(row *physicianRow) string {
	return p.names[row.nameOff : row.nameOff+row.nameLen]
}

// row is code's row (code canonical), nil if the table has none.
func (p *Physicians) row(code string) *physicianRow {
	if ref, ok := p.codes.get(code); ok {
		return &p.rows[ref.entry-1]
	}
	return nil
}

// sortBySeq sorts events by seq (unique: they are a map's values). It is
// one call that does not yield: 20–40 ms for the seeds' 154,000 events,
// which checks on a one-core sidecar wait behind during a release switch.
func sortBySeq(events []*knowledge.PhysicianEvent) {
	slices.SortFunc(events, func(a, b *knowledge.PhysicianEvent) int { return cmp.Compare(a.Seq, b.Seq) })
}

// withFeed is the table with the bureau's feed folded in, as
// CompilePhysicians(registry, releaseEvents, feed) gives it, from the
// release's compiled table: a feed event replaces the release's event of
// the same seq.
func (p *Physicians) withFeed(feed []knowledge.PhysicianEvent) *Physicians {
	bySeq := make(map[int64]*knowledge.PhysicianEvent, len(feed))
	for i := range feed {
		bySeq[feed[i].Seq] = &feed[i]
	}
	out := p.thaw(bySeq) // the feed's events are counted below
	out.events += len(bySeq)
	events := make([]*knowledge.PhysicianEvent, 0, len(bySeq))
	for _, e := range bySeq {
		events = append(events, e)
	}
	sortBySeq(events)
	touched := map[*physicianRecord]bool{}
	for _, e := range events {
		code, _ := knowledge.CanonicalCode(e.PhysicianCode)
		rec := out.byCode[code]
		if rec == nil {
			rec = &physicianRecord{}
			out.byCode[code] = rec
		}
		if ev, ok := out.event(e); ok {
			rec.events = append(rec.events, ev)
			touched[rec] = true
		} else {
			out.undated = append(out.undated, e.Seq)
		}
	}
	// Date order, ties in seq order: what CompilePhysicians' seq sort
	// followed by a stable date sort gives.
	for rec := range touched {
		sort.Slice(rec.events, func(a, b int) bool {
			ea, eb := &rec.events[a], &rec.events[b]
			if ea.day != eb.day {
				return ea.day < eb.day
			}
			return ea.seq < eb.seq
		})
	}
	return out.freeze()
}

func (idx *Index) compilePhysicians(c *knowledge.Content) {
	// The table keeps what the feed merge needs (withFeed): the release's
	// registry and decoded events are not kept.
	idx.physicians = CompilePhysicians(c.Physicians, c.PhysicianEvents)
}

func parseDay(s string) (int, bool) {
	if len(s) != len("2006-01-02") {
		// Most events have no until: no time.ParseError to build (≈ 3 %
		// of a city-scale compile's allocations, docs/PERFORMANCE.md).
		return 0, false
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, false
	}
	return int(t.Unix() / 86400), true
}

func yearOf(day int) int { return time.Unix(int64(day)*86400, 0).UTC().Year() }

// PhysicianStatus folds the release's own events for code up to the day of
// at (without the feed; Engine.PhysicianStatus includes it).
func (idx *Index) PhysicianStatus(code string, at time.Time) PhysicianState {
	return idx.physicians.Status(code, at)
}

// Status folds the events for code up to the day of at. The code is
// looked up in canonical form (knowledge.CanonicalCode), so a padded or
// lower-case code finds its physician.
func (p *Physicians) Status(code string, at time.Time) PhysicianState {
	if p == nil {
		return PhysicianState{State: rxguardv1.QualificationState_QUALIFICATION_UNKNOWN}
	}
	code, _ = knowledge.CanonicalCode(code)
	rec := p.row(code)
	if rec == nil {
		return PhysicianState{State: rxguardv1.QualificationState_QUALIFICATION_UNKNOWN}
	}
	day := dayNumber(at)
	year := yearOf(day)
	st := PhysicianState{Known: rec.nameLen != 0, State: rxguardv1.QualificationState_QUALIFICATION_NORMAL}
	terminated, suspended := false, false
	var termUntil, suspUntil string
	for _, e := range p.events[rec.first : rec.first+rec.n] {
		if int(e.day) > day {
			break
		}
		switch e.kind {
		case eventPointsAdded:
			if int(e.year) == year {
				st.Points += e.points
			}
		case eventPointsReduced:
			if int(e.year) == year {
				st.Points = max(st.Points-e.points, 0)
			}
		case eventSuspended:
			if int(e.untilD) >= day || e.until == 0 {
				suspended, suspUntil = true, p.untils[e.until]
			} else {
				suspended = false
			}
			st.Decided = st.Decided || int(e.year) == year
		case eventTerminated:
			terminated, termUntil = true, p.untils[e.until]
			st.Decided = st.Decided || int(e.year) == year
		case eventRestored:
			terminated, suspended = false, false
		}
	}
	switch {
	case terminated:
		st.State, st.Until = rxguardv1.QualificationState_QUALIFICATION_TERMINATED, termUntil
	case suspended:
		st.State, st.Until = rxguardv1.QualificationState_QUALIFICATION_SUSPENDED, suspUntil
	}
	if !st.Known && st.State == rxguardv1.QualificationState_QUALIFICATION_NORMAL {
		st.State = rxguardv1.QualificationState_QUALIFICATION_UNKNOWN
	}
	return st
}

// Proto renders the state for responses.
func (s PhysicianState) Proto() *rxguardv1.PhysicianStatus {
	return &rxguardv1.PhysicianStatus{State: s.State, Points: int32(s.Points), Until: s.Until}
}

// Name is the registry's name for code, or "".
func (p *Physicians) Name(code string) string {
	if p == nil {
		return ""
	}
	code, _ = knowledge.CanonicalCode(code)
	if rec := p.row(code); rec != nil {
		return p.nameOf(rec)
	}
	return ""
}

package engine

import (
	"sort"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// physicianRecord is a registered physician with the bureau's status events
// in date order (ties in feed order).
type physicianRecord struct {
	name   string
	events []physicianEvent
}

type physicianEvent struct {
	kind   string // POINTS_ADDED, POINTS_REDUCED, SUSPENDED, TERMINATED, RESTORED
	day    int    // local day number of the event's date
	year   int
	points int
	until  string // YYYY-MM-DD
	untilD int
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
	byCode map[string]*physicianRecord
	// Events counts the distinct events folded in (release and feed).
	Events int
}

// CompilePhysicians builds the table from a registry and event lists. An
// event is identified by its feed seq: the same seq in a release snapshot
// and in the feed is one event (the later list wins).
func CompilePhysicians(registry []knowledge.PhysicianRecord, eventLists ...[]knowledge.PhysicianEvent) *Physicians {
	p := &Physicians{byCode: make(map[string]*physicianRecord, len(registry))}
	for _, r := range registry {
		code, _ := knowledge.CanonicalCode(r.Code)
		p.byCode[code] = &physicianRecord{name: r.Name}
	}
	bySeq := map[int64]knowledge.PhysicianEvent{}
	for _, list := range eventLists {
		for _, e := range list {
			bySeq[e.Seq] = e
		}
	}
	events := make([]knowledge.PhysicianEvent, 0, len(bySeq))
	for _, e := range bySeq {
		events = append(events, e)
	}
	p.Events = len(events)
	sort.Slice(events, func(a, b int) bool { return events[a].Seq < events[b].Seq })
	for _, e := range events {
		code, _ := knowledge.CanonicalCode(e.PhysicianCode)
		rec := p.byCode[code]
		if rec == nil {
			// Events for an unregistered code still count: the registry
			// may lag the feed.
			rec = &physicianRecord{}
			p.byCode[code] = rec
		}
		day, ok := parseDay(e.Date)
		if !ok {
			continue // the importer and the feed client reject such events
		}
		ev := physicianEvent{kind: e.Type, day: day, year: yearOf(day), points: e.Points, until: e.Until}
		if u, ok := parseDay(e.Until); ok {
			ev.untilD = u
		}
		rec.events = append(rec.events, ev)
	}
	for _, rec := range p.byCode {
		sort.SliceStable(rec.events, func(a, b int) bool { return rec.events[a].day < rec.events[b].day })
	}
	return p
}

func (idx *Index) compilePhysicians(c *knowledge.Content) {
	idx.registry = c.Physicians
	idx.releaseEvents = c.PhysicianEvents
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
	rec := p.byCode[code]
	if rec == nil {
		return PhysicianState{State: rxguardv1.QualificationState_QUALIFICATION_UNKNOWN}
	}
	day := dayNumber(at)
	year := yearOf(day)
	st := PhysicianState{Known: rec.name != "", State: rxguardv1.QualificationState_QUALIFICATION_NORMAL}
	terminated, suspended := false, false
	var termUntil, suspUntil string
	for _, e := range rec.events {
		if e.day > day {
			break
		}
		switch e.kind {
		case "POINTS_ADDED":
			if e.year == year {
				st.Points += e.points
			}
		case "POINTS_REDUCED":
			if e.year == year {
				st.Points = max(st.Points-e.points, 0)
			}
		case "SUSPENDED":
			if e.untilD >= day || e.until == "" {
				suspended, suspUntil = true, e.until
			} else {
				suspended = false
			}
			st.Decided = st.Decided || e.year == year
		case "TERMINATED":
			terminated, termUntil = true, e.until
			st.Decided = st.Decided || e.year == year
		case "RESTORED":
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
	if rec := p.byCode[code]; rec != nil {
		return rec.name
	}
	return ""
}

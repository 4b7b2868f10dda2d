// Package engine evaluates orders against a compiled knowledge release: it
// runs the built-in rule types bound to each line's code, merges and ranks
// the findings, and derives the verdict.
package engine

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// RuleConfig is a hospital's setting for one rule type.
type RuleConfig struct {
	// Disabled switches the rule type off.
	Disabled bool `json:"disabled,omitempty"`
	// Action replaces the rule type's action ("INFO", "WARN", "BLOCK";
	// empty = the default of docs/rules.md).
	Action string `json:"action,omitempty"`
	// WindowDays is READMISSION's N: a readmission 0 to N days after the
	// previous discharge fires (absent = DefaultReadmissionDays). Only
	// READMISSION has a window; a pointer so an explicit 0 is refused
	// instead of silently meaning the default.
	WindowDays *int `json:"window_days,omitempty"`
}

// Config is the rule configuration of one sidecar.
type Config struct {
	Rules map[knowledge.RuleType]RuleConfig `json:"rules,omitempty"`
}

// ParseAction maps "INFO"/"WARN"/"BLOCK" (or the ACTION_ names) to an Action.
func ParseAction(s string) (rxguardv1.Action, bool) {
	switch s {
	case "INFO", "ACTION_INFO":
		return rxguardv1.Action_ACTION_INFO, true
	case "WARN", "ACTION_WARN":
		return rxguardv1.Action_ACTION_WARN, true
	case "BLOCK", "ACTION_BLOCK":
		return rxguardv1.Action_ACTION_BLOCK, true
	}
	return rxguardv1.Action_ACTION_UNSPECIFIED, false
}

// Engine evaluates checks against the active index. Swapping the index is
// one atomic store; a check loads it once and finishes on that release.
type Engine struct {
	active atomic.Pointer[Index]
	// phys is the physician table: the active release's registry and
	// events plus the bureau feed. physMu serialises its writers.
	phys   atomic.Pointer[Physicians]
	physMu sync.Mutex
	feed   []knowledge.PhysicianEvent
	// per rule order: enabled and the action override (0 = default)
	enabled  []bool
	override []rxguardv1.Action
	// readmissionDays is READMISSION's window N (engine.rules.READMISSION
	// .window_days).
	readmissionDays int
	// historyWalk makes the rules walk every history event instead of
	// the events of the code they read (historyIndex.walk; tests only).
	historyWalk bool
}

// UnknownRuleError reports a configured rule type this build does not have.
type UnknownRuleError struct{ Type knowledge.RuleType }

func (e *UnknownRuleError) Error() string {
	return "unknown rule type " + strconv.Quote(string(e.Type)) + " in configuration"
}

// New returns an engine with the configuration applied; it has no index
// until Swap is called.
func New(cfg Config) (*Engine, error) {
	e := &Engine{enabled: make([]bool, len(ruleList)), override: make([]rxguardv1.Action, len(ruleList)),
		readmissionDays: DefaultReadmissionDays}
	for i := range e.enabled {
		e.enabled[i] = true
	}
	for t, rc := range cfg.Rules {
		s := ruleByType[t]
		if s == nil {
			return nil, &UnknownRuleError{Type: t}
		}
		e.enabled[s.order] = !rc.Disabled
		if rc.Action != "" {
			a, ok := ParseAction(rc.Action)
			if !ok {
				return nil, &InvalidActionError{Type: t, Action: rc.Action}
			}
			e.override[s.order] = a
		}
		if rc.WindowDays != nil {
			n := *rc.WindowDays
			if t != knowledge.RuleReadmission {
				return nil, &InvalidWindowError{Type: t, Days: n, Reason: "only READMISSION has a window_days setting; remove it"}
			}
			if n < 1 || n > MaxReadmissionDays {
				return nil, &InvalidWindowError{Type: t, Days: n, Reason: "must be 1 to " + strconv.Itoa(MaxReadmissionDays) + " days"}
			}
			e.readmissionDays = n
		}
	}
	return e, nil
}

// InvalidWindowError reports a window_days setting the engine refuses.
type InvalidWindowError struct {
	Type   knowledge.RuleType
	Days   int
	Reason string
}

func (e *InvalidWindowError) Error() string {
	return "engine.rules." + string(e.Type) + ".window_days " + strconv.Itoa(e.Days) + ": " + e.Reason
}

// ReadmissionDays is READMISSION's window N this engine applies.
func (e *Engine) ReadmissionDays() int { return e.readmissionDays }

// InvalidActionError reports a configured action that is not INFO/WARN/BLOCK.
type InvalidActionError struct {
	Type   knowledge.RuleType
	Action string
}

func (e *InvalidActionError) Error() string {
	return "rule " + string(e.Type) + ": action " + strconv.Quote(e.Action) + " is not INFO, WARN or BLOCK"
}

// Swap makes idx the active index and returns the previous one. The
// physician table is rebuilt from the new release and the feed.
func (e *Engine) Swap(idx *Index) *Index {
	e.physMu.Lock()
	defer e.physMu.Unlock()
	old := e.active.Swap(idx)
	if old != nil && idx != nil && old.physicians == idx.physicians {
		// A delta compiled into the previous index (CompileDelta) keeps
		// its physicians: the table folded with the feed stays valid.
		return old
	}
	e.rebuildPhysicians(idx)
	return old
}

// SetPhysicianFeed replaces the bureau feed's events (all of them, in any
// order) the physician table folds besides the active release's own.
func (e *Engine) SetPhysicianFeed(events []knowledge.PhysicianEvent) {
	e.physMu.Lock()
	defer e.physMu.Unlock()
	e.feed = events
	e.rebuildPhysicians(e.active.Load())
}

func (e *Engine) rebuildPhysicians(idx *Index) {
	switch {
	case idx == nil:
		e.phys.Store(CompilePhysicians(nil, e.feed))
	case len(e.feed) == 0:
		e.phys.Store(idx.physicians)
	default:
		e.phys.Store(idx.physicians.withFeed(e.feed))
	}
}

// Physicians returns the physician status table checks use now.
func (e *Engine) Physicians() *Physicians { return e.phys.Load() }

// Index returns the active index (nil before the first Swap).
func (e *Engine) Index() *Index { return e.active.Load() }

// Result is one evaluation.
type Result struct {
	// Physician is the ordering physician's qualification at check_time.
	Physician PhysicianState
	Verdict   rxguardv1.Verdict
	Findings  []*rxguardv1.Finding
	Version   string
	Elapsed   time.Duration
}

// Check evaluates one validated request against the active index. It never
// blocks and never fails: without an index it returns nil (the caller
// answers Unavailable).
func (e *Engine) Check(in *Input) *Result {
	start := time.Now()
	idx := e.active.Load()
	if in.Needs != nil {
		idx = in.Needs.idx
	}
	if idx == nil {
		return nil
	}
	ev := newEvaluation(in, idx, e.phys.Load())
	ev.readmissionDays = e.readmissionDays
	ev.byCode.walk = e.historyWalk
	for li, o := range in.Req.Orders {
		insured := ev.lines[li].insured
		for _, s := range lineRules {
			if !e.enabled[s.order] || (s.payment && !insured) {
				continue
			}
			for _, v := range s.checkLine(ev, li) {
				ev.add(s, e.override[s.order], li, v.ruleID, v)
			}
		}
		entry, known := idx.lookup(o.ItemCode)
		byName := false
		if !known && isDrug(o.Kind) {
			// A code no batch binds, on a line whose name is a restricted
			// generic name: the batch's restriction applies by name (a
			// name never makes the code known: UNKNOWN_ITEM still says
			// what is wrong with it).
			entry, byName = idx.byDrugName(o.ItemName), true
		}
		if entry == nil {
			continue
		}
		for bi := range entry.checks {
			b := &entry.checks[bi]
			s := b.spec
			if !e.enabled[s.order] || (s.payment && !insured) {
				continue
			}
			if ev.hasFired(s.order, li) {
				continue
			}
			v, ok := s.check(ev, li, b)
			if !ok {
				continue
			}
			ev.markFired(s.order, li)
			if len(v.fixes) > 0 {
				v.fixes = tightenFixes(ev, li, entry.checks[bi+1:], s, v.fixes)
			}
			if byName {
				v.evidence = ev.cat(v.evidence, "；按药品通用名“", entry.name, "”匹配（编码 ", o.ItemCode, " 未被该批次收录）")
			}
			ev.add(s, e.override[s.order], li, ev.restrictionKey(b.r), v)
		}
	}
	for _, s := range requestRules {
		if !e.enabled[s.order] {
			continue
		}
		for _, v := range s.checkRequest(ev) {
			ev.add(s, e.override[s.order], len(ev.lines), v.ruleID, v)
		}
	}
	res := &Result{Findings: ev.out, Version: idx.Version(), Physician: ev.physician()}
	rank(ev, res)
	res.Elapsed = time.Since(start)
	return res
}

// tightenFixes makes the fixes of the finding reported for rule type s on
// line li clear the restrictions of s after it in rest too (one finding per
// rule and line reports only the first that fires). Reductions are
// monotone — fewer units or days never make a passing restriction fire —
// so only those that fire as well matter. Runs only when a finding fired.
func tightenFixes(ev *evaluation, li int, rest []bound, s *ruleSpec, fs []*rxguardv1.Fix) []*rxguardv1.Fix {
	for i := range rest {
		if rest[i].spec != s {
			continue
		}
		if w, ok := s.check(ev, li, &rest[i]); ok {
			fs = mergeFixes(fs, w.fixes)
		}
	}
	return fs
}

func (ev *evaluation) hasFired(rule, line int) bool {
	_, ok := ev.fired[firedKey{rule, line}]
	return ok
}

func (ev *evaluation) markFired(rule, line int) {
	if ev.fired == nil {
		ev.fired = make(map[firedKey]struct{}, 4)
	}
	ev.fired[firedKey{rule, line}] = struct{}{}
}

// add records a finding anchored on line li (len(lines) for a request-level
// finding, which sorts after the lines).
func (ev *evaluation) add(s *ruleSpec, override rxguardv1.Action, li int, ruleID string, v violation) {
	action := s.action
	if v.action != rxguardv1.Action_ACTION_UNSPECIFIED {
		action = v.action
	}
	if override != rxguardv1.Action_ACTION_UNSPECIFIED {
		action = override
	}
	var lines []string
	if n := len(v.otherLines); !v.noLine || n > 0 {
		if !v.noLine {
			n++
		}
		lines = ev.lineIDs(n)
		if !v.noLine {
			lines = append(lines, ev.req.Orders[li].LineId)
		}
	}
	for _, o := range v.otherLines {
		lines = append(lines, ev.req.Orders[o].LineId)
	}
	evidence := v.evidence
	if len(ev.in.Normalised) > 0 {
		evidence += ev.normalisedNote(s, li, v)
	}
	f := ev.newFinding()
	f.RuleId = ruleID
	f.RuleType = string(s.typ)
	f.Action = action
	f.LineIds = lines
	f.Message = v.message
	f.Evidence = ev.cat(evidence, ev.idx.evidenceSuffix)
	f.Suggestion = v.suggestion
	f.Overridable = action != rxguardv1.Action_ACTION_BLOCK
	f.Source = "builtin"
	f.Fixes = v.fixes
	if ev.out == nil {
		ev.out = make([]*rxguardv1.Finding, 0, slabSize(len(ev.lines)))
		ev.firstLine = make([]int, 0, slabSize(len(ev.lines)))
	}
	ev.out = append(ev.out, f)
	ev.lineOf(len(ev.out)-1, li)
}

// lineOf remembers the first line of each finding for ranking.
func (ev *evaluation) lineOf(finding, line int) {
	for len(ev.firstLine) <= finding {
		ev.firstLine = append(ev.firstLine, 0)
	}
	ev.firstLine[finding] = line
}

// rank orders findings by action (BLOCK first), then by line order, and
// derives the verdict from the strongest action (RULES.md).
func rank(ev *evaluation, res *Result) {
	// A stable insertion sort in place, moving each finding's first line
	// with it: findings are few (about one per line), and sort.SliceStable
	// cost three allocations a check.
	fs, first := res.Findings, ev.firstLine
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && ranksBefore(fs[j], first[j], fs[j-1], first[j-1]); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
			first[j], first[j-1] = first[j-1], first[j]
		}
	}
	res.Verdict = verdictOf(res.Findings)
}

// ranksBefore: a stronger action first (BLOCK), then the earlier line.
func ranksBefore(a *rxguardv1.Finding, aLine int, b *rxguardv1.Finding, bLine int) bool {
	if a.Action != b.Action {
		return a.Action > b.Action
	}
	return aLine < bLine
}

// dayString formats a local day number as YYYY-MM-DD.
func dayString(day int) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format("2006-01-02")
}

// normalisedNote tells, in a finding's evidence, which of the codes it was
// judged on arrived in another form (padded, lower case) and was
// normalised first (knowledge.CanonicalCode): the line's own item codes,
// and the physician's code for the qualification rule.
func (ev *evaluation) normalisedNote(s *ruleSpec, li int, v violation) string {
	var note string
	for _, n := range ev.in.Normalised {
		mine := n.Line >= 0 && !v.noLine && n.Line == li
		for _, o := range v.otherLines {
			mine = mine || n.Line == o
		}
		if n.Line < 0 && n.Field == "physician.code" && s == physicianQualificationRule {
			mine = true
		}
		if mine {
			note = ev.cat(note, "；编码已规范化：", n.Field, " 收到", strconv.Quote(n.From), "，按 ", n.To, " 核对")
		}
	}
	return note
}

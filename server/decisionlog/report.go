package decisionlog

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// TopItems is how many items a report lists.
const TopItems = 10

// PhysicianReport summarises one physician's decisions in [from, to) (zero:
// unbounded): decisions by verdict, findings by rule type with how many
// were continued, modified or left unanswered (by each finding's latest
// response revision), and the TopItems items most often flagged. It reads
// the physician's index, not every decision. Status is the caller's to
// fill (it comes from the knowledge release, not the log). Physician,
// department and item codes are matched and reported in canonical form
// (knowledge.CanonicalCode), however the HIS padded or cased them.
func (l *Log) PhysicianReport(ctx context.Context, physicianCode string, from, to time.Time) (*rxguardv1.GetPhysicianReportResponse, error) {
	physicianCode = canonical(physicianCode)
	a := newAggregate()
	if err := l.scan(ctx, Query{From: from, To: to, PhysicianCode: physicianCode}, a.add); err != nil {
		return nil, err
	}
	return &rxguardv1.GetPhysicianReportResponse{
		PhysicianCode: physicianCode,
		Name:          a.physicianName(physicianCode),
		From:          formatTime(from),
		To:            formatTime(to),
		Decisions:     a.decisions,
		ByVerdict:     a.byVerdict(),
		ByRuleType:    a.byRuleType(),
		TopItems:      a.topItems(),
	}, nil
}

// DepartmentReport is PhysicianReport for a department (a decision's
// department is its encounter's, else its physician's), with a summary
// per physician, most decisions first.
func (l *Log) DepartmentReport(ctx context.Context, dept string, from, to time.Time) (*rxguardv1.GetDepartmentReportResponse, error) {
	dept = canonical(dept)
	a := newAggregate()
	if err := l.scan(ctx, Query{From: from, To: to, DepartmentCode: dept}, a.add); err != nil {
		return nil, err
	}
	return &rxguardv1.GetDepartmentReportResponse{
		DepartmentCode: dept,
		From:           formatTime(from),
		To:             formatTime(to),
		Decisions:      a.decisions,
		ByVerdict:      a.byVerdict(),
		ByRuleType:     a.byRuleType(),
		TopItems:       a.topItems(),
		Physicians:     a.physicianSummaries(),
	}, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// aggregate accumulates a report, one decision at a time (memory grows
// with distinct physicians, rule types and items, not with decisions).
type aggregate struct {
	decisions  int64
	verdicts   map[rxguardv1.Verdict]int64
	ruleTypes  map[string]*rxguardv1.RuleTypeCount
	items      map[string]*rxguardv1.ItemCount
	physicians map[string]*rxguardv1.PhysicianSummary
}

func newAggregate() *aggregate {
	return &aggregate{
		verdicts:   map[rxguardv1.Verdict]int64{},
		ruleTypes:  map[string]*rxguardv1.RuleTypeCount{},
		items:      map[string]*rxguardv1.ItemCount{},
		physicians: map[string]*rxguardv1.PhysicianSummary{},
	}
}

func (a *aggregate) add(d *rxguardv1.Decision) {
	req, resp := d.GetRequest(), d.GetResponse()
	a.decisions++
	a.verdicts[resp.GetVerdict()]++

	code := physicianOf(req)
	p := a.physicians[code]
	if p == nil {
		// Decisions come newest first: the name is the latest one.
		p = &rxguardv1.PhysicianSummary{PhysicianCode: code, Name: req.GetPhysician().GetName()}
		a.physicians[code] = p
	}
	p.Decisions++
	switch resp.GetVerdict() {
	case rxguardv1.Verdict_VERDICT_BLOCK:
		p.Blocked++
	case rxguardv1.Verdict_VERDICT_WARN:
		p.Warned++
	}

	// The latest revision of each finding's response (responses are in
	// the order recorded).
	latest := LatestResponses(d)
	for _, f := range resp.GetFindings() {
		rt := a.ruleTypes[f.GetRuleType()]
		if rt == nil {
			rt = &rxguardv1.RuleTypeCount{RuleType: f.GetRuleType()}
			a.ruleTypes[f.GetRuleType()] = rt
		}
		rt.Findings++
		switch latest[f.GetFindingId()].GetResponse() {
		case rxguardv1.Response_RESPONSE_CONTINUE:
			rt.Continued++
			p.Continued++
		case rxguardv1.Response_RESPONSE_MODIFY:
			rt.Modified++
			p.Modified++
		default:
			rt.Unanswered++
		}
		// Each item the finding flags, once per finding, by canonical
		// code.
		for i, lineID := range f.GetLineIds() {
			o := orderLine(req, lineID)
			if o == nil {
				continue
			}
			item := canonical(o.GetItemCode())
			if item == "" || flaggedBefore(req, f.GetLineIds()[:i], item) {
				continue
			}
			it := a.items[item]
			if it == nil {
				it = &rxguardv1.ItemCount{ItemCode: item}
				a.items[item] = it
			}
			if it.ItemName == "" {
				it.ItemName = o.GetItemName()
			}
			it.Findings++
		}
	}
}

func orderLine(req *rxguardv1.CheckOrdersRequest, lineID string) *rxguardv1.OrderLine {
	for _, o := range req.GetOrders() {
		if o.GetLineId() == lineID {
			return o
		}
	}
	return nil
}

// flaggedBefore: an earlier line of the same finding has the same item
// (itemCode is canonical).
func flaggedBefore(req *rxguardv1.CheckOrdersRequest, lineIDs []string, itemCode string) bool {
	for _, id := range lineIDs {
		if o := orderLine(req, id); o != nil && canonical(o.GetItemCode()) == itemCode {
			return true
		}
	}
	return false
}

func (a *aggregate) physicianName(code string) string {
	if p := a.physicians[code]; p != nil {
		return p.Name
	}
	return ""
}

// byVerdict lists PASS, WARN and BLOCK (zeros included) and any other
// verdict seen.
func (a *aggregate) byVerdict() []*rxguardv1.VerdictCount {
	out := []*rxguardv1.VerdictCount{}
	for _, v := range []rxguardv1.Verdict{rxguardv1.Verdict_VERDICT_PASS, rxguardv1.Verdict_VERDICT_WARN, rxguardv1.Verdict_VERDICT_BLOCK} {
		out = append(out, &rxguardv1.VerdictCount{Verdict: v, Decisions: a.verdicts[v]})
	}
	for v, n := range a.verdicts {
		if v < rxguardv1.Verdict_VERDICT_PASS || v > rxguardv1.Verdict_VERDICT_BLOCK {
			out = append(out, &rxguardv1.VerdictCount{Verdict: v, Decisions: n})
		}
	}
	slices.SortStableFunc(out[3:], func(x, y *rxguardv1.VerdictCount) int { return cmp.Compare(x.Verdict, y.Verdict) })
	return out
}

// byRuleType: most findings first.
func (a *aggregate) byRuleType() []*rxguardv1.RuleTypeCount {
	return byCount(a.ruleTypes, func(x *rxguardv1.RuleTypeCount) (int64, string) { return x.Findings, x.RuleType })
}

// topItems: the TopItems items most often flagged, most first.
func (a *aggregate) topItems() []*rxguardv1.ItemCount {
	out := byCount(a.items, func(x *rxguardv1.ItemCount) (int64, string) { return x.Findings, x.ItemCode })
	return out[:min(len(out), TopItems)]
}

// physicianSummaries: most decisions first.
func (a *aggregate) physicianSummaries() []*rxguardv1.PhysicianSummary {
	return byCount(a.physicians, func(x *rxguardv1.PhysicianSummary) (int64, string) { return x.Decisions, x.PhysicianCode })
}

// byCount is m's values, the largest count first, ties by key.
func byCount[T any](m map[string]T, key func(T) (count int64, name string)) []T {
	return slices.SortedFunc(maps.Values(m), func(x, y T) int {
		cx, nx := key(x)
		cy, ny := key(y)
		return cmp.Or(cmp.Compare(cy, cx), cmp.Compare(nx, ny))
	})
}

package decisionlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

var ruleTypes = []string{"DRUG_GENDER", "PAYMENT_COURSE", "ITEM_FREQUENCY", "DUPLICATE_CHARGE", "NOT_COVERED", "UNKNOWN_ITEM"}

// corpus is a store of random decisions and the same decisions in memory,
// to check queries against a brute-force filter.
type corpus struct {
	l       *Log
	entries []Entry
	answers map[string]map[string]bool // decision id → finding ids answered
}

func newCorpus(t *testing.T, n int) *corpus {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	c := &corpus{l: openTest(t, Options{}), answers: map[string]map[string]bool{}}
	physDept := []string{"A01", "A01", "A02", "A03", "A03"}
	for i := range n {
		p := r.IntN(len(physDept))
		s := spec{
			at:            t0.Add(time.Duration(r.IntN(10*24*3600)) * time.Second),
			seq:           uint64(i),
			physician:     fmt.Sprintf("D%d", p),
			physicianName: fmt.Sprintf("医师%d", p),
			physDept:      physDept[p],
			patient:       fmt.Sprintf("P%02d", r.IntN(20)),
			lines:         1 + r.IntN(4),
		}
		if r.IntN(3) > 0 {
			s.encDept = []string{"A01", "A02", "A03", "E01"}[r.IntN(4)]
		}
		s.verdict = rxguardv1.Verdict_VERDICT_PASS
		for range r.IntN(4) {
			act := []rxguardv1.Action{rxguardv1.Action_ACTION_INFO, rxguardv1.Action_ACTION_WARN, rxguardv1.Action_ACTION_BLOCK}[r.IntN(3)]
			s.findings = append(s.findings, fspec{
				ruleType: ruleTypes[r.IntN(len(ruleTypes))], action: act,
				overridable: act != rxguardv1.Action_ACTION_BLOCK || r.IntN(4) == 0, lines: []int{r.IntN(s.lines)},
			})
			if act == rxguardv1.Action_ACTION_WARN && s.verdict == rxguardv1.Verdict_VERDICT_PASS {
				s.verdict = rxguardv1.Verdict_VERDICT_WARN
			}
			if act == rxguardv1.Action_ACTION_BLOCK {
				s.verdict = rxguardv1.Verdict_VERDICT_BLOCK
			}
		}
		e := entry(s)
		c.entries = append(c.entries, e)
		c.l.Append(context.Background(), e)
	}
	flush(t, c.l)
	// Newest first, as queries answer.
	slices.SortFunc(c.entries, func(a, b Entry) int { return strings.Compare(b.ID, a.ID) })
	return c
}

func (c *corpus) matches(e Entry, q Query) bool {
	u, _ := parseID(e.ID)
	at := u.Time()
	switch {
	case !q.From.IsZero() && at.Before(q.From.Truncate(time.Millisecond)):
	case !q.To.IsZero() && !at.Before(q.To.Truncate(time.Millisecond)):
	case q.PhysicianCode != "" && e.Request.Physician.Code != q.PhysicianCode:
	case q.DepartmentCode != "" && DepartmentOf(e.Request) != q.DepartmentCode:
	case q.PatientID != "" && e.Request.Patient.Id != q.PatientID:
	case q.Verdict != 0 && e.Response.Verdict != q.Verdict:
	case q.RuleType != "" && !slices.ContainsFunc(e.Response.Findings, func(f *rxguardv1.Finding) bool { return f.RuleType == q.RuleType }):
	case q.UnansweredOnly && !c.unanswered(e):
	default:
		return true
	}
	return false
}

func (c *corpus) unanswered(e Entry) bool {
	for _, f := range e.Response.Findings {
		if NeedsAnswer(f) && !c.answers[e.ID][f.FindingId] {
			return true
		}
	}
	return false
}

func (c *corpus) want(q Query) []string {
	var ids []string
	for _, e := range c.entries {
		if c.matches(e, q) {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// all runs q over every page.
func all(t *testing.T, l *Log, q Query) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		decs, next, err := l.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		if q.PageSize > 0 && len(decs) > q.PageSize {
			t.Fatalf("page of %d, page size %d", len(decs), q.PageSize)
		}
		for _, d := range decs {
			ids = append(ids, d.DecisionId)
		}
		if next == "" {
			return ids
		}
		if len(decs) == 0 {
			t.Fatal("an empty page with a next token")
		}
		q.PageToken = next
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestQueryMatchesBruteForce(t *testing.T) {
	c := newCorpus(t, 600)
	day := 24 * time.Hour
	queries := []Query{
		{},
		{PhysicianCode: "D1"},
		{PhysicianCode: "D9"},
		{DepartmentCode: "A01"},
		{DepartmentCode: "E01"},
		{PatientID: "P07"},
		{Verdict: rxguardv1.Verdict_VERDICT_BLOCK},
		{Verdict: rxguardv1.Verdict_VERDICT_PASS},
		{RuleType: "DUPLICATE_CHARGE"},
		{UnansweredOnly: true},
		{From: t0.Add(2 * day), To: t0.Add(5 * day)},
		{From: t0.Add(9 * day)},
		{To: t0.Add(day)},
		{From: t0.Add(3 * day), To: t0.Add(3 * day)},
		{PhysicianCode: "D3", Verdict: rxguardv1.Verdict_VERDICT_WARN},
		{DepartmentCode: "A03", RuleType: "NOT_COVERED", From: t0.Add(day), To: t0.Add(8 * day)},
		{PatientID: "P03", PhysicianCode: "D0"},
		{PhysicianCode: "D2", DepartmentCode: "A02", RuleType: "UNKNOWN_ITEM", UnansweredOnly: true},
		{Verdict: rxguardv1.Verdict_VERDICT_BLOCK, RuleType: "DRUG_GENDER", UnansweredOnly: true, From: t0.Add(4 * day)},
	}
	check := func(t *testing.T) {
		for _, q := range queries {
			for _, size := range []int{0, 7, 1} {
				q.PageSize = size
				if got, want := all(t, c.l, q), c.want(q); !slices.Equal(got, want) {
					t.Errorf("query %+v: %d decisions, want %d\ngot  %.5v\nwant %.5v", q, len(got), len(want), got, want)
				}
			}
		}
	}
	check(t)

	// Answer every finding that needs it in some decisions, and some of
	// the findings in others: unanswered_only follows.
	ctx := context.Background()
	answeredAll := 0
	for i, e := range c.entries {
		var rs []*rxguardv1.FindingResponse
		for j, f := range e.Response.Findings {
			if i%3 == 0 || (i%3 == 1 && j == 0) {
				rs = append(rs, modify(f.FindingId))
			}
		}
		if len(rs) == 0 {
			continue
		}
		if _, err := c.l.RecordResponses(ctx, e.ID, rs, time.Time{}); err != nil {
			t.Fatal(err)
		}
		was := c.unanswered(e)
		if c.answers[e.ID] == nil {
			c.answers[e.ID] = map[string]bool{}
		}
		for _, r := range rs {
			c.answers[e.ID][r.FindingId] = true
		}
		if was && !c.unanswered(e) {
			answeredAll++
		}
	}
	if answeredAll == 0 {
		t.Fatal("the test answered no decision completely")
	}
	check(t)
}

func TestQueryPagesNewestFirst(t *testing.T) {
	l := openTest(t, Options{})
	var ids []string
	for i := range 25 {
		s := warnSpec(uint64(i))
		s.at = t0.Add(time.Duration(i) * time.Minute)
		e := entry(s)
		l.Append(context.Background(), e)
		ids = append(ids, e.ID)
	}
	flush(t, l)
	slices.Reverse(ids)
	q := Query{PhysicianCode: "D370800000001", PageSize: 10}
	var pages [][]string
	for {
		decs, next, err := l.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, d := range decs {
			page = append(page, d.DecisionId)
		}
		pages = append(pages, page)
		if next == "" {
			break
		}
		q.PageToken = next
	}
	if len(pages) != 3 || !slices.Equal(pages[0], ids[:10]) || !slices.Equal(pages[1], ids[10:20]) || !slices.Equal(pages[2], ids[20:]) {
		t.Fatalf("pages %v, want %v in pages of 10", pages, ids)
	}
	// An exact page: no empty last page.
	if _, next, _ := l.Query(context.Background(), Query{PageSize: 25}); next != "" {
		t.Fatal("a page holding the last decision has a next token")
	}
	// Page sizes are bounded.
	if decs, _, _ := l.Query(context.Background(), Query{PageSize: 5000}); len(decs) != 25 {
		t.Fatalf("%d decisions", len(decs))
	}
}

func TestQueryBadPageToken(t *testing.T) {
	l := openTest(t, Options{})
	for i := range 3 {
		l.Append(context.Background(), entry(warnSpec(uint64(i))))
	}
	flush(t, l)
	_, next, err := l.Query(context.Background(), Query{PageSize: 1, PhysicianCode: "D370800000001"})
	if err != nil || next == "" {
		t.Fatal(next, err)
	}
	for name, q := range map[string]Query{
		"garbage":       {PageToken: "%%%"},
		"truncated":     {PhysicianCode: "D370800000001", PageToken: next[:10]},
		"other filters": {PhysicianCode: "D370800000002", PageToken: next},
		"other range":   {PhysicianCode: "D370800000001", From: t0, PageToken: next},
	} {
		if _, _, err := l.Query(context.Background(), q); !errors.Is(err, ErrBadPageToken) {
			t.Errorf("%s: %v, want ErrBadPageToken", name, err)
		}
	}
	// The same filters with another page size: fine.
	if _, _, err := l.Query(context.Background(), Query{PageSize: 2, PhysicianCode: "D370800000001", PageToken: next}); err != nil {
		t.Error(err)
	}
}

func TestDepartmentFallsBackToPhysicians(t *testing.T) {
	l := openTest(t, Options{})
	s := warnSpec(1)
	s.encDept, s.physDept = "", "B07"
	e := entry(s)
	l.Append(context.Background(), e)
	s2 := warnSpec(2)
	s2.encDept, s2.physDept = "C01", "B07"
	l.Append(context.Background(), entry(s2))
	flush(t, l)
	if got := all(t, l, Query{DepartmentCode: "B07"}); !slices.Equal(got, []string{e.ID}) {
		t.Fatalf("department B07: %v, want only the decision without an encounter department", got)
	}
}

func TestExportRoundTrip(t *testing.T) {
	c := newCorpus(t, 700) // more than one export page
	ctx := context.Background()
	// Some decisions with responses and signed lines.
	for _, e := range c.entries[:50] {
		if len(e.Response.Findings) == 0 {
			continue
		}
		if _, err := c.l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := c.l.LinkSigned(ctx, e.ID, []string{"1"}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	n, err := c.l.Export(ctx, Query{}, &buf)
	if err != nil || n != len(c.entries) {
		t.Fatalf("export: %d, %v; want %d", n, err, len(c.entries))
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		var d rxguardv1.Decision
		if err := protojson.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("line %d: %v", lines+1, err)
		}
		if d.DecisionId != c.entries[lines].ID {
			t.Fatalf("line %d is %s, want %s (newest first)", lines+1, d.DecisionId, c.entries[lines].ID)
		}
		got, err := c.l.Get(ctx, d.DecisionId)
		if err != nil || !proto.Equal(&d, got) {
			t.Fatalf("line %d does not round-trip to Get: %v", lines+1, err)
		}
		lines++
	}
	if lines != n {
		t.Fatalf("%d lines, Export said %d", lines, n)
	}

	// With filters.
	buf.Reset()
	q := Query{PhysicianCode: "D2", Verdict: rxguardv1.Verdict_VERDICT_BLOCK}
	if n, err := c.l.Export(ctx, q, &buf); err != nil || n != len(c.want(q)) || strings.Count(buf.String(), "\n") != n {
		t.Fatalf("filtered export: %d, %v; want %d", n, err, len(c.want(q)))
	}
}

func TestQueryContextEnded(t *testing.T) {
	l := openTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := l.Query(ctx, Query{}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, err := l.Export(ctx, Query{}, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

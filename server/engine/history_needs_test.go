package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
)

// TestHistoryNeedsDifferential: for random orders and recorded histories
// on the demo release, the findings with the recorded history filtered by
// HistoryNeeds equal the findings with all of it — with every rule type
// at once, and with each history-reading rule type alone (only it enabled,
// only its own needs), so that declarations which overlap (a restriction's
// code is usually its line's) must each suffice. Codes are drawn mostly
// from what those rules name (restriction and 主项 codes, course and
// surgery groups, drugs and interaction partners, recognition items).
func TestHistoryNeedsDifferential(t *testing.T) {
	g, idx := newHistoryGen(t, 14)
	for _, only := range append([]*ruleSpec{nil}, ruleList...) {
		if only != nil && only.needs == nil {
			continue
		}
		name := "all"
		if only != nil {
			name = string(only.typ)
		}
		t.Run(name, func(t *testing.T) {
			e, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			e.Swap(idx)
			if only != nil {
				for i := range e.enabled {
					e.enabled[i] = i == only.order
				}
			}
			differential(t, e, g, only, 3000)
		})
	}
}

// newHistoryGen compiles the demo release and draws from its
// history-relevant codes with the given seed.
func newHistoryGen(t *testing.T, seed uint64) (g *historyGen, idx *Index) {
	t.Helper()
	m, records, _, err := demo.Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	content, err := knowledge.ContentFromRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	idx, err = Compile(m, content)
	if err != nil {
		t.Fatal(err)
	}
	g = &historyGen{rng: rand.New(rand.NewPCG(seed, 3)), idx: idx, checkAt: mustTime(t, checkTime)}
	for _, r := range content.Restrictions {
		switch r.Type {
		case knowledge.RulePaymentCourse, knowledge.RuleItemFrequency, knowledge.RuleItemPeriodFrequency,
			knowledge.RuleItemCourse, knowledge.RuleDuplicateCharge, knowledge.RuleSurgeryGroup:
			g.pool = append(g.pool, r.Code)
			if r.PrimaryCode != "" {
				g.pool = append(g.pool, r.PrimaryCode)
			}
		}
	}
	partners := map[string]bool{}
	for _, it := range content.Interactions {
		partners[it.DrugA], partners[it.DrugB] = true, true
	}
	for _, d := range content.Drugs {
		g.pool = append(g.pool, d.Code)
		g.drugs = append(g.drugs, d.Code)
		if partners[d.GenericName] { // weighted: pairs must meet often
			g.pool = append(g.pool, d.Code, d.Code, d.Code)
		}
	}
	for _, r := range content.Recognition {
		g.pool = append(g.pool, r.Code)
	}
	if len(g.pool) < 100 || len(g.drugs) < 10 {
		t.Fatalf("demo release gives only %d history-relevant codes, %d drugs", len(g.pool), len(g.drugs))
	}
	return g, idx
}

// historyGen draws random orders and recorded histories.
type historyGen struct {
	rng     *rand.Rand
	idx     *Index
	pool    []string // codes history-reading rules name
	drugs   []string // drug codes, for drug-only cases
	checkAt time.Time
}

func (g *historyGen) code(drugCase bool) string {
	switch {
	case drugCase:
		return g.drugs[g.rng.IntN(len(g.drugs))]
	case g.rng.IntN(10) == 0:
		return fmt.Sprintf("0012%011d", g.rng.IntN(50)) // on no rule
	}
	return g.pool[g.rng.IntN(len(g.pool))]
}

func (g *historyGen) kind(c string) rxguardv1.ItemKind {
	if ref, _ := g.idx.byCode.get(c); isDrugCode(c) || ref.drug != 0 {
		return rxguardv1.ItemKind_ITEM_DRUG
	}
	return rxguardv1.ItemKind_ITEM_SERVICE
}

// request is an order of 1–6 lines and up to 60 recorded entries, oldest
// first as the store returns them: on the order's own codes, other
// relevant codes and unrelated ones, half of them within the last 4 days
// (so supplies still run), in the encounter or an earlier one.
func (g *historyGen) request(drugCase bool) (*rxguardv1.CheckOrdersRequest, []HistoryEntry) {
	rng := g.rng
	req := baseRequest()
	if rng.IntN(2) == 0 {
		req.Scene = rxguardv1.Scene_SCENE_INPATIENT
		req.Encounter.Type = rxguardv1.EncounterType_ENCOUNTER_INPATIENT
	}
	for i := range 1 + rng.IntN(6) {
		cd := g.code(drugCase)
		req.Orders = append(req.Orders, &rxguardv1.OrderLine{LineId: fmt.Sprint(i), ItemCode: cd, ItemName: g.idx.Name(cd),
			Kind: g.kind(cd), Quantity: float64(rng.IntN(6)), Days: int32(rng.IntN(40)), SelfPay: rng.IntN(8) == 0})
	}
	var recorded []HistoryEntry
	for range rng.IntN(60) {
		cd := g.code(drugCase)
		if rng.IntN(3) == 0 {
			cd = req.Orders[rng.IntN(len(req.Orders))].ItemCode
		}
		enc := "E1"
		if rng.IntN(3) == 0 {
			enc = "E0"
		}
		back := time.Duration(rng.IntN([]int{4, 90}[rng.IntN(2)]*24)) * time.Hour
		recorded = append(recorded, HistoryEntry{ItemCode: cd, Quantity: float64(rng.IntN(4)), Days: int32(rng.IntN(30)),
			Time: g.checkAt.Add(-back), EncounterID: enc,
			HospitalCode: []string{"", "H1", "H2"}[rng.IntN(3)], ReportID: fmt.Sprint("R", rng.IntN(5))})
	}
	for i := 1; i < len(recorded); i++ {
		for j := i; j > 0 && recorded[j].Time.Before(recorded[j-1].Time); j-- {
			recorded[j], recorded[j-1] = recorded[j-1], recorded[j]
		}
	}
	return req, recorded
}

func differential(t *testing.T, e *Engine, g *historyGen, only *ruleSpec, cases int) {
	filteredOut := 0
	// fromHistory counts, per rule type, findings that only the recorded
	// history makes fire: each history-reading rule must be exercised.
	fromHistory := map[string]int{}
	for c := 0; c < cases; c++ {
		req, recorded := g.request(c%4 == 0)
		all := input(t, req)
		all.Recorded = HistoryEntries(recorded)
		want := e.Check(all)
		without := e.Check(input(t, req))
		for _, f := range want.Findings {
			found := false
			for _, w := range without.Findings {
				found = found || proto.Equal(f, w)
			}
			if !found {
				fromHistory[f.RuleType]++
			}
		}

		needs := e.Index().historyNeeds(req, only)
		var kept []HistoryEntry
		for _, h := range recorded {
			if needs.Keep(h.ItemCode) {
				kept = append(kept, h)
			}
		}
		filteredOut += len(recorded) - len(kept)
		in := input(t, req)
		in.Recorded, in.Needs = HistoryEntries(kept), needs
		got := e.Check(in)
		if got.Verdict != want.Verdict || len(got.Findings) != len(want.Findings) {
			t.Fatalf("case %d: filtered %s with %d findings, all %s with %d\norders %v\nrecorded %v\nkept %v",
				c, got.Verdict, len(got.Findings), want.Verdict, len(want.Findings), req.Orders, recorded, kept)
		}
		for i := range want.Findings {
			if !proto.Equal(got.Findings[i], want.Findings[i]) {
				t.Fatalf("case %d finding %d:\nfiltered %v\nall      %v", c, i, got.Findings[i], want.Findings[i])
			}
		}
	}
	// The test proves something only if the filter dropped entries and
	// history made the rules fire.
	if filteredOut == 0 {
		t.Fatalf("the filter dropped nothing in %d cases", cases)
	}
	for _, s := range ruleList {
		if s.needs != nil && (only == nil || s == only) && fromHistory[string(s.typ)] == 0 {
			t.Errorf("no case made %s fire from recorded history: its needs are untested", s.typ)
		}
	}
	t.Logf("%d cases, %d entries filtered out, findings from history: %v", cases, filteredOut, fromHistory)
}

// TestHistoryNeedsPinsIndex: Check judges with the index the needs were
// computed from, even after a newer one is swapped in.
func TestHistoryNeedsPinsIndex(t *testing.T) {
	e := testEngine(t, Config{})
	req := baseRequest()
	needs := e.HistoryNeeds(req)
	old := e.Index()
	newer, err := Compile(knowledge.Manifest{Version: "test-2"}, testContent())
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(newer)
	in := input(t, req)
	in.Needs = needs
	if got := e.Check(in).Version; got != old.Version() {
		t.Errorf("judged with %q, want the needs' index %q", got, old.Version())
	}
	if got := e.Check(input(t, req)).Version; got != "test-2" {
		t.Errorf("without needs judged with %q, want the active test-2", got)
	}
}

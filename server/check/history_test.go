package check

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

// entriesStore is a HistoryStore without views: Lookup returns its entries
// as they are (keep is then asked entry by entry).
type entriesStore []history.Entry

func (s entriesStore) Record(context.Context, string, []history.Entry) (int, error) { return 0, nil }
func (s entriesStore) Lookup(context.Context, string, time.Time, time.Time) ([]history.Entry, error) {
	return s, nil
}

// TestRecordedHistoryMatchesDefinition: recordedHistory hands the engine
// exactly the entries its definition keeps — at or before check_time, a
// code the needs keep, not this order's own line recorded earlier, not in
// the request's history[] (same canonical code, encounter and second) —
// in order, with canonical codes, whether or not some recorded codes are
// not canonical (padded, lower case: recorded before codes were
// canonicalised on the way in), for random histories against a store
// without views and the real store (a cache hit is indexed by code).
func TestRecordedHistoryMatchesDefinition(t *testing.T) {
	m, records, _, err := demo.Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := engine.CompileRecords(m, records)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	eng.Swap(idx)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	codes := []string{"001109000010000", "001103000010000", "001102000030000", "002503020030000", "XB01AXA223B002010100156", "ZD03AAA0043010100166", "001102000040000"}
	oddForm := func(c string) string {
		switch {
		case c[0] == 'X' || c[0] == 'Z':
			return c[:1] + "b" + c[2:] + " " // lower case and padded
		default:
			return " " + c + "\t"
		}
	}
	checkAt := time.Date(2026, 11, 22, 10, 0, 0, 0, engine.Shanghai)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name    string
		odd     bool // some recorded codes are not canonical
		cached  bool // the real store, read twice (the second read is a cache hit)
		history bool // the request carries history[] too
	}{
		{"canonical", false, false, false},
		{"canonical with history[]", false, false, true},
		{"odd codes", true, false, false},
		{"odd codes with history[]", true, false, true},
		{"store, canonical with history[]", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oddSeen := 0
			for trial := range 150 {
				req := &rxguardv1.CheckOrdersRequest{
					RequestId: "r", Scene: rxguardv1.Scene_SCENE_INPATIENT,
					Hospital:  &rxguardv1.Hospital{Code: "H1", Level: 3},
					Patient:   &rxguardv1.Patient{Id: fmt.Sprint("P", trial), Gender: rxguardv1.Gender_GENDER_MALE, BirthDate: "1960-01-01", InsuranceType: rxguardv1.InsuranceType_INSURANCE_EMPLOYEE},
					Encounter: &rxguardv1.Encounter{Id: "E1", Type: rxguardv1.EncounterType_ENCOUNTER_INPATIENT},
					Physician: &rxguardv1.Physician{Code: "D370800000001"},
					CheckTime: checkAt.Format(time.RFC3339),
				}
				for i := range 1 + rng.IntN(4) {
					req.Orders = append(req.Orders, &rxguardv1.OrderLine{LineId: fmt.Sprint("L", i), ItemCode: codes[rng.IntN(len(codes))],
						Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, Days: 1})
				}
				var stored []history.Entry
				for i := range rng.IntN(60) {
					c := codes[rng.IntN(len(codes))]
					if rng.IntN(4) == 0 {
						c = "0012000000" + fmt.Sprint(10000+rng.IntN(5)) // on no rule
					}
					e := history.Entry{ItemCode: c, Quantity: 1, Days: int32(rng.IntN(3)), EncounterID: []string{"E0", "E1"}[rng.IntN(2)],
						Time: checkAt.Add(-time.Duration(rng.IntN(30*24)) * time.Hour), LineID: fmt.Sprint("h", i)}
					if rng.IntN(8) == 0 {
						e.LineID = req.Orders[rng.IntN(len(req.Orders))].LineId // this order's line, recorded earlier
					}
					stored = append(stored, e)
				}
				if tc.history {
					for _, e := range stored {
						if rng.IntN(3) == 0 {
							req.History = append(req.History, &rxguardv1.HistoryOrder{ItemCode: e.ItemCode, Quantity: 1, Time: e.Time.Format(time.RFC3339), EncounterId: e.EncounterID})
						}
					}
				}
				if tc.odd {
					for i := range stored {
						if rng.IntN(3) == 0 {
							stored[i].ItemCode = oddForm(stored[i].ItemCode)
							oddSeen++
						}
					}
				}
				for i := 1; i < len(stored); i++ { // oldest first, as a store returns them
					for j := i; j > 0 && stored[j].Time.Before(stored[j-1].Time); j-- {
						stored[j], stored[j-1] = stored[j-1], stored[j]
					}
				}
				var store HistoryStore = entriesStore(stored)
				if tc.cached {
					hs, err := history.Open(context.Background(), history.Options{InMemory: true, Logger: quiet, Now: func() time.Time { return checkAt }})
					if err != nil {
						t.Fatal(err)
					}
					defer hs.Close()
					if _, err := hs.Record(context.Background(), req.Patient.Id, stored); err != nil {
						t.Fatal(err)
					}
					store = hs
					// The store's order of entries of one second is its own.
					if stored, err = hs.Lookup(context.Background(), req.Patient.Id, checkAt.Add(-HistoryWindow), checkAt); err != nil {
						t.Fatal(err)
					}
				}
				s := New(Options{Engine: eng, Limits: validate.DefaultLimits(), History: store, Logger: quiet, Now: func() time.Time { return checkAt }})
				p, err := validate.CheckOrders(req, validate.DefaultLimits(), checkAt)
				if err != nil {
					t.Fatal(err)
				}
				want := wantRecorded(eng, req, p, stored)
				for read := range 2 { // the real store's second read is its cache's
					got, needs := s.recordedHistory(context.Background(), req, p)
					if len(stored) > 0 && needs == nil {
						t.Fatalf("trial %d: no needs for %d entries", trial, len(stored))
					}
					n := 0
					if got != nil {
						n = got.Len()
					}
					if n != len(want) {
						t.Fatalf("trial %d read %d: %d entries, want %d\nstored %v\nwant %v", trial, read, n, len(want), stored, want)
					}
					for i := range n {
						g, w := got.At(i), want[i]
						code, tm, qty, days, enc := got.(*recorded).EventAt(i)
						if code != g.ItemCode || !tm.Equal(g.Time) || qty != g.Quantity || days != g.Days || enc != g.EncounterID {
							t.Fatalf("trial %d entry %d: EventAt %v %v %v %v %v, At %+v", trial, i, code, tm, qty, days, enc, g)
						}
						same := g.Time.Equal(w.Time) // the store keeps the instant, not the zone
						g.Time, w.Time = time.Time{}, time.Time{}
						if !same || g != w {
							t.Fatalf("trial %d read %d entry %d: %+v, want %+v", trial, read, i, got.At(i), want[i])
						}
					}
				}
			}
			if tc.odd && oddSeen == 0 {
				t.Fatal("no odd code recorded: the canonicalisation is untested")
			}
		})
	}
}

// wantRecorded is recordedHistory by its definition, entry by entry.
func wantRecorded(eng *engine.Engine, req *rxguardv1.CheckOrdersRequest, p validate.Parsed, stored []history.Entry) []engine.HistoryEntry {
	needs := eng.HistoryNeeds(req)
	var out []engine.HistoryEntry
	for _, e := range stored {
		c := canonical(e.ItemCode)
		if e.Time.After(p.CheckTime) || e.Time.Before(p.CheckTime.Add(-HistoryWindow)) || !needs.Keep(c) {
			continue
		}
		own, dup := false, false
		for _, o := range req.Orders {
			own = own || (e.EncounterID == req.Encounter.Id && e.LineID == o.LineId && canonical(o.ItemCode) == c)
		}
		for i, h := range req.History {
			dup = dup || (canonical(h.ItemCode) == c && h.EncounterId == e.EncounterID && p.HistoryTime[i].Unix() == e.Time.Unix())
		}
		if !own && !dup {
			out = append(out, engine.HistoryEntry{ItemCode: c, Quantity: e.Quantity, Days: e.Days, Time: e.Time,
				EncounterID: e.EncounterID, HospitalCode: e.HospitalCode, ReportID: e.ReportID})
		}
	}
	return out
}

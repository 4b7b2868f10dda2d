package synth

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/data"
	"github.com/rxguard/rxguard/knowledge/importer"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

var quiet = slog.New(slog.DiscardHandler)

func TestReleaseIsDeterministic(t *testing.T) {
	ctx := context.Background()
	o := Options{Entries: 6000, Rules: 4000, Seed: 42, NoOfficial: true}
	m1, r1, err := Release(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	m2, r2, err := Release(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Version != m2.Version || m1.ContentSHA256 != m2.ContentSHA256 || !slices.EqualFunc(r1, r2, sameRecord) {
		t.Fatalf("same options gave different releases: %s vs %s", m1.ContentSHA256, m2.ContentSHA256)
	}
	o.Seed = 43
	m3, _, err := Release(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if m3.ContentSHA256 == m1.ContentSHA256 {
		t.Fatal("another seed gave the same release")
	}
}

func sameRecord(a, b knowledge.Record) bool {
	return a.Class == b.Class && a.Key == b.Key && string(a.Value) == string(b.Value)
}

func TestCountsAndMix(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"generated only", Options{Entries: 10_000, Rules: 5_000, Seed: 1, NoOfficial: true}},
		{"official plus generated", Options{Entries: 20_000, Rules: 20_000, Seed: 2}},
		{"official only", Options{Entries: -1, Rules: -1, Seed: 3}}, // sizes filled in below
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Entries < 0 {
				official := importOfficial(t)
				tc.o.Entries, tc.o.Rules = entryCount(official), len(official.Restrictions)
			}
			m, records, err := Release(ctx, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Counts[knowledge.ClassRestriction]; got != tc.o.Rules {
				t.Errorf("restrictions = %d, want %d", got, tc.o.Rules)
			}
			if got := m.RecordCount - m.Counts[knowledge.ClassRestriction]; got != tc.o.Entries {
				t.Errorf("entries = %d, want %d", got, tc.o.Entries)
			}
			if m.RecordCount != len(records) {
				t.Errorf("manifest says %d records, release has %d", m.RecordCount, len(records))
			}
			content, err := knowledge.ContentFromRecords(records)
			if err != nil {
				t.Fatal(err)
			}
			checkCodes(t, content)
		})
	}
}

func importOfficial(t *testing.T) *knowledge.Content {
	t.Helper()
	c, _, err := importer.Import(context.Background(), data.FS)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkCodes: every code is canonical and in a national format, and every
// generated rule type's share is the batches' share.
func checkCodes(t *testing.T, c *knowledge.Content) {
	t.Helper()
	for _, r := range c.Restrictions {
		for _, code := range []string{r.Code, r.PrimaryCode} {
			if code == "" && r.Type != knowledge.RuleDuplicateCharge {
				continue
			}
			if canon, changed := knowledge.CanonicalCode(code); changed || !engine.WellFormedCode(canon) {
				t.Fatalf("restriction %s: code %q is not a well-formed canonical national code", r.Key(), code)
			}
		}
	}
	for _, d := range c.Drugs {
		if d.Source.Batch != "synthetic" {
			continue // the demo table's made-up codes
		}
		if !engine.WellFormedCode(d.Code) || len(d.Code) < 20 {
			t.Fatalf("drug %s %q: not a national drug code", d.GenericName, d.Code)
		}
	}
	for _, it := range c.Recognition {
		if len(it.Code) != 15 || !engine.WellFormedCode(it.Code) {
			t.Fatalf("recognition item %q: not a 15-digit service item", it.Code)
		}
	}
}

// The generated rules keep the official batches' proportions of rule types
// and the entries Mix's.
func TestProportions(t *testing.T) {
	official := importOfficial(t)
	want := map[knowledge.RuleType]float64{}
	for _, r := range official.Restrictions {
		want[r.Type]++
	}
	const rules, entries = 20_000, 30_000
	c, err := Content(context.Background(), Options{Entries: entries, Rules: rules, Seed: 9, NoOfficial: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[knowledge.RuleType]float64{}
	for _, r := range c.Restrictions {
		got[r.Type]++
	}
	for typ, n := range want {
		share := n / float64(len(official.Restrictions))
		if g := got[typ] / rules; math.Abs(g-share) > 0.001 {
			t.Errorf("%s: share %.4f, batches have %.4f", typ, g, share)
		}
	}
	classCount := map[knowledge.Class]int{
		knowledge.ClassDrug: len(c.Drugs), knowledge.ClassPhysicianEvent: len(c.PhysicianEvents), knowledge.ClassPhysician: len(c.Physicians),
		knowledge.ClassInteraction: len(c.Interactions), knowledge.ClassCatalogueDrug: len(c.Catalogue), knowledge.ClassRecognitionItem: len(c.Recognition),
	}
	for _, m := range Mix {
		if want := entries * m.PerMille / 1000; math.Abs(float64(classCount[m.Class]-want)) > 1 {
			t.Errorf("%s: %d entries, want %d", m.Class, classCount[m.Class], want)
		}
	}
	for _, e := range c.PhysicianEvents {
		if !slices.ContainsFunc(c.Physicians, func(p knowledge.PhysicianRecord) bool { return p.Code == e.PhysicianCode }) {
			t.Fatalf("event %d names physician %s, not in the registry", e.Seq, e.PhysicianCode)
		}
	}
}

func TestRefusesSizesBelowTheOfficialData(t *testing.T) {
	_, err := Content(context.Background(), Options{Entries: 10, Rules: 10, Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "-no-official") {
		t.Fatalf("err = %v, want a refusal naming -no-official", err)
	}
	if _, err := Content(context.Background(), Options{Entries: -1, Rules: 1, NoOfficial: true}); err == nil {
		t.Fatal("negative entries accepted")
	}
}

// The release goes through the store and the engine like any other, and a
// check against a generated rule finds it.
func TestReleaseImportsCompilesAndChecks(t *testing.T) {
	ctx := context.Background()
	m, records, err := Release(ctx, Options{Entries: 30_000, Rules: 20_000, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutRelease(ctx, m, records); err != nil {
		t.Fatal(err)
	}
	if err := st.Activate(ctx, m.Version); err != nil {
		t.Fatal(err)
	}
	back, err := st.Records(ctx, m.Version)
	if err != nil {
		t.Fatal(err)
	}
	content, err := knowledge.ContentFromRecords(back)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := engine.Compile(m, content)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	eng.Swap(idx)
	svc := check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quiet})

	// A generated female-only drug (DRUG_GENDER) ordered for a man.
	var female *knowledge.Restriction
	for i := range content.Restrictions {
		r := &content.Restrictions[i]
		if r.Type == knowledge.RuleDrugGender && r.Gender == knowledge.GenderFemale && strings.HasPrefix(r.Source.File, "synthetic-") {
			female = r
			break
		}
	}
	if female == nil {
		t.Fatal("no generated female-only drug rule")
	}
	req := &rxguardv1.CheckOrdersRequest{
		RequestId: "synth", Scene: rxguardv1.Scene_SCENE_OUTPATIENT,
		Hospital:  &rxguardv1.Hospital{Code: "H1", Level: 3},
		Patient:   &rxguardv1.Patient{Id: "P1", Gender: rxguardv1.Gender_GENDER_MALE, BirthDate: "1970-01-01", InsuranceType: rxguardv1.InsuranceType_INSURANCE_EMPLOYEE},
		Encounter: &rxguardv1.Encounter{Id: "E1", Type: rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT},
		Physician: &rxguardv1.Physician{Code: "D370800000001", Title: rxguardv1.Title_TITLE_CHIEF},
		Diagnoses: []*rxguardv1.Diagnosis{{Code: "I10.X00", Primary: true}},
		CheckTime: "2026-11-22T10:00:00+08:00",
		Orders: []*rxguardv1.OrderLine{{LineId: "1", ItemCode: female.Code, ItemName: female.Name, Kind: rxguardv1.ItemKind_ITEM_DRUG,
			Quantity: 1, Days: 3, StartTime: "2026-11-22T10:00:00+08:00"}},
	}
	resp, err := svc.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(resp.GetFindings(), func(f *rxguardv1.Finding) bool { return f.GetRuleType() == string(knowledge.RuleDrugGender) }) {
		t.Fatalf("no DRUG_GENDER finding for %s (%s) ordered for a man: %v", female.Code, female.Name, resp.GetFindings())
	}
}

// A revision changes exactly the records asked for, as a delta on the wire.
func TestReviseMakesADeltaOfNRecords(t *testing.T) {
	ctx := context.Background()
	_, base, err := Release(ctx, Options{Entries: 5_000, Rules: 5_000, Seed: 3, NoOfficial: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{10, 1_000, 2_345} {
		c, err := knowledge.ContentFromRecords(base)
		if err != nil {
			t.Fatal(err)
		}
		if err := Revise(c, n, 11); err != nil {
			t.Fatal(err)
		}
		_, target, err := knowledge.BuildRelease("d", "", "", Created, c)
		if err != nil {
			t.Fatal(err)
		}
		if ops := wire.Diff(base, target); len(ops) != n {
			t.Errorf("Revise(%d): delta of %d operations", n, len(ops))
		}
	}
	c, _ := knowledge.ContentFromRecords(base)
	if err := Revise(c, 1_000_000, 1); err == nil {
		t.Fatal("a delta larger than the release was accepted")
	}
}

// Releases share one import of the official data; changing one release's
// content must not change the next.
func TestContentsDoNotShareOfficialRecords(t *testing.T) {
	ctx := context.Background()
	official := importOfficial(t)
	o := Options{Entries: entryCount(official) + 10, Rules: len(official.Restrictions) + 10, Seed: 8}
	a, err := Content(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	a.Restrictions[0].Description = "changed"
	a.Drugs = append(a.Drugs[:0], knowledge.Drug{Code: "X"})
	b, err := Content(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if b.Restrictions[0].Description == "changed" || b.Drugs[0].Code == "X" {
		t.Fatal("a change to one release's content reached the next one")
	}
}

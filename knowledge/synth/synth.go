// Package synth generates deterministic knowledge releases at a city's
// scale (the seeds' 706,000 knowledge entries and 61,000 rules) for
// benchmarks: import, compile, sync, delta and check at that size exercise
// the production code paths without a real bureau's data.
//
// A synthetic release is the embedded official data (the NHSA batches as
// published, the 2024 catalogue, ICD-10 and the demo tables) plus generated
// records cloned from it: every generated restriction copies an official
// restriction of its rule type and gets a new national code of the same
// shape, so the rule types keep the batches' proportions and every code is
// one the engine's code checks accept. Entries follow a fixed mix (Mix).
// The same Options always give the same records, byte for byte.
package synth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/data"
	"github.com/rxguard/rxguard/knowledge/importer"
)

// Options size a synthetic release.
type Options struct {
	// Entries is the number of knowledge records besides restrictions
	// (drugs, catalogue entries, interactions, diagnoses, physicians and
	// their events, recognition items, import warnings), official ones
	// included.
	Entries int
	// Rules is the number of restrictions (batch rules), official ones
	// included.
	Rules int
	// Seed selects the generated records; the same seed and sizes give the
	// same release.
	Seed uint64
	// NoOfficial leaves the official records out (only generated ones,
	// cloned from them): small releases for tests.
	NoOfficial bool
}

// Mix is the share of each generated entry class, in per mille. The
// official data fixes the classes that are national (ICD-10, the chronic
// list); a city's knowledge base grows by product codes, physicians and
// their events, interaction pairs and local catalogue additions.
var Mix = []struct {
	Class    knowledge.Class
	PerMille int
}{
	{knowledge.ClassDrug, 580},
	{knowledge.ClassPhysicianEvent, 220},
	{knowledge.ClassPhysician, 80},
	{knowledge.ClassInteraction, 70},
	{knowledge.ClassCatalogueDrug, 30},
	{knowledge.ClassRecognitionItem, 20},
}

// Publisher names a synthetic release's producer in its manifest.
const Publisher = "rxguard kb synth"

// Created is the creation time of every synthetic release: a fixed time, so
// that a release is byte-identical for the same options, and in the past, so
// that import-release's clock-skew check never refuses it.
var Created = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// Release builds the synthetic release through the same path as
// `rxguard kb release`: content, then knowledge.BuildRelease.
func Release(ctx context.Context, o Options) (knowledge.Manifest, []knowledge.Record, error) {
	c, err := Content(ctx, o)
	if err != nil {
		return knowledge.Manifest{}, nil, err
	}
	m, records, err := knowledge.BuildRelease("synth", "", "", Created, c)
	if err != nil {
		return knowledge.Manifest{}, nil, err
	}
	m.Publisher = Publisher
	m.Description = fmt.Sprintf("synthetic: %d entries, %d rules, seed %d", o.Entries, o.Rules, o.Seed)
	return m, records, nil
}

// Content generates the content of a synthetic release.
func Content(ctx context.Context, o Options) (*knowledge.Content, error) {
	if o.Entries < 0 || o.Rules < 0 {
		return nil, fmt.Errorf("synth: entries (%d) and rules (%d) must not be negative", o.Entries, o.Rules)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	official, err := officialContent()
	if err != nil {
		return nil, err
	}
	g := newGenerator(official, o.Seed)
	out := &knowledge.Content{}
	if !o.NoOfficial {
		out = cloneContent(official)
	}
	haveRules, haveEntries := len(out.Restrictions), entryCount(out)
	if o.Rules < haveRules || o.Entries < haveEntries {
		return nil, fmt.Errorf("synth: the official data alone has %d rules and %d entries; ask for at least that many (-rules, -entries) or leave it out (-no-official)",
			haveRules, haveEntries)
	}
	if err := g.restrictions(out, o.Rules-haveRules); err != nil {
		return nil, err
	}
	if err := g.entries(out, o.Entries-haveEntries); err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

// officialContent imports the embedded official data once per process: it
// is the same for every release, and the templates are only read.
var officialContent = sync.OnceValues(func() (*knowledge.Content, error) {
	c, _, err := importer.Import(context.Background(), data.FS)
	if err != nil {
		return nil, fmt.Errorf("synth: import the embedded official data (the templates): %w", err)
	}
	return c, nil
})

// cloneContent copies c's record slices, so that what a caller appends to or
// changes in a release's content never reaches the shared official import.
func cloneContent(c *knowledge.Content) *knowledge.Content {
	return &knowledge.Content{
		Restrictions: slices.Clone(c.Restrictions), Drugs: slices.Clone(c.Drugs), Catalogue: slices.Clone(c.Catalogue),
		Interactions: slices.Clone(c.Interactions), ChronicDiagnoses: slices.Clone(c.ChronicDiagnoses),
		DiagnosisCategories: slices.Clone(c.DiagnosisCategories), DiagnosisBlocks: slices.Clone(c.DiagnosisBlocks),
		Physicians: slices.Clone(c.Physicians), PhysicianEvents: slices.Clone(c.PhysicianEvents),
		Recognition: slices.Clone(c.Recognition), OutpatientConditions: slices.Clone(c.OutpatientConditions),
		Warnings: slices.Clone(c.Warnings),
	}
}

// entryCount is the number of non-restriction records c makes.
func entryCount(c *knowledge.Content) int {
	return len(c.Drugs) + len(c.Catalogue) + len(c.Interactions) + len(c.ChronicDiagnoses) +
		len(c.DiagnosisCategories) + len(c.DiagnosisBlocks) + len(c.Physicians) + len(c.PhysicianEvents) +
		len(c.Recognition) + len(c.OutpatientConditions) + len(c.Warnings)
}

// generator draws codes and records from one seeded source; it remembers
// every code and key it used so that generated records never collide with
// each other or with the official ones.
type generator struct {
	rng      *rand.Rand
	tmpl     *knowledge.Content
	byType   map[knowledge.RuleType][]*knowledge.Restriction
	types    []knowledge.RuleType // sorted, for a deterministic order
	codes    map[string]bool
	keys     map[string]bool
	names    []string // generic names of the catalogue (interaction pairs)
	physSeq  int
	eventSeq int64
}

func newGenerator(tmpl *knowledge.Content, seed uint64) *generator {
	g := &generator{
		rng:    rand.New(rand.NewPCG(seed, 0x72786775617264)), // "rxguard"
		tmpl:   tmpl,
		byType: map[knowledge.RuleType][]*knowledge.Restriction{},
		codes:  map[string]bool{},
		keys:   map[string]bool{},
	}
	for i := range tmpl.Restrictions {
		r := &tmpl.Restrictions[i]
		g.byType[r.Type] = append(g.byType[r.Type], r)
		g.codes[r.Code] = true
		g.codes[r.PrimaryCode] = true
		g.keys[r.Key()] = true
	}
	for t := range g.byType {
		g.types = append(g.types, t)
	}
	sort.Slice(g.types, func(i, j int) bool { return g.types[i] < g.types[j] })
	for i := range tmpl.Drugs {
		g.codes[tmpl.Drugs[i].Code] = true
	}
	seen := map[string]bool{}
	for i := range tmpl.Catalogue {
		g.keys["catalogue/"+tmpl.Catalogue[i].Key()] = true
		if n := tmpl.Catalogue[i].Name; !seen[n] {
			seen[n] = true
			g.names = append(g.names, n)
		}
	}
	for i := range tmpl.Interactions {
		g.keys["interaction/"+pairKey(tmpl.Interactions[i].DrugA, tmpl.Interactions[i].DrugB)] = true
	}
	for i := range tmpl.Physicians {
		g.codes[tmpl.Physicians[i].Code] = true
	}
	for i := range tmpl.PhysicianEvents {
		g.eventSeq = max(g.eventSeq, tmpl.PhysicianEvents[i].Seq)
	}
	for i := range tmpl.Recognition {
		g.codes[tmpl.Recognition[i].Code] = true
	}
	return g
}

// shares splits n by weights (largest remainder, ties to the earlier
// weight), so the parts add up to n exactly.
func shares(n int, weights []int) []int {
	total := 0
	for _, w := range weights {
		total += w
	}
	out := make([]int, len(weights))
	if total == 0 {
		return out
	}
	type rem struct{ i, r int }
	rems := make([]rem, len(weights))
	left := n
	for i, w := range weights {
		out[i] = n * w / total
		left -= out[i]
		rems[i] = rem{i, n * w % total}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; k < left; k++ {
		out[rems[k%len(rems)].i]++
	}
	return out
}

// restrictions adds n restrictions, each rule type in its share of the
// official batches.
func (g *generator) restrictions(out *knowledge.Content, n int) error {
	if n == 0 {
		return nil
	}
	if len(g.types) == 0 {
		return fmt.Errorf("synth: the embedded data has no restrictions to clone")
	}
	weights := make([]int, len(g.types))
	for i, t := range g.types {
		weights[i] = len(g.byType[t])
	}
	row := 0
	for i, k := range shares(n, weights) {
		list := g.byType[g.types[i]]
		for range k {
			r := *list[g.rng.IntN(len(list))]
			r.Code = g.codeLike(r.Code)
			if r.Type == knowledge.RuleDuplicateCharge {
				// The 主项 is usually another synthetic item; a pair is
				// unique by its 从项's new code already.
				r.PrimaryCode = g.codeLike(r.PrimaryCode)
			}
			row++
			file := r.Source.File
			if !strings.HasPrefix(file, "synthetic-") {
				file = "synthetic-" + file
			}
			r.Source = knowledge.Source{Batch: r.Source.Batch, File: file, Sheet: r.Source.Sheet, Row: row}
			if r.Groups != nil {
				r.Groups = append([]string(nil), r.Groups...)
			}
			if g.keys[r.Key()] {
				return fmt.Errorf("synth: generated restriction %s twice", r.Key())
			}
			g.keys[r.Key()] = true
			out.Restrictions = append(out.Restrictions, r)
		}
	}
	return nil
}

// codeLike returns a new code with the shape of tmpl: the same family and
// category prefix, a random digit where tmpl has a digit, the same letter
// where it has a letter. 15-digit service items keep their 3-digit chapter;
// drug codes their family letter and 5-character category (XB01AX…).
func (g *generator) codeLike(tmpl string) string {
	keep := 3
	if len(tmpl) >= 20 {
		keep = 6
	}
	keep = min(keep, len(tmpl))
	b := []byte(tmpl)
	for attempt := 0; ; attempt++ {
		for i := keep; i < len(b); i++ {
			if tmpl[i] >= '0' && tmpl[i] <= '9' {
				b[i] = byte('0' + g.rng.IntN(10))
			}
		}
		c := string(b)
		if !g.codes[c] {
			g.codes[c] = true
			return c
		}
		if attempt > 1000 {
			// Only a template with almost no digits after its prefix can
			// exhaust its shape; widen the prefix's digits too.
			keep = 1
		}
	}
}

// entries adds n non-restriction records in the shares of Mix.
func (g *generator) entries(out *knowledge.Content, n int) error {
	if n == 0 {
		return nil
	}
	weights := make([]int, len(Mix))
	for i, m := range Mix {
		weights[i] = m.PerMille
	}
	counts := shares(n, weights)
	// Physicians before their events: events name generated physicians.
	order := []knowledge.Class{knowledge.ClassPhysician, knowledge.ClassPhysicianEvent, knowledge.ClassCatalogueDrug,
		knowledge.ClassDrug, knowledge.ClassInteraction, knowledge.ClassRecognitionItem}
	want := map[knowledge.Class]int{}
	for i, m := range Mix {
		want[m.Class] = counts[i]
	}
	var physicians []string
	for i := range out.Physicians {
		physicians = append(physicians, out.Physicians[i].Code)
	}
	for _, class := range order {
		k := want[class]
		var err error
		switch class {
		case knowledge.ClassPhysician:
			for range k {
				p := g.physician()
				physicians = append(physicians, p.Code)
				out.Physicians = append(out.Physicians, p)
			}
		case knowledge.ClassPhysicianEvent:
			if k > 0 && len(physicians) == 0 {
				return fmt.Errorf("synth: %d physician events need physicians; ask for more entries", k)
			}
			for range k {
				out.PhysicianEvents = append(out.PhysicianEvents, g.event(physicians))
			}
		case knowledge.ClassCatalogueDrug:
			err = g.catalogue(out, k)
		case knowledge.ClassDrug:
			err = g.drugs(out, k)
		case knowledge.ClassInteraction:
			err = g.interactions(out, k)
		case knowledge.ClassRecognitionItem:
			err = g.recognition(out, k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var (
	surnames   = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	givenChars = []rune("明华强丽伟芳军敏静磊洋勇艳杰娟涛超霞刚平辉鹏红玲燕斌宇浩凯秀英梅林鑫婷雪琳晨欣怡子涵博文轩睿思雨佳")
	// Titles of a city's registry, weighted towards residents and
	// attending physicians.
	titles = []string{"TITLE_RESIDENT", "TITLE_RESIDENT", "TITLE_RESIDENT", "TITLE_ATTENDING", "TITLE_ATTENDING",
		"TITLE_ATTENDING", "TITLE_ASSOCIATE_CHIEF", "TITLE_ASSOCIATE_CHIEF", "TITLE_CHIEF"}
	departments  = []string{"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A09", "A10", "A11", "A12", "A13", "A14", "A15", "A16"}
	eventReasons = []string{"超标准收费", "串换项目", "超限定支付范围用药", "重复收费", "分解住院", "过度诊疗", "虚记费用", "挂床住院"}
	scopes       = []string{"医联体内互认", "市内互认", "省内互认"}
)

// physician is a registry entry of one of the city's 339 hospitals: code
// D + region 370800 + six digits (the demo registry's format).
func (g *generator) physician() knowledge.PhysicianRecord {
	var code string
	for {
		g.physSeq++
		code = fmt.Sprintf("D370800%06d", 100000+g.physSeq)
		if !g.codes[code] {
			break
		}
	}
	g.codes[code] = true
	name := []rune{surnames[g.rng.IntN(len(surnames))], givenChars[g.rng.IntN(len(givenChars))]}
	if g.rng.IntN(3) > 0 {
		name = append(name, givenChars[g.rng.IntN(len(givenChars))])
	}
	return knowledge.PhysicianRecord{
		Code: code, Name: string(name), Title: titles[g.rng.IntN(len(titles))],
		DepartmentCode: departments[g.rng.IntN(len(departments))],
		Source:         knowledge.Source{Batch: "synthetic", File: "synthetic-physicians.csv", Row: g.physSeq + 1},
	}
}

// event is one entry of the bureau's status feed: mostly points for a
// violation, some suspensions (with an end) and restorations, few
// terminations.
func (g *generator) event(physicians []string) knowledge.PhysicianEvent {
	g.eventSeq++
	day := Created.AddDate(0, 0, -g.rng.IntN(730))
	e := knowledge.PhysicianEvent{
		Seq: g.eventSeq, PhysicianCode: physicians[g.rng.IntN(len(physicians))], Date: day.Format(time.DateOnly),
		Source: knowledge.Source{Batch: "synthetic", File: "synthetic-physician-events.csv", Row: int(g.eventSeq) + 1},
	}
	switch p := g.rng.IntN(100); {
	case p < 80:
		e.Type, e.Points, e.Reason = "POINTS_ADDED", 1+g.rng.IntN(6), eventReasons[g.rng.IntN(len(eventReasons))]
	case p < 88:
		e.Type, e.Points, e.Reason = "POINTS_REDUCED", 1+g.rng.IntN(3), "学习培训合格"
	case p < 95:
		e.Type, e.Until, e.Reason = "SUSPENDED", day.AddDate(0, 1+g.rng.IntN(6), 0).Format(time.DateOnly), eventReasons[g.rng.IntN(len(eventReasons))]
	case p < 99:
		e.Type, e.Reason = "RESTORED", "暂停期满"
	default:
		e.Type, e.Reason = "TERMINATED", eventReasons[g.rng.IntN(len(eventReasons))]
	}
	return e
}

// catalogue adds local additions to the national catalogue (省增补): an
// official entry's category, class and remark under a new name.
func (g *generator) catalogue(out *knowledge.Content, n int) error {
	if n > 0 && len(g.tmpl.Catalogue) == 0 {
		return fmt.Errorf("synth: the embedded data has no catalogue entries to clone")
	}
	for i := range n {
		e := g.tmpl.Catalogue[g.rng.IntN(len(g.tmpl.Catalogue))]
		e.Name = e.Name + "（增补" + strconv.Itoa(i+1) + "）"
		e.Number = "S" + strconv.Itoa(i+1)
		e.RepeatOf = ""
		e.Structured.ICDPrefixes = append([]string(nil), e.Structured.ICDPrefixes...)
		e.Source = knowledge.Source{Batch: "synthetic", File: "synthetic-catalogue.xlsx", Sheet: e.Sheet, Row: i + 2}
		key := "catalogue/" + e.Key()
		if g.keys[key] {
			return fmt.Errorf("synth: generated catalogue entry %s twice", e.Key())
		}
		g.keys[key] = true
		out.Catalogue = append(out.Catalogue, e)
	}
	return nil
}

// drugs adds product codes: a catalogue entry's category and generic name
// under a new national product code (category + generic, form,
// specification, package and manufacturer digits, 23 characters like
// XB05BAU012B002010102180), or a demo drug's generic name and class under
// a product code of its category.
func (g *generator) drugs(out *knowledge.Content, n int) error {
	if n > 0 && len(g.tmpl.Catalogue) == 0 && len(g.tmpl.Drugs) == 0 {
		return fmt.Errorf("synth: the embedded data has no drugs to clone")
	}
	for i := range n {
		var d knowledge.Drug
		if len(g.tmpl.Catalogue) > 0 && (len(g.tmpl.Drugs) == 0 || g.rng.IntN(10) > 0) {
			e := &g.tmpl.Catalogue[g.rng.IntN(len(g.tmpl.Catalogue))]
			d = knowledge.Drug{GenericName: e.Name, DosageForm: e.DosageForm, Class: e.Class}
			if len(e.Structured.ICDPrefixes) > 0 {
				d.RestrictionText = e.Remark
				d.IndicationICD = append([]string(nil), e.Structured.ICDPrefixes...)
			}
			d.SecondLine = e.Structured.SecondLine
			cat := e.Category
			if len(cat) != 6 {
				cat = "XA01AB"
			}
			d.Code = g.codeLike(cat + "A000A000000000000")
		} else {
			d = g.tmpl.Drugs[g.rng.IntN(len(g.tmpl.Drugs))]
			d.IndicationICD = append([]string(nil), d.IndicationICD...)
			// The demo table's made-up codes are 24 characters; a
			// generated one has the national 23.
			d.Code = g.codeLike(d.Code[:min(6, len(d.Code))] + "A000A000000000000")
		}
		d.Source = knowledge.Source{Batch: "synthetic", File: "synthetic-drugs.csv", Row: i + 2}
		out.Drugs = append(out.Drugs, d)
	}
	return nil
}

// interactions adds 配伍禁忌 pairs between catalogue generic names, with an
// official pair's severity and reason.
func (g *generator) interactions(out *knowledge.Content, n int) error {
	if n == 0 {
		return nil
	}
	if len(g.names) < 2 || len(g.tmpl.Interactions) == 0 {
		return fmt.Errorf("synth: the embedded data has too few drug names or interactions to pair")
	}
	if max := len(g.names) * (len(g.names) - 1) / 2; n > max-len(g.tmpl.Interactions) {
		return fmt.Errorf("synth: %d interaction pairs asked for, only %d distinct ones possible", n, max)
	}
	for i := 0; i < n; {
		a, b := g.names[g.rng.IntN(len(g.names))], g.names[g.rng.IntN(len(g.names))]
		key := "interaction/" + pairKey(a, b)
		if a == b || g.keys[key] {
			continue
		}
		g.keys[key] = true
		t := g.tmpl.Interactions[g.rng.IntN(len(g.tmpl.Interactions))]
		out.Interactions = append(out.Interactions, knowledge.Interaction{DrugA: a, DrugB: b, Severity: t.Severity, Reason: t.Reason,
			Source: knowledge.Source{Batch: "synthetic", File: "synthetic-interactions.csv", Row: i + 2}})
		i++
	}
	return nil
}

// recognition adds examinations to the mutual-recognition list: service
// items of the batches (15 digits) under new codes.
func (g *generator) recognition(out *knowledge.Content, n int) error {
	var items []*knowledge.Restriction
	for _, t := range g.types {
		for _, r := range g.byType[t] {
			if len(r.Code) == 15 {
				items = append(items, r)
			}
		}
	}
	if n > 0 && len(items) == 0 {
		return fmt.Errorf("synth: the embedded data has no service items to clone")
	}
	windows := []int{7, 14, 30, 90, 180}
	for i := range n {
		r := items[g.rng.IntN(len(items))]
		out.Recognition = append(out.Recognition, knowledge.RecognitionItem{
			Code: g.codeLike(r.Code), Name: r.Name, WindowDays: windows[g.rng.IntN(len(windows))], Scope: scopes[g.rng.IntN(len(scopes))],
			Source: knowledge.Source{Batch: "synthetic", File: "synthetic-exam-recognition.csv", Row: i + 2},
		})
	}
	return nil
}

func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "+" + b
}

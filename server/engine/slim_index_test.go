package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/knowledge/synth"
)

// oldQuote is how findings cited a restriction before the index stopped
// keeping the text (quote, computed per restriction at compile time).
func oldQuote(r *knowledge.Restriction) string {
	s := r.Source.String() + "：" + r.Name
	if r.Description != "" {
		s += "，说明：“" + r.Description + "”"
	}
	return s
}

// TestCitationsAsSourceString: the citations written at finding time are
// byte for byte what knowledge.Source.String and the old precomputed quote
// gave, for every shape of source (no file, no sheet, no row, a row an
// int32 cannot keep, empty name and description).
func TestCitationsAsSourceString(t *testing.T) {
	sources := []knowledge.Source{
		{},
		{Batch: "第一批"},
		{Batch: "第一批", File: "a.xlsx"},
		{Batch: "第一批", Sheet: "Sheet1"},
		{Batch: "第一批", File: "a.xlsx", Sheet: "Sheet1", Row: 1},
		{Batch: "第一批", File: "a.xlsx", Sheet: "Sheet2", Row: 123456},
		{Batch: "演示数据", File: "drugs.csv", Row: -3},
		{Batch: "b", File: "f", Sheet: "s", Row: 1 << 40},
	}
	idx := &Index{}
	for _, s := range sources {
		for _, r := range []knowledge.Restriction{
			{Source: s},
			{Source: s, Name: "名称"},
			{Source: s, Name: "名称", Description: "说明文字"},
			{Source: s, Description: "只有说明"},
		} {
			b := bound{r: &r}
			if got, want := b.quoteWith(nil), oldQuote(&r); got != want {
				t.Errorf("quoteWith() of %+v = %q, want %q", r, got, want)
			}
			if got, want := b.quoteWith(nil, "；限定对象：", "女"), oldQuote(&r)+"；限定对象：女"; got != want {
				t.Errorf("quoteWith(parts) of %+v = %q, want %q", r, got, want)
			}
			if got, want := b.sourceWith(nil, "：", "x"), s.String()+"：x"; got != want {
				t.Errorf("sourceWith of %+v = %q, want %q", s, got, want)
			}
		}
		ct := idx.cite(s)
		d := drugInfo{drugTerms: &drugTerms{sourcePrefix: ct.prefix}, row: ct.row}
		if got, want := d.sourceText(), s.String(); got != want {
			t.Errorf("citation of %+v = %q, want %q", s, got, want)
		}
		if got, want := d.cite(nil, "：", "通用名"), s.String()+"：通用名"; got != want {
			t.Errorf("cite of %+v = %q, want %q", s, got, want)
		}
	}
	// Rows of one sheet share one prefix string (the point of citation).
	a := idx.cite(knowledge.Source{Batch: "b", File: "f", Sheet: "s", Row: 2})
	b := idx.cite(knowledge.Source{Batch: "b", File: "f", Sheet: "s", Row: 3})
	if a.prefix != b.prefix || a.prefix == "" {
		t.Fatalf("prefixes differ: %q %q", a.prefix, b.prefix)
	}
	if unsafe.StringData(a.prefix) != unsafe.StringData(b.prefix) {
		t.Errorf("rows of one sheet do not share their prefix string")
	}
}

// TestCompiledCitationsMatchRelease: on the demo release every product
// row and restriction cites exactly what its record's Source says.
func TestCompiledCitationsMatchRelease(t *testing.T) {
	m, records, _, err := demo.Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	c, err := knowledge.ContentFromRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := Compile(m, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Drugs {
		d := &c.Drugs[i]
		code, _ := knowledge.CanonicalCode(d.Code)
		info := idx.drugFor(code, "")
		if info == nil {
			t.Fatalf("drug %s not in the index", code)
		}
		if ref, _ := idx.byCode.get(code); info != &idx.drugRows[ref.drug-1] {
			t.Fatalf("drugFor(%s) is not its row", code)
		}
		// The last row of a code wins, as before.
		if got := info.sourceText(); got != d.Source.String() && lastDrugRow(c, code) == i {
			t.Errorf("drug %s cites %q, want %q", code, got, d.Source.String())
		}
	}
	n := 0
	for i := range idx.entries {
		for _, b := range idx.entries[i].checks {
			if got, want := b.quoteWith(nil), oldQuote(b.r); got != want {
				t.Fatalf("restriction %s quotes %q, want %q", b.r.Key(), got, want)
			}
			n++
		}
	}
	if n < 1000 {
		t.Fatalf("only %d bound restrictions: not the demo release", n)
	}
}

func lastDrugRow(c *knowledge.Content, code string) int {
	last := -1
	for i := range c.Drugs {
		if cc, _ := knowledge.CanonicalCode(c.Drugs[i].Code); cc == code {
			last = i
		}
	}
	return last
}

// TestNameAndKnowsAcrossClasses pins the name a code gets when several
// classes name it (the first non-empty name: restrictions, product rows in
// order, the recognition list) and that a product no restriction binds is
// known but not matched by drug name.
func TestNameAndKnowsAcrossClasses(t *testing.T) {
	const (
		restricted = "XA10BAE0000000000001"
		dup        = "XA10BAE0000000000002"
		dupEmpty   = "XA10BAE0000000000003"
		recog      = "XA10BAE0000000000004"
		plain      = "XA10BAE0000000000005"
	)
	src := knowledge.Source{Batch: "演示数据", File: "drugs.csv", Row: 2}
	c := &knowledge.Content{
		Restrictions: []knowledge.Restriction{{Type: knowledge.RuleDrugGender, Code: restricted, Name: "", Gender: knowledge.GenderFemale, Source: src}},
		Drugs: []knowledge.Drug{
			{Code: restricted, GenericName: "甲药", Class: "甲", Source: src},
			{Code: dup, GenericName: "第一名", Class: "甲", Source: src},
			{Code: dup, GenericName: "第二名", Class: "乙", Source: src},
			{Code: dupEmpty, GenericName: "", Class: "甲", Source: src},
			{Code: dupEmpty, GenericName: "后来名", Class: "乙", Source: src},
			{Code: recog, GenericName: "药名", Class: "甲", Source: src},
			{Code: plain, GenericName: "普通药", Class: "甲", Source: src},
		},
		Recognition: []knowledge.RecognitionItem{{Code: recog, Name: "互认名", WindowDays: 7}},
	}
	idx, err := Compile(knowledge.Manifest{Version: "t"}, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ code, name, class string }{
		{restricted, "甲药", "甲"},
		{dup, "第一名", "乙"},      // first name, last row
		{dupEmpty, "后来名", "乙"}, // first non-empty name
		{recog, "药名", "甲"},
		{plain, "普通药", "甲"},
	} {
		if got := idx.Name(tc.code); got != tc.name {
			t.Errorf("Name(%s) = %q, want %q", tc.code, got, tc.name)
		}
		if d := idx.drugFor(tc.code, ""); d == nil || d.class != tc.class {
			t.Errorf("drugFor(%s) = %+v, want class %s", tc.code, d, tc.class)
		}
		if !idx.knows(tc.code, "") {
			t.Errorf("knows(%s) = false", tc.code)
		}
	}
	if e, known := idx.lookup(plain); !known || e == nil || len(e.checks) != 0 {
		t.Errorf("lookup(plain) = %v, %v; want known, no checks", e, known)
	}
	if e, known := idx.lookup("XA10BAE0000000000099"); known || e != nil {
		t.Errorf("lookup(unknown) = %v, %v; want nil, false", e, known)
	}
	if e, _ := idx.lookup(restricted); e == nil || len(e.checks) != 1 {
		t.Errorf("lookup(restricted) = %v; want its restriction", e)
	}
	if got, want := idx.Codes(), 5; got != want {
		t.Errorf("Codes() = %d, want %d", got, want)
	}
}

// TestPhysicianFeedMergeDifferential: folding the feed into the release's
// compiled table (withFeed, what Engine.Swap does) gives the table a full
// CompilePhysicians of registry, release events and feed gives, for random
// events with overlapping seqs, undated events, unregistered codes and
// unknown types.
func TestPhysicianFeedMergeDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"POINTS_ADDED", "POINTS_REDUCED", "SUSPENDED", "TERMINATED", "RESTORED", "OTHER"}
	day := func() string {
		if rng.IntN(40) == 0 {
			return "2025-13-01" // does not parse
		}
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(800)).Format("2006-01-02")
	}
	codes := func(i int) string { return fmt.Sprintf("D%05d", i) }
	for round := 0; round < 200; round++ {
		var registry []knowledge.PhysicianRecord
		for i := 0; i < 8; i++ {
			registry = append(registry, knowledge.PhysicianRecord{Code: codes(i), Name: "医师" + codes(i)})
		}
		events := func(n int) []knowledge.PhysicianEvent {
			var out []knowledge.PhysicianEvent
			for i := 0; i < n; i++ {
				e := knowledge.PhysicianEvent{Seq: int64(rng.IntN(60)), PhysicianCode: codes(rng.IntN(11)),
					Type: types[rng.IntN(len(types))], Date: day(), Points: rng.IntN(6)}
				if rng.IntN(2) == 0 {
					e.Until = day()
				}
				out = append(out, e)
			}
			return out
		}
		release, feed := events(rng.IntN(40)), events(rng.IntN(30))
		want := CompilePhysicians(registry, release, feed)
		got := CompilePhysicians(registry, release).withFeed(feed)
		if got.Events != want.Events {
			t.Fatalf("round %d: Events = %d, want %d", round, got.Events, want.Events)
		}
		for i := 0; i < 12; i++ {
			code := codes(i)
			if got.Name(code) != want.Name(code) {
				t.Fatalf("round %d: Name(%s) = %q, want %q", round, code, got.Name(code), want.Name(code))
			}
			for d := 0; d < 820; d += 7 {
				at := time.Date(2024, 1, 1, 12, 0, 0, 0, Shanghai).AddDate(0, 0, d)
				if g, w := got.Status(code, at), want.Status(code, at); g != w {
					t.Fatalf("round %d: Status(%s, %s) = %+v, want %+v", round, code, at.Format(time.DateOnly), g, w)
				}
			}
		}
	}
}

// TestIndexHeapPerProduct pins the compact product table: what Compile
// itself keeps per code of a small synthetic release (its decoded content
// excluded: it is measured alive before and after). Before the product
// table was a slice of rows (a *codeEntry, a *drugInfo and a source string
// per product, two maps) it kept 442 bytes per code; a per-product
// pointer or string re-added pushes it over the bound.
// maxHeapPerCode: measured 165 B/code (40,000 entries, 16,000 rules,
// seed 1: 35,748 codes, 19,855 products); 442 before; 185 since the code
// map's keys are byte arrays (codeTable): the map now holds a copy of each
// code, which this test counts, where the string map referred to the
// decoded content's strings, which it does not (the content stays alive
// here; in a sidecar it is dropped and the string map kept those strings
// alive instead). A *codeEntry (48 B) (or a 40-byte codeEntry row) or a
// source string per product re-added costs ≥ 21 B/code.
const maxHeapPerCode = 196

func TestIndexHeapPerProduct(t *testing.T) {
	m, records, err := synth.Release(context.Background(), synth.Options{Entries: 40_000, Rules: 16_000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := knowledge.ContentFromRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	records = nil
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	idx, err := Compile(m, c)
	if err != nil {
		t.Fatal(err)
	}
	grew := heap() - base
	runtime.KeepAlive(c)
	products := len(idx.drugRows)
	perCode := float64(grew) / float64(idx.Codes())
	t.Logf("Compile keeps %d bytes for %d codes (%d product rows): %.0f B/code", grew, idx.Codes(), products, perCode)
	if products < 10_000 {
		t.Fatalf("only %d products: the release does not exercise the product table", products)
	}
	if perCode > maxHeapPerCode {
		t.Errorf("Compile keeps %.0f B per code, bound %d: a per-product pointer or string came back", perCode, maxHeapPerCode)
	}
	runtime.KeepAlive(idx)
}

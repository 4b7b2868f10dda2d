package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// TestCompileDeltaDifferential applies chains of random changes to the demo
// release's restrictions (withdrawn, replaced, renamed onto another
// generic, moved onto product codes, recognition items and new codes, every
// restriction of a code withdrawn) and compares the index CompileDelta
// builds, delta after delta, with the one Compile builds from the whole
// release: the same codes, entries, names, name lists, course and surgery
// groups, and the same findings for orders of the changed codes.
func TestCompileDeltaDifferential(t *testing.T) {
	m0, records, _, err := demo.Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	model, err := knowledge.ContentFromRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := Compile(m0, mustDecode(t, records))
	if err != nil {
		t.Fatal(err)
	}
	pool := codePool(model)
	// Only restrictions change: the other records are encoded once.
	var others []knowledge.Record
	for _, r := range records {
		if r.Class != knowledge.ClassRestriction {
			others = append(others, r)
		}
	}
	for chain := range 2 {
		rng := rand.New(rand.NewPCG(uint64(chain), 7))
		idx := prev
		prevRecords := records
		c := model
		for step := range 4 {
			c = mutateRestrictions(rng, c, pool, 1+rng.IntN(80))
			m := knowledge.Manifest{Version: fmt.Sprintf("delta-%d-%d", chain, step)}
			next := withRestrictions(t, others, c.Restrictions)
			changed, withdrawn := wire.Changes(prevRecords, next)
			inc, ok, err := CompileDelta(idx, m, changed, withdrawn)
			if err != nil || !ok {
				t.Fatalf("chain %d step %d: CompileDelta ok=%v err=%v", chain, step, ok, err)
			}
			full, err := Compile(m, mustDecode(t, next))
			if err != nil {
				t.Fatal(err)
			}
			if d := diffIndexes(full, inc); d != "" {
				t.Fatalf("chain %d step %d (%d changed, %d withdrawn): the delta's index differs from a full compile:\n%s", chain, step, len(changed), len(withdrawn), d)
			}
			sameValues(t, full, inc, changed)
			sameFindings(t, full, inc, touchedCodes(changed, withdrawn, rng, pool))
			idx, prevRecords = inc, next
		}
	}
}

// CompileDelta leaves to Compile what it does not compile itself.
func TestCompileDeltaFallsBack(t *testing.T) {
	c := testContent()
	m := knowledge.Manifest{Version: "a"}
	_, records, err := knowledge.BuildRelease("a", "a", "", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), c)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := Compile(m, mustDecode(t, records))
	if err != nil {
		t.Fatal(err)
	}
	byClass := func(class knowledge.Class) knowledge.Record {
		for _, r := range records {
			if r.Class == class {
				return r
			}
		}
		t.Fatalf("no %s record", class)
		return knowledge.Record{}
	}
	drug := byClass(knowledge.ClassDrug)
	restriction := byClass(knowledge.ClassRestriction)
	unknownType := restriction
	var v map[string]any
	if err := json.Unmarshal(restriction.Value, &v); err != nil {
		t.Fatal(err)
	}
	v["type"] = "NO_SUCH_RULE"
	if unknownType.Value, err = json.Marshal(v); err != nil {
		t.Fatal(err)
	}
	unknownType.Key = "NO_SUCH_RULE/" + v["code"].(string)

	copied := testContent()
	copied.Restrictions[0].Code = strings.ToLower(copied.Restrictions[0].Code)
	copiedIdx, err := Compile(m, copied)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name               string
		prev               *Index
		changed, withdrawn []knowledge.Record
		ok                 bool
	}{
		{"a restriction replaced", idx, []knowledge.Record{restriction}, nil, true},
		{"a restriction withdrawn", idx, nil, []knowledge.Record{restriction}, true},
		{"only warnings", idx, []knowledge.Record{{Class: knowledge.ClassWarning, Key: "000001", Value: []byte(`{}`)}}, nil, true},
		{"a product row replaced", idx, []knowledge.Record{drug}, nil, false},
		{"a product row withdrawn", idx, nil, []knowledge.Record{drug}, false},
		{"a rule type this build does not know", idx, []knowledge.Record{unknownType}, nil, false},
		{"restrictions compiled from non-canonical codes", copiedIdx, []knowledge.Record{restriction}, nil, false},
		{"no previous index", nil, []knowledge.Record{restriction}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := CompileDelta(tc.prev, knowledge.Manifest{Version: "b"}, tc.changed, tc.withdrawn)
			if err != nil || ok != tc.ok || (ok && got.Version() != "b") {
				t.Fatalf("CompileDelta = %v, %v, %v; want ok=%v", got, ok, err, tc.ok)
			}
		})
	}
}

// withRestrictions is the release of others (records of other classes)
// and rs, sorted as a release's records are.
func withRestrictions(t *testing.T, others []knowledge.Record, rs []knowledge.Restriction) []knowledge.Record {
	t.Helper()
	mine, err := (&knowledge.Content{Restrictions: rs}).Records()
	if err != nil {
		t.Fatal(err)
	}
	out := append(slices.Clone(others), mine...)
	slices.SortFunc(out, func(a, b knowledge.Record) int {
		if c := strings.Compare(string(a.Class), string(b.Class)); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

func mustDecode(t *testing.T, records []knowledge.Record) *knowledge.Content {
	t.Helper()
	c, err := knowledge.ContentFromRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// codePool is where mutated restrictions move to: codes with product rows,
// recognition items, other restrictions, and codes the release does not know.
func codePool(c *knowledge.Content) []string {
	var pool []string
	// First: codes with two product rows, and recognition items.
	rows := map[string]int{}
	for _, d := range c.Drugs {
		rows[d.Code]++
	}
	for code, n := range rows {
		if n > 1 {
			pool = append(pool, code)
		}
	}
	slices.Sort(pool)
	for i, r := range c.Recognition {
		if i%3 == 0 {
			pool = append(pool, r.Code)
		}
	}
	pool = pool[:min(len(pool), 12)]
	for i, r := range c.Recognition {
		if i < 12 {
			pool = append(pool, r.Code)
		}
	}
	for i, d := range c.Drugs {
		if i%7 == 0 {
			pool = append(pool, d.Code)
		}
	}
	for _, r := range c.Recognition {
		pool = append(pool, r.Code)
	}
	for i, r := range c.Restrictions {
		if i%5 == 0 {
			pool = append(pool, r.Code)
		}
	}
	for i := range 40 {
		pool = append(pool, fmt.Sprintf("XZ99ZZZ%013d", i), fmt.Sprintf("0099%011d", i))
	}
	for i, p := range pool {
		pool[i], _ = knowledge.CanonicalCode(p)
	}
	return pool
}

// mutateRestrictions returns a copy of c with n random changes to its
// restrictions; c itself (which earlier indexes point into) is unchanged.
func mutateRestrictions(rng *rand.Rand, c *knowledge.Content, pool []string, n int) *knowledge.Content {
	out := *c
	rs := slices.Clone(c.Restrictions)
	keys := map[string]bool{}
	for i := range rs {
		keys[rs[i].Key()] = true
	}
	for range n {
		if len(rs) == 0 {
			break
		}
		i := rng.IntN(len(rs))
		// Half the codes restrictions move to or leave are a few of the
		// pool's first ones (product rows, recognition items): so codes
		// gain and lose all their restrictions within a chain.
		hot := pool[rng.IntN(len(pool))]
		if rng.IntN(2) == 0 {
			hot = pool[rng.IntN(min(len(pool), 24))]
		}
		switch rng.IntN(7) {
		case 6: // every restriction of a hot code withdrawn
			rs = slices.DeleteFunc(rs, func(r knowledge.Restriction) bool {
				if r.Code == hot {
					delete(keys, r.Key())
				}
				return r.Code == hot
			})
		case 0: // withdrawn
			delete(keys, rs[i].Key())
			rs = slices.Delete(rs, i, i+1)
		case 1: // every restriction of a code withdrawn
			code := rs[i].Code
			rs = slices.DeleteFunc(rs, func(r knowledge.Restriction) bool {
				if r.Code == code {
					delete(keys, r.Key())
				}
				return r.Code == code
			})
		case 2: // replaced: another text
			rs[i].Description += "（修订）"
		case 3: // renamed: onto another restriction's name, or none
			if rng.IntN(4) == 0 {
				rs[i].Name = ""
			} else {
				rs[i].Name = rs[rng.IntN(len(rs))].Name
			}
		default: // added: a copy on another code
			r := rs[i]
			r.Code = hot
			if rng.IntN(3) == 0 {
				r.Name = rs[rng.IntN(len(rs))].Name
			}
			if !keys[r.Key()] {
				keys[r.Key()] = true
				rs = append(rs, r)
			}
		}
	}
	out.Restrictions = rs
	return &out
}

func touchedCodes(changed, withdrawn []knowledge.Record, rng *rand.Rand, pool []string) []string {
	var codes []string
	for _, r := range append(slices.Clone(changed), withdrawn...) {
		if r.Class == knowledge.ClassRestriction {
			parts := strings.Split(r.Key, "/")
			codes = append(codes, parts[1])
		}
	}
	for range 20 {
		codes = append(codes, pool[rng.IntN(len(pool))])
	}
	return codes
}

// diffIndexes describes how got differs from want in what checks read.
func diffIndexes(want, got *Index) string {
	w, g := dumpIndex(want), dumpIndex(got)
	var out []string
	for k, wv := range w {
		if gv, ok := g[k]; !ok || gv != wv {
			out = append(out, fmt.Sprintf("  %s\n    want %s\n    got  %s", k, wv, gv))
		}
	}
	for k, gv := range g {
		if _, ok := w[k]; !ok {
			out = append(out, fmt.Sprintf("  %s\n    want (none)\n    got  %s", k, gv))
		}
	}
	sort.Strings(out)
	if len(out) > 12 {
		out = append(out[:12], fmt.Sprintf("  … %d more", len(out)-12))
	}
	return strings.Join(out, "\n")
}

// dumpIndex describes what checks read, restrictions by key: a key's
// value is compared for the changed records only (sameValues), the others
// are the records of the previous release, unchanged.
func dumpIndex(idx *Index) map[string]string {
	d := map[string]string{
		"version": idx.Version() + " " + idx.evidenceSuffix,
		"codes":   strconv.Itoa(idx.Codes()),
	}
	checks := func(b *strings.Builder, e *codeEntry) {
		b.WriteString(strconv.Quote(e.name))
		for _, c := range e.checks {
			b.WriteString(" [")
			b.WriteString(string(c.spec.typ))
			b.WriteString(" ")
			b.WriteString(c.r.Key())
			b.WriteString(" ")
			b.WriteString(c.r.Name)
			b.WriteString("]")
		}
	}
	var b strings.Builder
	idx.byCode.all(func(code string, ref codeRef) {
		b.Reset()
		e, known := idx.lookup(code)
		b.WriteString(strconv.FormatBool(known))
		b.WriteString(" name=")
		b.WriteString(idx.Name(code))
		b.WriteString(" entry=")
		b.WriteString(strconv.FormatBool(ref.entry != 0))
		b.WriteString(" ")
		checks(&b, e)
		if ref.drug != 0 {
			row := idx.drugRows[ref.drug-1]
			b.WriteString(" drug=" + row.generic + "#" + strconv.Itoa(int(row.row)))
		}
		d["code "+code] = b.String()
	})
	// Every slot, referenced or not: a dead one must bind nothing, or the
	// next delta (which reads all of them) would find its restrictions.
	var keys []string
	for i := range idx.entries {
		for _, c := range idx.entries[i].checks {
			keys = append(keys, c.r.Key())
		}
	}
	slices.Sort(keys)
	d["all restrictions"] = strings.Join(keys, " ")
	for name, e := range idx.byName {
		b.Reset()
		checks(&b, e)
		d["name "+name] = b.String()
	}
	for head, list := range idx.byNameHead {
		var names []string
		for _, e := range list {
			names = append(names, e.name)
		}
		d["head "+head] = strings.Join(names, "|")
	}
	for code, g := range idx.courseGroup {
		d["course "+code] = g
	}
	for code, g := range idx.surgeryGroups {
		d["surgery "+code] = strings.Join(g, "|")
	}
	for code, p := range idx.plain {
		d["plain "+code] = fmt.Sprintf("%+v", p)
	}
	return d
}

// sameValues checks that both indexes bind the changed restrictions with
// the same values (dumpIndex compares keys).
func sameValues(t *testing.T, want, got *Index, changed []knowledge.Record) {
	t.Helper()
	values := func(idx *Index) map[string]*knowledge.Restriction {
		out := map[string]*knowledge.Restriction{}
		for i := range idx.entries {
			for _, c := range idx.entries[i].checks {
				out[c.r.Key()] = c.r
			}
		}
		return out
	}
	w, g := values(want), values(got)
	for _, r := range changed {
		if r.Class != knowledge.ClassRestriction {
			continue
		}
		if !reflect.DeepEqual(w[r.Key], g[r.Key]) {
			t.Fatalf("restriction %s: full compile binds %+v, the delta %+v", r.Key, w[r.Key], g[r.Key])
		}
	}
}

// sameFindings checks a one-line order of each code on both indexes.
func sameFindings(t *testing.T, want, got *Index, codes []string) {
	t.Helper()
	ew, eg := engineOn(t, want), engineOn(t, got)
	for _, code := range codes {
		kind := rxguardv1.ItemKind_ITEM_SERVICE
		if isDrugCode(code) {
			kind = rxguardv1.ItemKind_ITEM_DRUG
		}
		req := baseRequest()
		l := line("1", code, 1, 7)
		l.Kind = kind
		l.ItemName = want.Name(code)
		req.Orders = append(req.Orders, l)
		w, g := ew.Check(input(t, req)), eg.Check(input(t, req))
		if fw, fg := findingText(w), findingText(g); fw != fg {
			t.Fatalf("code %s: findings differ\nfull:  %s\ndelta: %s", code, fw, fg)
		}
	}
}

func engineOn(t *testing.T, idx *Index) *Engine {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(idx)
	return e
}

func findingText(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v:", r.Verdict)
	for _, f := range r.Findings {
		fmt.Fprintf(&b, " [%s %s %s %s]", f.RuleType, f.Action, f.Message, f.Evidence)
	}
	return b.String()
}

// TestCompareKeysIsKeyOrder: compareKeys orders restrictions exactly as
// their keys compare, also where a part ends inside the other's separator
// or one key is a prefix of the other.
func TestCompareKeysIsKeyOrder(t *testing.T) {
	types := []knowledge.RuleType{knowledge.RuleDuplicateCharge, knowledge.RuleDrugGender, knowledge.RulePaymentCourse, "", "D", "DRUG_GENDER/"}
	parts := []string{"", "a", "a/", "a/b", "a0", "a.", "/", "ab", "\xff", "乙"}
	rng := rand.New(rand.NewPCG(14, 1))
	pick := func() *knowledge.Restriction {
		return &knowledge.Restriction{Type: types[rng.IntN(len(types))], Code: parts[rng.IntN(len(parts))],
			PrimaryCode: parts[rng.IntN(len(parts))], Window: knowledge.Window(parts[rng.IntN(len(parts))])}
	}
	for range 20000 {
		a, b := pick(), pick()
		if got, want := compareKeys(a, b), strings.Compare(a.Key(), b.Key()); got != want {
			t.Fatalf("compareKeys(%q, %q) = %d, want %d", a.Key(), b.Key(), got, want)
		}
	}
}

package knowledge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/knowledge/synth"
)

var (
	demoOnce    sync.Once
	demoRecords []knowledge.Record
	demoErr     error
)

// demoRelease is the embedded demo release's records (imported once).
func demoRelease(tb testing.TB) []knowledge.Record {
	tb.Helper()
	demoOnce.Do(func() {
		_, demoRecords, _, demoErr = demo.Release(context.Background(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	})
	if demoErr != nil {
		tb.Fatalf("demo release: %v", demoErr)
	}
	return demoRecords
}

var (
	synthOnce    sync.Once
	synthRecords []knowledge.Record
	synthErr     error
)

// synthRelease is a small synthetic release: the official data plus
// generated records of every class.
func synthRelease(tb testing.TB) []knowledge.Record {
	tb.Helper()
	synthOnce.Do(func() {
		_, synthRecords, synthErr = synth.Release(context.Background(), synth.Options{Entries: 12000, Rules: 17000, Seed: 7})
	})
	if synthErr != nil {
		tb.Fatalf("synthetic release: %v", synthErr)
	}
	return synthRecords
}

// jsonContent is ContentFromRecords as it was before the fast path: every
// value through json.Unmarshal, appended to growing slices. It is the
// reference the fast decoder must equal.
func jsonContent(records []knowledge.Record) (*knowledge.Content, error) {
	c := &knowledge.Content{}
	for _, r := range records {
		var err error
		switch r.Class {
		case knowledge.ClassRestriction:
			c.Restrictions = append(c.Restrictions, knowledge.Restriction{})
			err = json.Unmarshal(r.Value, &c.Restrictions[len(c.Restrictions)-1])
		case knowledge.ClassDrug:
			c.Drugs = append(c.Drugs, knowledge.Drug{})
			err = json.Unmarshal(r.Value, &c.Drugs[len(c.Drugs)-1])
		case knowledge.ClassCatalogueDrug:
			c.Catalogue = append(c.Catalogue, knowledge.CatalogueDrug{})
			err = json.Unmarshal(r.Value, &c.Catalogue[len(c.Catalogue)-1])
		case knowledge.ClassInteraction:
			c.Interactions = append(c.Interactions, knowledge.Interaction{})
			err = json.Unmarshal(r.Value, &c.Interactions[len(c.Interactions)-1])
		case knowledge.ClassChronicDiagnosis:
			c.ChronicDiagnoses = append(c.ChronicDiagnoses, knowledge.ChronicDiagnosis{})
			err = json.Unmarshal(r.Value, &c.ChronicDiagnoses[len(c.ChronicDiagnoses)-1])
		case knowledge.ClassDiagnosisCategory:
			c.DiagnosisCategories = append(c.DiagnosisCategories, knowledge.DiagnosisCategory{})
			err = json.Unmarshal(r.Value, &c.DiagnosisCategories[len(c.DiagnosisCategories)-1])
		case knowledge.ClassDiagnosisBlock:
			c.DiagnosisBlocks = append(c.DiagnosisBlocks, knowledge.DiagnosisBlock{})
			err = json.Unmarshal(r.Value, &c.DiagnosisBlocks[len(c.DiagnosisBlocks)-1])
		case knowledge.ClassPhysician:
			c.Physicians = append(c.Physicians, knowledge.PhysicianRecord{})
			err = json.Unmarshal(r.Value, &c.Physicians[len(c.Physicians)-1])
		case knowledge.ClassPhysicianEvent:
			c.PhysicianEvents = append(c.PhysicianEvents, knowledge.PhysicianEvent{})
			err = json.Unmarshal(r.Value, &c.PhysicianEvents[len(c.PhysicianEvents)-1])
		case knowledge.ClassRecognitionItem:
			c.Recognition = append(c.Recognition, knowledge.RecognitionItem{})
			err = json.Unmarshal(r.Value, &c.Recognition[len(c.Recognition)-1])
		case knowledge.ClassOutpatientCondition:
			c.OutpatientConditions = append(c.OutpatientConditions, knowledge.OutpatientCondition{})
			err = json.Unmarshal(r.Value, &c.OutpatientConditions[len(c.OutpatientConditions)-1])
		case knowledge.ClassWarning:
			c.Warnings = append(c.Warnings, knowledge.ImportWarning{})
			err = json.Unmarshal(r.Value, &c.Warnings[len(c.Warnings)-1])
		default:
			return nil, fmt.Errorf("unknown record class %q (key %q): release written by a newer rxguard?", r.Class, r.Key)
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s record %q: %w", r.Class, r.Key, err)
		}
	}
	return c, nil
}

// TestContentFromRecordsMatchesJSON decodes whole releases both ways: the
// demo release and a small synthetic one (every class, the synthetic
// generator's records too). Our own encoder's output must never need the
// fallback, or the fast path would be fast only in name.
func TestContentFromRecordsMatchesJSON(t *testing.T) {
	synthRecords := synthRelease(t)
	for _, tc := range []struct {
		name    string
		records []knowledge.Record
	}{
		{"demo", demoRelease(t)},
		{"synth", synthRecords},
	} {
		t.Run(tc.name, func(t *testing.T) {
			classes := map[knowledge.Class]bool{}
			for _, r := range tc.records {
				classes[r.Class] = true
			}
			// Every class but import warnings (the demo import has none
			// left to warn about) is in the release.
			if len(classes) < len(knowledge.RecordCodecs)-1 {
				t.Fatalf("release has %d classes, want every class: %v", len(classes), classes)
			}
			want, err := jsonContent(tc.records)
			if err != nil {
				t.Fatalf("json decode: %v", err)
			}
			got, fallbacks, err := knowledge.DecodeContent(tc.records, false)
			if err != nil {
				t.Fatalf("fast decode: %v", err)
			}
			if fallbacks != 0 {
				t.Errorf("%d of %d records fell back to encoding/json", fallbacks, len(tc.records))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatal("fast decode differs from json.Unmarshal")
			}
			// No slice grew: each has exactly the capacity it needs.
			for _, s := range []struct {
				name     string
				len, cap int
			}{
				{"restrictions", len(got.Restrictions), cap(got.Restrictions)},
				{"drugs", len(got.Drugs), cap(got.Drugs)},
				{"catalogue", len(got.Catalogue), cap(got.Catalogue)},
				{"physician_events", len(got.PhysicianEvents), cap(got.PhysicianEvents)},
			} {
				if s.len == 0 || s.len != s.cap {
					t.Errorf("%s: len %d cap %d, want len = cap > 0", s.name, s.len, s.cap)
				}
			}
		})
	}
}

// TestContentFromRecordsInterns: strings that repeat across records are
// one copy, so the index that keeps them holds one.
func TestContentFromRecordsInterns(t *testing.T) {
	c, err := knowledge.ContentFromRecords(synthRelease(t))
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, vals []string) {
		t.Helper()
		ptrs := map[string]*byte{}
		for _, v := range vals {
			if v == "" {
				continue
			}
			if p, ok := ptrs[v]; ok && p != unsafe.StringData(v) {
				t.Errorf("%s %q: two copies", what, v)
				return
			}
			ptrs[v] = unsafe.StringData(v)
		}
		if len(ptrs) == 0 || len(ptrs) == len(vals) {
			t.Fatalf("%s: %d distinct of %d: the test needs repeated values", what, len(ptrs), len(vals))
		}
	}
	var files, generics, classes, depts, dates []string
	for _, d := range c.Drugs {
		files, generics, classes = append(files, d.Source.File), append(generics, d.GenericName), append(classes, d.Class)
	}
	for _, p := range c.Physicians {
		depts = append(depts, p.DepartmentCode)
	}
	for _, e := range c.PhysicianEvents {
		dates = append(dates, e.Date)
	}
	same("drug source file", files)
	same("drug generic name", generics)
	same("drug class", classes)
	same("physician department", depts)
	same("event date", dates)
}

func TestContentFromRecordsErrorsMatchJSON(t *testing.T) {
	good := demoRelease(t)
	for _, tc := range []struct {
		name string
		edit func([]knowledge.Record) []knowledge.Record
	}{
		{"unknown class", func(r []knowledge.Record) []knowledge.Record {
			return append(r, knowledge.Record{Class: "future_class", Key: "k", Value: []byte(`{}`)})
		}},
		{"bad value", func(r []knowledge.Record) []knowledge.Record {
			r[len(r)/2].Value = []byte(`{"code":1}`)
			return r
		}},
		{"truncated value", func(r []knowledge.Record) []knowledge.Record {
			v := r[len(r)/3].Value
			r[len(r)/3].Value = v[:len(v)-1]
			return r
		}},
		{"bad value before unknown class", func(r []knowledge.Record) []knowledge.Record {
			r[0].Value = []byte(`{"source":{"row":"1"}}`)
			return append(r, knowledge.Record{Class: "future_class", Key: "k"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			records := tc.edit(slices.Clone(good))
			_, wantErr := jsonContent(records)
			got, gotErr := knowledge.ContentFromRecords(records)
			if wantErr == nil || gotErr == nil || gotErr.Error() != wantErr.Error() || got != nil {
				t.Fatalf("got %v, %v; want nil, %v", got != nil, gotErr, wantErr)
			}
		})
	}
}

// TestDecodeRecordEdgeCases: inputs json.Marshal never writes decode as
// json.Unmarshal decodes them (value and error); fast says whether the
// fast path handles it itself.
func TestDecodeRecordEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		class knowledge.Class
		in    string
		fast  bool
	}{
		{"ours", knowledge.ClassDrug, `{"code":"X","generic_name":"阿司匹林","indication_icd":["I20","I21"],"second_line":true,"source":{"batch":"b","file":"f","row":3}}`, true},
		{"html escapes", knowledge.ClassRestriction, `{"type":"DRUG_AGE","code":"A","name":"\u003c18\u0026\u003e","text":"a\"b\\c\nd\te\r\u2028\u0000","source":{"batch":"","file":""}}`, true},
		{"other escapes", knowledge.ClassRestriction, `{"type":"A","code":"\/\b\f\u00e9\u00E9","source":{"batch":"","file":""}}`, true},
		{"float forms", knowledge.ClassRestriction, `{"type":"ITEM_FREQUENCY","daily_limit":1.5e-7,"source":{"batch":"","file":""}}`, true},
		{"negative zero float", knowledge.ClassRestriction, `{"daily_limit":-0,"source":{}}`, true},
		{"empty structured", knowledge.ClassCatalogueDrug, `{"sheet":"s","structured":{},"source":{"batch":"b","file":"f"}}`, true},
		{"empty object", knowledge.ClassInteraction, `{}`, true},
		{"surrogate pair", knowledge.ClassRestriction, `{"name":"\ud83d\ude00"}`, false},
		{"lone surrogate", knowledge.ClassRestriction, `{"name":"\ud83d"}`, false},
		{"invalid utf8", knowledge.ClassRestriction, "{\"name\":\"a\xffb\"}", false},
		{"raw control char", knowledge.ClassRestriction, "{\"name\":\"a\nb\"}", false},
		{"bad escape", knowledge.ClassRestriction, `{"name":"\x"}`, false},
		{"whitespace", knowledge.ClassDrug, `{ "code":"X"}`, false},
		{"trailing whitespace", knowledge.ClassDrug, "{\"code\":\"X\"}\n", false},
		{"trailing data", knowledge.ClassDrug, `{"code":"X"}{}`, false},
		{"upper-case key", knowledge.ClassDrug, `{"Code":"X"}`, false},
		{"unicode-folded key", knowledge.ClassRecognitionItem, `{"ſcope":"X"}`, false},
		{"unknown key", knowledge.ClassDrug, `{"colour":"red"}`, false},
		{"duplicate key", knowledge.ClassDrug, `{"code":"X","code":"Y"}`, false},
		{"duplicate in source", knowledge.ClassDrug, `{"source":{"row":1,"row":2}}`, false},
		{"null top", knowledge.ClassDrug, `null`, false},
		{"null field", knowledge.ClassDrug, `{"code":null}`, false},
		{"null list", knowledge.ClassDrug, `{"indication_icd":null}`, false},
		{"empty list", knowledge.ClassDrug, `{"indication_icd":[]}`, false},
		{"list of numbers", knowledge.ClassDrug, `{"indication_icd":[1]}`, false},
		{"int as float", knowledge.ClassDiagnosisBlock, `{"level":1.0}`, false},
		{"int exponent", knowledge.ClassDiagnosisBlock, `{"level":1e1}`, false},
		{"negative zero int", knowledge.ClassDiagnosisBlock, `{"level":-0}`, false},
		{"leading zero", knowledge.ClassDiagnosisBlock, `{"level":01}`, false},
		{"int overflow", knowledge.ClassPhysicianEvent, `{"seq":99999999999999999999}`, false},
		{"19 digits", knowledge.ClassPhysicianEvent, `{"seq":1234567890123456789}`, false},
		{"negative int", knowledge.ClassPhysicianEvent, `{"seq":-12,"points":-3}`, true},
		{"float overflow", knowledge.ClassRestriction, `{"daily_limit":1e400}`, false},
		{"string for int", knowledge.ClassRecognitionItem, `{"window_days":"7"}`, false},
		{"number for string", knowledge.ClassRecognitionItem, `{"code":7}`, false},
		{"bool forms", knowledge.ClassCatalogueDrug, `{"structured":{"child_only":false,"second_line":true}}`, true},
		{"bad bool", knowledge.ClassCatalogueDrug, `{"structured":{"child_only":tru}}`, false},
		{"truncated", knowledge.ClassDrug, `{"code":"X"`, false},
		{"truncated string", knowledge.ClassDrug, `{"code":"X`, false},
		{"empty input", knowledge.ClassDrug, ``, false},
		{"array top", knowledge.ClassDrug, `[]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := knowledge.RecordCodecs[tc.class]
			fastV, fastOK := c.Fast([]byte(tc.in))
			if fastOK != tc.fast {
				t.Errorf("fast path handled it: %v, want %v", fastOK, tc.fast)
			}
			want, wantErr := c.JSON([]byte(tc.in))
			if fastOK && (wantErr != nil || !reflect.DeepEqual(fastV, want)) {
				t.Fatalf("fast path: %+v; json.Unmarshal: %+v, %v", fastV, want, wantErr)
			}
			got, gotErr := c.Decode([]byte(tc.in))
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || (wantErr == nil && !reflect.DeepEqual(got, want)) {
				t.Fatalf("decode: %+v, %v; json.Unmarshal: %+v, %v", got, gotErr, want, wantErr)
			}
		})
	}
}

// classes in a fixed order, so a fuzz input's first byte picks one.
func fuzzClasses() []knowledge.Class {
	var cs []knowledge.Class
	for c := range knowledge.RecordCodecs {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	return cs
}

// FuzzDecodeRecord is the differential proof: for any bytes, decoding a
// record gives what json.Unmarshal gives (value and error), and whenever
// the fast path alone accepts an input, json.Unmarshal accepts it too with
// a deep-equal value. Seeds are real records of every class from the demo
// release and variants our encoder never writes.
func FuzzDecodeRecord(f *testing.F) {
	classes := fuzzClasses()
	perClass := map[knowledge.Class]int{}
	for _, r := range demoRelease(f) {
		if perClass[r.Class] >= 3 {
			continue
		}
		perClass[r.Class]++
		i := uint8(slices.Index(classes, r.Class))
		f.Add(i, r.Value)
		f.Add(i, append(slices.Clone(r.Value), ' '))
		f.Add(i, []byte(string(r.Value[:len(r.Value)/2])))
	}
	f.Add(uint8(slices.Index(classes, knowledge.ClassWarning)), []byte(`{"source":{"batch":"第一批","file":"a.xlsx","sheet":"Sheet1","row":2},"message":"\u003cx\u003e"}`))
	f.Add(uint8(slices.Index(classes, knowledge.ClassRestriction)), []byte(`{"type":"ITEM_FREQUENCY","daily_limit":2.5,"groups":["a","\u00e9"],"Code":"x"}`))
	f.Fuzz(func(t *testing.T, ci uint8, v []byte) {
		c := knowledge.RecordCodecs[classes[int(ci)%len(classes)]]
		want, wantErr := c.JSON(v)
		if fast, ok := c.Fast(v); ok && (wantErr != nil || !reflect.DeepEqual(fast, want)) {
			t.Fatalf("fast path accepted %q as %+v; json.Unmarshal: %+v, %v", v, fast, want, wantErr)
		}
		got, gotErr := c.Decode(v)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("decode %q: error %v, json.Unmarshal %v", v, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decode %q: %+v, json.Unmarshal %+v", v, got, want)
		}
	})
}

// BenchmarkDecodeRecords decodes the demo release: json = the previous
// ContentFromRecords (json.Unmarshal per record), fast = ContentFromRecords.
func BenchmarkDecodeRecords(b *testing.B) {
	records := demoRelease(b)
	for _, bc := range []struct {
		name string
		fn   func([]knowledge.Record) (*knowledge.Content, error)
	}{
		{"json", jsonContent},
		{"fast", knowledge.ContentFromRecords},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.fn(records); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(records)), "ns/record")
		})
	}
}

// TestContentFromOwnedRecords: decoding handed-over records gives the same
// content and leaves no record holding its value (so the GC can reclaim
// them during the decode).
func TestContentFromOwnedRecords(t *testing.T) {
	records := demoRelease(t)
	want, err := knowledge.ContentFromRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	owned := slices.Clone(records)
	got, err := knowledge.ContentFromOwnedRecords(owned)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("content from owned records differs")
	}
	for i, r := range owned {
		if r.Value != nil || r.Key != "" {
			t.Fatalf("record %d still holds its value after the decode", i)
		}
	}
	if records[0].Value == nil {
		t.Fatal("ContentFromRecords cleared its caller's records")
	}
}

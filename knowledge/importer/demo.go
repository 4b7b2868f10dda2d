package importer

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rxguard/rxguard/knowledge"
)

// The demo tables are synthetic (see data/README.md) but go through the
// same checks as official data: a demo release must not hide problems a real
// one would show.

const demoBatch = "演示数据"

var utf8BOM = []byte("\xef\xbb\xbf")

// readCSV reads a comma-separated file whole, header included. A UTF-8 BOM
// (Excel writes one when saving CSV) is dropped; rows may differ in width.
// Row i of the result is reported as row i+1: the line number as long as
// the file has no blank lines (encoding/csv skips them) or multi-line cells.
func readCSV(fsys fs.FS, path string) ([][]string, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, utf8BOM)))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err // *csv.ParseError names the line
	}
	return rows, nil
}

var icdPrefix = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z]?(\.[0-9A-Z]{1,4})?$`)

const (
	dgCode = iota
	dgName
	dgForm
	dgClass
	dgRestriction
	dgICD
	dgSecondLine
)

// parseDemoDrugs reads demo/drugs.csv.
func parseDemoDrugs(file string, rows [][]string) ([]knowledge.Drug, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: demoBatch, File: file}, rows, []column{
		{name: "code"},
		{name: "generic_name"},
		{name: "dosage_form", optional: true},
		{name: "class", optional: true},
		{name: "restriction_text", optional: true},
		{name: "indication_icd_prefixes", aliases: []string{"indication_icd"}, optional: true},
		{name: "second_line", optional: true},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.Drug
	seen := map[string]int{}
	t.each(dgCode, func(i int) {
		d := knowledge.Drug{
			Code:            t.code(i, dgCode, isDrugCode, drugCodeKind),
			GenericName:     t.text(i, dgName),
			DosageForm:      t.text(i, dgForm),
			Class:           t.text(i, dgClass),
			RestrictionText: t.text(i, dgRestriction),
			Source:          t.source(i),
		}
		switch d.Class {
		case "", "甲", "乙":
		default:
			t.warn(i, wUnknownValue, "%s: class %q is not 甲, 乙 or empty", d.GenericName, d.Class)
		}
		for _, p := range strings.FieldsFunc(t.raw(i, dgICD), func(r rune) bool { return r == ';' || r == '；' || r == ',' || r == '，' }) {
			p = toHalfWidth(stripSpace(p))
			if p == "" {
				continue
			}
			if !icdPrefix.MatchString(p) {
				t.warn(i, wBadCode, "%s: indication prefix %q is not an ICD-10 code prefix", d.GenericName, p)
			}
			d.IndicationICD = append(d.IndicationICD, p)
		}
		switch v := strings.ToLower(stripSpace(t.raw(i, dgSecondLine))); v {
		case "yes", "y", "true", "1", "是":
			d.SecondLine = true
		case "", "no", "n", "false", "0", "否":
		default:
			t.warn(i, wUnknownValue, "%s: second_line %q is not yes or no; read as no", d.GenericName, v)
		}
		if j, ok := seen[d.Code]; ok {
			t.warn(i, wDuplicateCode, "%s repeats row %d; the first is kept", d.Code, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[d.Code] = len(out)
		out = append(out, d)
	})
	return out, t.result(), nil
}

// parseDemoInteractions reads demo/interactions.csv.
func parseDemoInteractions(file string, rows [][]string) ([]knowledge.Interaction, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: demoBatch, File: file}, rows, []column{
		{name: "drug_a"}, {name: "drug_b"}, {name: "severity"}, {name: "reason", optional: true},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.Interaction
	seen := map[string]int{}
	t.each(0, func(i int) {
		it := knowledge.Interaction{
			DrugA: t.text(i, 0), DrugB: t.text(i, 1), Severity: t.text(i, 2), Reason: t.text(i, 3),
			Source: t.source(i),
		}
		if it.DrugB == "" {
			t.warn(i, wNoCode, "drug_b is empty for %s", it.DrugA)
			t.skipped++
			return
		}
		if it.Severity != "禁忌" && it.Severity != "慎用" {
			t.warn(i, wUnknownValue, "%s + %s: severity %q is not 禁忌 or 慎用", it.DrugA, it.DrugB, it.Severity)
		}
		if it.DrugA == it.DrugB {
			t.warn(i, wUnknownValue, "%s interacts with itself", it.DrugA)
		}
		// The pair is unordered, as knowledge.Content keys it.
		k := it.DrugA + "+" + it.DrugB
		if it.DrugB < it.DrugA {
			k = it.DrugB + "+" + it.DrugA
		}
		if j, ok := seen[k]; ok {
			t.warn(i, wDuplicateKey, "%s + %s repeats row %d; the first is kept", it.DrugA, it.DrugB, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[k] = len(out)
		out = append(out, it)
	})
	return out, t.result(), nil
}

// parseDemoChronic reads demo/chronic-diagnoses.csv.
func parseDemoChronic(file string, rows [][]string) ([]knowledge.ChronicDiagnosis, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: demoBatch, File: file}, rows, []column{
		{name: "icd_prefix", aliases: []string{"prefix"}}, {name: "name"},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.ChronicDiagnosis
	seen := map[string]int{}
	t.each(0, func(i int) {
		c := knowledge.ChronicDiagnosis{Prefix: t.code(i, 0, icdPrefix.MatchString, "ICD-10 code prefix"), Name: t.text(i, 1), Source: t.source(i)}
		if j, ok := seen[c.Prefix]; ok {
			t.warn(i, wDuplicateCode, "%s repeats row %d; the first is kept", c.Prefix, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[c.Prefix] = len(out)
		out = append(out, c)
	})
	return out, t.result(), nil
}

var physicianTitles = map[string]bool{
	"TITLE_RESIDENT": true, "TITLE_ATTENDING": true, "TITLE_ASSOCIATE_CHIEF": true, "TITLE_CHIEF": true,
}

func nonEmpty(s string) bool { return s != "" }

// parseDemoPhysicians reads demo/physicians.csv.
func parseDemoPhysicians(file string, rows [][]string) ([]knowledge.PhysicianRecord, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: demoBatch, File: file}, rows, []column{
		{name: "code"}, {name: "name"}, {name: "title", optional: true}, {name: "department_code", optional: true},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.PhysicianRecord
	seen := map[string]int{}
	t.each(0, func(i int) {
		p := knowledge.PhysicianRecord{
			Code: t.code(i, 0, nonEmpty, "physician code"), Name: t.text(i, 1),
			Title: stripSpace(t.raw(i, 2)), DepartmentCode: stripSpace(t.raw(i, 3)), Source: t.source(i),
		}
		if p.Title != "" && !physicianTitles[p.Title] {
			t.warn(i, wUnknownValue, "%s: title %q is not a TITLE_* value", p.Code, p.Title)
		}
		if j, ok := seen[p.Code]; ok {
			t.warn(i, wDuplicateCode, "%s repeats row %d; the first is kept", p.Code, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[p.Code] = len(out)
		out = append(out, p)
	})
	return out, t.result(), nil
}

var physicianEventTypes = map[string]bool{
	"POINTS_ADDED": true, "POINTS_REDUCED": true, "SUSPENDED": true, "TERMINATED": true, "RESTORED": true,
}

const (
	evSeq = iota
	evPhysician
	evType
	evDate
	evPoints
	evUntil
	evReason
)

// parseDemoPhysicianEvents reads demo/physician-events.csv.
func parseDemoPhysicianEvents(file string, rows [][]string) ([]knowledge.PhysicianEvent, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: demoBatch, File: file}, rows, []column{
		{name: "seq"}, {name: "physician_code"}, {name: "type"}, {name: "date"},
		{name: "points", optional: true}, {name: "until", optional: true}, {name: "reason", optional: true},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.PhysicianEvent
	seen := map[int64]int{}
	t.each(evSeq, func(i int) {
		rawSeq := stripSpace(t.raw(i, evSeq))
		seq, err := strconv.ParseInt(rawSeq, 10, 64)
		if err != nil || seq < 1 {
			// The sequence number is the event's identity and its order in
			// the feed; an event without one cannot be placed.
			t.warn(i, wBadNumber, "seq %q is not a positive whole number; event skipped", rawSeq)
			t.skipped++
			return
		}
		e := knowledge.PhysicianEvent{
			Seq:           seq,
			PhysicianCode: stripSpace(t.raw(i, evPhysician)),
			Type:          stripSpace(t.raw(i, evType)),
			Date:          stripSpace(t.raw(i, evDate)),
			Until:         stripSpace(t.raw(i, evUntil)),
			Reason:        t.text(i, evReason),
			Source:        t.source(i),
		}
		if e.PhysicianCode == "" {
			t.warn(i, wBadCode, "event %d has no physician_code", seq)
		}
		if !physicianEventTypes[e.Type] {
			t.warn(i, wUnknownValue, "event %d: type %q is not a known event type", seq, e.Type)
		}
		if !validDate(e.Date) {
			t.warn(i, wBadDate, "event %d: date %q is not YYYY-MM-DD", seq, e.Date)
		}
		if e.Until != "" && !validDate(e.Until) {
			t.warn(i, wBadDate, "event %d: until %q is not YYYY-MM-DD", seq, e.Until)
		}
		if raw := stripSpace(t.raw(i, evPoints)); raw != "" {
			if n, err := strconv.Atoi(raw); err == nil && n >= 0 && n <= 12 {
				e.Points = n
			} else {
				t.warn(i, wBadNumber, "event %d: points %q is not 0–12; read as 0", seq, raw)
			}
		}
		if j, ok := seen[seq]; ok {
			t.warn(i, wDuplicateKey, "seq %d repeats row %d; the first is kept", seq, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[seq] = len(out)
		out = append(out, e)
	})
	return out, t.result(), nil
}

func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// checkEventPhysicians warns about events for physicians the registry does
// not list: the feed and the registry come from the same bureau, so a gap
// means one of them is stale.
func checkEventPhysicians(events []knowledge.PhysicianEvent, physicians []knowledge.PhysicianRecord) []knowledge.ImportWarning {
	known := make(map[string]bool, len(physicians))
	for _, p := range physicians {
		known[p.Code] = true
	}
	var ws []knowledge.ImportWarning
	for _, e := range events {
		if e.PhysicianCode != "" && !known[e.PhysicianCode] {
			ws = append(ws, knowledge.ImportWarning{Source: e.Source,
				Message: fmt.Sprintf("%s: event %d is for %s, who is not in the physician registry", wUnknownValue, e.Seq, e.PhysicianCode)})
		}
	}
	return ws
}

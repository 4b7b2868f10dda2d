package importer

import (
	"strconv"

	"github.com/rxguard/rxguard/knowledge"
)

// The two lists the encounter-level and repeat-examination rules read
// (RULES.md "Encounter-level rules … and repeat examinations"): the
// mutual-recognition list of examinations and tests (检查检验结果互认) and
// the conditions normally treated as outpatients (低标入院). They follow
// the demo tables' convention: a row is kept with a warning when it can
// still serve (a malformed code identifies the row; it simply matches no
// order), and skipped with a warning when it cannot (no window to judge by).

// maxWindowDays bounds a recognition window: ten years is longer than any
// published window (days to months), so a larger value is a typo.
const maxWindowDays = 3660

const (
	recCode = iota
	recName
	recWindow
	recScope
)

// parseDemoRecognition reads demo/exam-recognition.csv (item_code,
// item_name, window_days, scope).
func parseDemoRecognition(file string, rows [][]string) ([]knowledge.RecognitionItem, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: demoBatch, File: file}, rows, []column{
		{name: "item_code", aliases: []string{"code"}},
		{name: "item_name", aliases: []string{"name"}},
		{name: "window_days"},
		{name: "scope"},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.RecognitionItem
	seen := map[string]int{}
	t.each(recCode, func(i int) {
		r := knowledge.RecognitionItem{
			Code:   t.canonicalCode(i, recCode, isItemCode, itemCodeKind),
			Name:   t.text(i, recName),
			Scope:  t.text(i, recScope),
			Source: t.source(i),
		}
		raw := stripSpace(t.raw(i, recWindow))
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxWindowDays {
			// The window is what the rule judges by; a guessed one would
			// either flag legitimate repeats or miss real ones.
			t.warn(i, wBadNumber, "%s %s: window_days %q is not a whole number of days 1–%d; row skipped", r.Code, r.Name, raw, maxWindowDays)
			t.skipped++
			return
		}
		r.WindowDays = n
		if r.Scope == "" {
			t.warn(i, wUnknownValue, "%s %s: scope is empty; the finding will not say where the result is recognised", r.Code, r.Name)
		}
		if j, ok := seen[r.Code]; ok {
			t.warn(i, wDuplicateCode, "%s repeats row %d; the first is kept", r.Code, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[r.Code] = len(out)
		out = append(out, r)
	})
	return out, t.result(), nil
}

// parseDemoOutpatient reads demo/outpatient-manageable.csv (icd_prefix,
// name), like chronic-diagnoses.csv.
func parseDemoOutpatient(file string, rows [][]string) ([]knowledge.OutpatientCondition, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: demoBatch, File: file}, rows, []column{
		{name: "icd_prefix", aliases: []string{"prefix"}}, {name: "name"},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.OutpatientCondition
	seen := map[string]int{}
	t.each(0, func(i int) {
		c := knowledge.OutpatientCondition{
			Prefix: t.canonicalCode(i, 0, icdPrefix.MatchString, "ICD-10 code prefix"),
			Name:   t.text(i, 1), Source: t.source(i),
		}
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

// canonicalCode is code with the result in the canonical form requests are
// looked up by (knowledge.CanonicalCode: upper case), so "j06" and "J06"
// are one key; the change is warned about like any other normalisation.
func (t *table) canonicalCode(i, c int, valid func(string) bool, kind string) string {
	code, changed := cleanCode(t.raw(i, c))
	canon, upper := knowledge.CanonicalCode(code)
	if changed || upper {
		t.warn(i, wCodeNormalised, "%s %q read as %q", cols(t, c), t.raw(i, c), canon)
	}
	if !valid(canon) {
		t.warn(i, wBadCode, "%s %q is not a well-formed %s", cols(t, c), canon, kind)
	}
	return canon
}

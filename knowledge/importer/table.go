package importer

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rxguard/rxguard/knowledge"
)

// Warning categories. A warning's message is "<category>: <detail>", so a
// report can count them and an operator can grep for them.
const (
	wEmptyRow       = "empty row skipped"
	wFooterRow      = "footer row skipped"
	wNoCode         = "row without code skipped"
	wBadCode        = "malformed code"
	wCodeNormalised = "code normalised"
	wBadNumber      = "bad number"
	wUnknownValue   = "unknown value"
	wTypeMismatch   = "unexpected 限定类型"
	wNoSheet1Row    = "no Sheet1 row"
	wUnusedSheet1   = "Sheet1 row without codes"
	wDupSheet1      = "duplicate Sheet1 name"
	wDuplicateCode  = "duplicate code"
	wMultiGroup     = "code in several groups"
	wDuplicateKey   = "duplicate key"
	wUnknownWindow  = "unknown 频度"
	wUnstructured   = "unstructured text"
	wUnknownUnit    = "unknown unit"
	wBadDate        = "bad date"
)

// warningCategory returns the category of a warning message.
func warningCategory(msg string) string {
	if i := strings.Index(msg, ": "); i >= 0 {
		return msg[:i]
	}
	return msg
}

// errMissingColumn is wrapped by the error for a sheet whose header lacks a
// column the parser needs.
var errMissingColumn = errors.New("missing column")

// errNoHeader is wrapped by the error for a sheet without any row.
var errNoHeader = errors.New("no header row")

// column is a column a parser locates by its header. Headers are compared
// after removing all whitespace (published headers carry line breaks and
// padding), folding full-width ASCII and dropping a trailing bracketed note
// such as "国标代码（15位）".
type column struct {
	name     string   // header as the batch publishes it; named in errors
	aliases  []string // other headers accepted for the same column
	optional bool
}

// headerScan bounds how far down a sheet the header row is looked for: a
// title or a publication note may precede it, data never does.
const headerScan = 10

func headerKey(s string) string {
	s = toHalfWidth(stripSpace(s))
	s = strings.TrimLeft(s, "*")
	for _, sep := range []string{"(", "（", "["} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	s = strings.TrimRight(s, ":：*")
	return strings.ToLower(s)
}

// table is one sheet (or CSV file) being parsed: its rows, where its header
// is, and the warnings raised so far.
type table struct {
	src      knowledge.Source // file, sheet and batch; Row set per warning
	rows     [][]string
	header   int   // index in rows of the header row
	idx      []int // per requested column: index in a row, -1 when absent
	warnings []knowledge.ImportWarning
	out      []knowledge.Restriction
	byKey    map[string]int // Key() → index in out
	skipped  int            // data rows that produced no record
}

// newTable locates the header row and the requested columns. A missing
// required column is an error naming it and the row where the header was
// expected.
func newTable(src knowledge.Source, rows [][]string, cols []column) (*table, error) {
	t := &table{src: src, rows: rows}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: %w", t.at(0), errNoHeader)
	}
	bestRow, bestFound, bestMissing := 0, -1, []column(nil)
	for i := 0; i < len(rows) && i < headerScan; i++ {
		idx, found, missing := matchHeader(rows[i], cols)
		if len(missing) == 0 {
			t.header, t.idx = i, idx
			return t, nil
		}
		if found > bestFound {
			bestRow, bestFound, bestMissing = i, found, missing
		}
	}
	names := make([]string, len(bestMissing))
	for i, c := range bestMissing {
		names[i] = c.name
		if len(c.aliases) > 0 {
			names[i] += " (or " + strings.Join(c.aliases, ", ") + ")"
		}
	}
	return nil, fmt.Errorf("%s: %w %s", t.at(bestRow), errMissingColumn, strings.Join(names, "; "))
}

func matchHeader(row []string, cols []column) (idx []int, found int, missing []column) {
	keys := make([]string, len(row))
	for j, h := range row {
		keys[j] = headerKey(h)
	}
	idx = make([]int, len(cols))
	used := make(map[int]bool, len(cols))
	for i, c := range cols {
		idx[i] = -1
	search:
		for _, name := range append([]string{c.name}, c.aliases...) {
			want := headerKey(name)
			for j, k := range keys {
				if k == want && !used[j] {
					idx[i] = j
					used[j] = true
					break search
				}
			}
		}
		switch {
		case idx[i] >= 0:
			found++
		case !c.optional:
			missing = append(missing, c)
		}
	}
	return idx, found, missing
}

// at describes a row for an error: "file [sheet] row n".
func (t *table) at(i int) string {
	s := t.src.File
	if t.src.Sheet != "" {
		s += " [" + t.src.Sheet + "]"
	}
	return fmt.Sprintf("%s row %d", s, i+1)
}

// source is the Source of row index i (0-based in rows).
func (t *table) source(i int) knowledge.Source {
	s := t.src
	s.Row = i + 1
	return s
}

// dataRows is the number of rows after the header.
func (t *table) dataRows() int { return len(t.rows) - t.header - 1 }

// raw returns column c of row i as stored.
func (t *table) raw(i, c int) string {
	j := t.idx[c]
	if j < 0 || j >= len(t.rows[i]) {
		return ""
	}
	return t.rows[i][j]
}

// text returns column c of row i, cleaned.
func (t *table) text(i, c int) string { return cleanText(t.raw(i, c)) }

// has reports whether column c was found.
func (t *table) has(c int) bool { return t.idx[c] >= 0 }

func (t *table) warn(i int, category, format string, args ...any) {
	t.warnings = append(t.warnings, knowledge.ImportWarning{
		Source:  t.source(i),
		Message: category + ": " + fmt.Sprintf(format, args...),
	})
}

// footerPrefixes start the summary and note rows published below the data.
var footerPrefixes = []string{"合计", "总计", "小计", "共计", "备注", "注:", "注：", "说明", "数据来源", "制表"}

// skipRow decides whether data row i carries no record: it is empty, a
// footer or note (a merged cell across the table, "合计", "备注：…"), or
// has no code to index a record on. Such rows are warned about, never
// dropped silently. codeCol is the column the records are keyed on.
func (t *table) skipRow(i, codeCol int) bool {
	if code, _ := cleanCode(t.raw(i, codeCol)); code != "" {
		return false
	}
	var distinct []string
	for _, c := range t.rows[i] {
		c = cleanText(c)
		if c == "" || slices.Contains(distinct, c) {
			continue
		}
		distinct = append(distinct, c)
	}
	if len(distinct) == 0 { // each() handles empty rows; kept for safety
		t.warn(i, wEmptyRow, "no value in any cell")
		return true
	}
	// Without a code a row cannot be indexed. The footers published below
	// the data ("合计", "备注：…", often one merged cell) are told apart
	// from a data row that lost its code only for a clearer message.
	footer := false
	for _, d := range distinct {
		for _, p := range footerPrefixes {
			footer = footer || strings.HasPrefix(d, p)
		}
	}
	if footer {
		t.warn(i, wFooterRow, "%s", truncate(strings.Join(distinct, " "), 40))
		return true
	}
	t.warn(i, wNoCode, "%s is empty; row: %s", cols(t, codeCol), truncate(strings.Join(distinct, " | "), 60))
	return true
}

// cols names column c for messages: the header as found in the sheet.
func cols(t *table, c int) string {
	if t.idx[c] >= 0 && t.header < len(t.rows) && t.idx[c] < len(t.rows[t.header]) {
		if h := cleanText(t.rows[t.header][t.idx[c]]); h != "" {
			return h
		}
	}
	return fmt.Sprintf("column %d", c+1)
}

// code returns the cleaned code of row i in column c, warning when the
// cell had to be normalised or the result is not a well-formed national
// code. The record is kept either way: a malformed code still identifies
// the row for the physician, and UNKNOWN_ITEM reports it at check time.
func (t *table) code(i, c int, valid func(string) bool, kind string) string {
	code, changed := cleanCode(t.raw(i, c))
	if changed {
		t.warn(i, wCodeNormalised, "%s %q read as %q", cols(t, c), t.raw(i, c), code)
	}
	if !valid(code) {
		t.warn(i, wBadCode, "%s %q is not a well-formed %s", cols(t, c), code, kind)
	}
	return code
}

const (
	drugCodeKind = "national drug code (20–23 characters, X/Z/T, A–Z 0–9)"
	itemCodeKind = "national service item code (15 digits)"
)

// checkType warns when the 限定类型 column names another rule than the
// file's: a sign of a mixed-up or edited file, but the row itself is still
// read as the file's rule.
func (t *table) checkType(i, c int, want string) {
	if c < 0 || !t.has(c) {
		return
	}
	if got := t.text(i, c); got != "" && stripSpace(got) != want {
		t.warn(i, wTypeMismatch, "%s %q, expected %q", cols(t, c), got, want)
	}
}

// parsed is what a row parser made of one file: the records, the warnings,
// and the counts the import report shows. Every data row either produced
// one of the records or is counted in skipped and covered by a warning.
type parsed struct {
	restrictions []knowledge.Restriction
	warnings     []knowledge.ImportWarning
	sheet        string // sheet the records come from
	sourceRows   int    // data rows of that sheet, header excluded
	skipped      int    // data rows that produced no record
	joined       int    // two-sheet drug files: Sheet1 rows joined onto at least one code
}

// rowEmpty reports a row without any visible value.
func rowEmpty(row []string) bool {
	for _, c := range row {
		if strings.ContainsFunc(c, func(r rune) bool { return !isSpace(r) }) {
			return false
		}
	}
	return true
}

// nonEmpty calls fn for every data row with a value in some cell; runs of
// consecutive empty rows are counted as skipped and warned about once.
func (t *table) nonEmpty(fn func(i int)) {
	emptyFrom := -1
	flush := func(end int) {
		if emptyFrom < 0 {
			return
		}
		n := end - emptyFrom
		t.skipped += n
		if n == 1 {
			t.warn(emptyFrom, wEmptyRow, "no value in any cell")
		} else {
			t.warn(emptyFrom, wEmptyRow, "rows %d–%d have no value in any cell", emptyFrom+1, end)
		}
		emptyFrom = -1
	}
	for i := t.header + 1; i < len(t.rows); i++ {
		if rowEmpty(t.rows[i]) {
			if emptyFrom < 0 {
				emptyFrom = i
			}
			continue
		}
		flush(i)
		fn(i)
	}
	flush(len(t.rows))
}

// each calls fn for every data row that carries a record: empty rows
// (warned once per run of consecutive ones), footers and rows without a
// value in codeCol are counted as skipped and warned about instead.
func (t *table) each(codeCol int, fn func(i int)) {
	t.nonEmpty(func(i int) {
		if t.skipRow(i, codeCol) {
			t.skipped++
			return
		}
		fn(i)
	})
}

// newRestriction starts the record of data row i.
func (t *table) newRestriction(i int, rule knowledge.RuleType, code, name string) knowledge.Restriction {
	return knowledge.Restriction{Type: rule, Code: code, Name: name, Source: t.source(i)}
}

// add keeps r unless a record with the same key was kept before; then it
// returns that record and false, and the row counts as skipped. The caller
// words the warning, since what a collision means differs per batch.
func (t *table) add(r knowledge.Restriction) (*knowledge.Restriction, bool) {
	if t.byKey == nil {
		t.byKey = make(map[string]int)
	}
	k := r.Key()
	if j, ok := t.byKey[k]; ok {
		t.skipped++
		return &t.out[j], false
	}
	t.byKey[k] = len(t.out)
	t.out = append(t.out, r)
	return nil, true
}

// addOrWarn is add with the common warning for a repeated key.
func (t *table) addOrWarn(i int, r knowledge.Restriction) {
	if first, ok := t.add(r); !ok {
		t.warn(i, wDuplicateCode, "%s %s repeats row %d; the first is kept", r.Code, r.Name, first.Source.Row)
	}
}

// result packages what the table collected.
func (t *table) result() parsed {
	return parsed{
		restrictions: t.out,
		warnings:     t.warnings,
		sheet:        t.src.Sheet,
		sourceRows:   t.dataRows(),
		skipped:      t.skipped,
	}
}

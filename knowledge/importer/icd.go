package importer

import (
	"bytes"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"github.com/rxguard/rxguard/knowledge"
)

const icdBatch = "ICD-10"

// readTSV reads a tab-separated file whole, header included. Not through
// encoding/csv: TSV has no quoting, and a '"' in a Chinese disease name must
// stay a character. Row i is line i+1; a blank line is an empty row.
func readTSV(fsys fs.FS, path string) ([][]string, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, err
	}
	text := string(bytes.TrimPrefix(b, utf8BOM))
	text = strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if text == "" {
		return nil, nil
	}
	lines := strings.Split(text, "\n")
	rows := make([][]string, len(lines))
	for i, l := range lines {
		rows[i] = strings.Split(l, "\t")
	}
	return rows, nil
}

var icdCategory = regexp.MustCompile(`^[A-Z][0-9]{2}$`)

// dropDaggerAsterisk removes the dagger (†, often typed "+") or asterisk
// of ICD-10's dual classification ("A17+", "G01*"). The mark says whether
// the code names the cause or the manifestation; the category is the three
// characters either way, and diagnoses arrive without the mark. It is the
// classification's notation, not an oddity of the file, so it is not
// warned about.
func dropDaggerAsterisk(code string) string {
	return strings.TrimRight(code, "+*†")
}

// parseICDCategories reads icd10/icd10-categories.tsv.
func parseICDCategories(file string, rows [][]string) ([]knowledge.DiagnosisCategory, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: icdBatch, File: file}, rows, []column{
		{name: "code"}, {name: "disease", aliases: []string{"name"}},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.DiagnosisCategory
	seen := map[string]int{}
	t.each(0, func(i int) {
		raw, _ := cleanCode(t.raw(i, 0))
		code := dropDaggerAsterisk(raw)
		if !icdCategory.MatchString(code) {
			t.warn(i, wBadCode, "%q is not a three-character ICD-10 category", raw)
		}
		c := knowledge.DiagnosisCategory{Code: code, Name: t.text(i, 1), Source: t.source(i)}
		if j, ok := seen[code]; ok {
			t.warn(i, wDuplicateCode, "%s repeats row %d; the first is kept", code, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[code] = len(out)
		out = append(out, c)
	})
	return out, t.result(), nil
}

// parseICDBlocks reads icd10/icd10-blocks.tsv: chapters (level 1) and
// blocks (level 2) as code ranges.
func parseICDBlocks(file string, rows [][]string) ([]knowledge.DiagnosisBlock, parsed, error) {
	t, err := newTable(knowledge.Source{Batch: icdBatch, File: file}, rows, []column{
		{name: "code_lower_bound", aliases: []string{"lower"}},
		{name: "code_upper_bound", aliases: []string{"upper"}},
		{name: "level"},
		{name: "catalog", aliases: []string{"name"}},
	})
	if err != nil {
		return nil, parsed{}, err
	}
	var out []knowledge.DiagnosisBlock
	seen := map[string]int{}
	t.each(0, func(i int) {
		b := knowledge.DiagnosisBlock{Name: t.text(i, 3), Source: t.source(i)}
		b.Lower = dropDaggerAsterisk(t.code(i, 0, func(s string) bool { return icdCategory.MatchString(dropDaggerAsterisk(s)) }, "ICD-10 category"))
		b.Upper = dropDaggerAsterisk(t.code(i, 1, func(s string) bool { return icdCategory.MatchString(dropDaggerAsterisk(s)) }, "ICD-10 category"))
		if b.Lower > b.Upper {
			t.warn(i, wUnknownValue, "range %s–%s is reversed", b.Lower, b.Upper)
		}
		rawLevel := stripSpace(t.raw(i, 2))
		if n, err := strconv.Atoi(rawLevel); err == nil && (n == 1 || n == 2) {
			b.Level = n
		} else {
			t.warn(i, wBadNumber, "%s–%s: level %q is not 1 or 2; read as 0", b.Lower, b.Upper, rawLevel)
		}
		k := strconv.Itoa(b.Level) + "/" + b.Lower + "-" + b.Upper
		if j, ok := seen[k]; ok {
			t.warn(i, wDuplicateKey, "level %d range %s–%s repeats row %d; the first is kept", b.Level, b.Lower, b.Upper, out[j].Source.Row)
			t.skipped++
			return
		}
		seen[k] = len(out)
		out = append(out, b)
	})
	return out, t.result(), nil
}

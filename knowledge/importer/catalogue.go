package importer

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rxguard/rxguard/knowledge"
)

// The national drug catalogue (国家基本医疗保险、工伤保险和生育保险药品目录,
// 2024) as extracted from its PDF to xlsx: five sheets, each a title row, a
// header, then category rows (a 药品分类代码 such as XA02BC in column 0, the
// category's name further right, indented by level) and drug rows below
// them (column 0 empty, 甲/乙, 编号, 药品名称, 剂型 on the western-medicine
// sheet, 备注 = 限定支付范围, and on the negotiated and bid sheets 医保支付
// 标准 and 协议有效期). Column positions differ between sheets and are found
// by header; the 甲/乙 column has no header and is found by its content.

const (
	catalogueBatch = "2024年国家医保药品目录"
	catalogueFile  = "catalogue-2024.xlsx"
)

// catalogueSheets are the sheets in the order the catalogue publishes them.
var catalogueSheets = []string{"西药部分", "中成药部分", "协议西药", "协议中成药", "竞价药品部分"}

// Warning categories of the catalogue (see table.go for the common ones).
const (
	wNoName     = "row without drug name skipped"
	wMergedRow  = "merged-cell row skipped"
	wNoCategory = "drug without category"
	wNoClass    = "no 甲/乙 class"
)

var catalogueCols = []column{
	{name: "药品分类代码", aliases: []string{"分类代码"}},
	{name: "药品分类", optional: true},
	{name: "编号"},
	{name: "药品名称", aliases: []string{"名称"}},
	{name: "剂型", optional: true},
	{name: "备注", aliases: []string{"限定支付范围"}, optional: true},
	{name: "医保支付标准", aliases: []string{"支付标准"}, optional: true},
	{name: "协议有效期", aliases: []string{"支付标准有效期", "有效期"}, optional: true},
	{name: "甲乙类", aliases: []string{"甲乙分类"}, optional: true},
}

const (
	kCode = iota
	kCategory
	kNumber
	kName
	kForm
	kRemark
	kPrice
	kPeriod
	kClass
)

// categoryCodeRe is a 药品分类代码: X (西药) or Z (中成药), then the
// anatomical group letter, two digits, and one or two subgroup letters.
var categoryCodeRe = regexp.MustCompile(`^[XZT][A-Z](?:[0-9]{2}(?:[A-Z]{1,2})?)?$`)

// numberRe is a 编号: "119", or "★(165)" for another dosage form of entry 165.
var numberRe = regexp.MustCompile(`^(?:([0-9]+)|★\(([0-9]+)\))$`)

// catalogueSheetResult is what the parser made of one catalogue sheet.
type catalogueSheetResult struct {
	entries  []knowledge.CatalogueDrug
	warnings []knowledge.ImportWarning
	header   int        // index of the header row
	report   FileReport // Sheet, SourceRows, Records, Skipped, Categories, Warnings
}

// classColumn finds the 甲/乙 column of a sheet: the column left of 编号
// holding 甲 or 乙 on most rows without a category code (the nearest to
// 编号 on a tie), -1 if none does.
func classColumn(t *table) int {
	if t.has(kClass) {
		return t.idx[kClass]
	}
	counts := map[int]int{}
	for i := t.header + 1; i < len(t.rows); i++ {
		if code, _ := cleanCode(t.raw(i, kCode)); code != "" {
			continue
		}
		for j := 0; j < t.idx[kNumber] && j < len(t.rows[i]); j++ {
			if j == t.idx[kCode] {
				continue
			}
			if v := stripSpace(t.rows[i][j]); v == "甲" || v == "乙" {
				counts[j]++
			}
		}
	}
	best := -1
	for j, n := range counts {
		if best < 0 || n > counts[best] || n == counts[best] && j > best {
			best = j
		}
	}
	return best
}

// cell returns row i's cell j as stored, "" when j is absent.
func cell(t *table, i, j int) string {
	if j < 0 || j >= len(t.rows[i]) {
		return ""
	}
	return t.rows[i][j]
}

// parseCatalogueSheet reads one catalogue sheet. Every data row is a drug
// entry, a category row (counted, not a record) or a warning.
func parseCatalogueSheet(file string, s sheet) (catalogueSheetResult, error) {
	t, err := newTable(knowledge.Source{Batch: catalogueBatch, File: file, Sheet: s.name}, s.rows, catalogueCols)
	if err != nil {
		return catalogueSheetResult{}, err
	}
	classCol := classColumn(t)
	codeCol := t.idx[kCode]

	var (
		out        []knowledge.CatalogueDrug
		byKey      = map[string]int{}
		numbers    = map[string]bool{} // 编号 of the plain entries so far
		categories int
		category   string
		catName    string
		prev       = -1 // last non-empty data row
	)
	t.nonEmpty(func(i int) {
		row := t.rows[i]
		last := prev
		prev = i

		code, changed := cleanCode(t.raw(i, kCode))
		if code != "" {
			if isFooter(cleanPDFText(t.raw(i, kCode))) {
				t.warn(i, wFooterRow, "%s", truncate(rowText(row), 40))
				t.skipped++
				return
			}
			// A category row: its name is the first value right of the code.
			name := ""
			for j := codeCol + 1; j < len(row) && name == ""; j++ {
				if j != classCol {
					name = cleanPDFText(row[j])
				}
			}
			if changed {
				t.warn(i, wCodeNormalised, "%s %q read as %q", cols(t, kCode), t.raw(i, kCode), code)
			}
			if !categoryCodeRe.MatchString(code) {
				t.warn(i, wBadCode, "%s %q is not a well-formed category code (XA, XA02, XA02BC …); kept as the category of the rows below",
					cols(t, kCode), code)
			}
			if drug := catalogueName(t.raw(i, kName)); drug != "" {
				t.warn(i, wUnknownValue, "category row %s also holds %s %q; read as a category only", code, cols(t, kName), drug)
			}
			category, catName = code, name
			categories++
			return
		}

		name := catalogueName(t.raw(i, kName))
		if name == "" {
			switch {
			case isFooter(rowText(row)):
				t.warn(i, wFooterRow, "%s", truncate(rowText(row), 40))
			case last >= 0 && repeats(row, t.rows[last]):
				t.warn(i, wMergedRow, "its cells repeat row %d's (a cell merged over both rows); row: %s", last+1, truncate(rowText(row), 40))
			default:
				t.warn(i, wNoName, "%s is empty; row: %s", cols(t, kName), truncate(rowText(row), 60))
			}
			t.skipped++
			return
		}

		d := knowledge.CatalogueDrug{
			Sheet:           s.name,
			Category:        category,
			CategoryName:    catName,
			Number:          cleanPDFText(t.raw(i, kNumber)),
			Name:            name,
			DosageForm:      cleanPDFText(t.raw(i, kForm)),
			Remark:          cleanPDFText(t.raw(i, kRemark)),
			RawRemark:       strings.TrimFunc(t.raw(i, kRemark), isSpace),
			PaymentStandard: cleanPrice(t.raw(i, kPrice)),
			ValidPeriod:     cleanPDFText(t.raw(i, kPeriod)),
			Source:          t.source(i),
		}
		if category == "" {
			t.warn(i, wNoCategory, "%s comes before any category row; kept without category", name)
		}
		switch class := cleanPDFText(cell(t, i, classCol)); class {
		case "甲", "乙":
			d.Class = class
		case "":
			t.warn(i, wNoClass, "%s has no 甲/乙 class; kept as not covered", name)
		default:
			t.warn(i, wNoClass, "%s: class %q is not 甲 or 乙; kept as not covered", name, class)
		}
		if m := numberRe.FindStringSubmatch(toHalfWidth(stripSpace(d.Number))); m == nil {
			t.warn(i, wBadNumber, "%s: %s %q is neither N nor ★(N)", name, cols(t, kNumber), d.Number)
		} else if m[2] != "" {
			d.RepeatOf = m[2]
			if !numbers[m[2]] {
				t.warn(i, wUnknownValue, "%s: %s %q refers to no entry %s above it on this sheet", name, cols(t, kNumber), d.Number, m[2])
			}
		} else {
			numbers[m[1]] = true
		}
		if d.Remark != "" {
			var notes []string
			d.Structured, notes = structureRestriction(d.Remark)
			for _, n := range notes {
				t.warn(i, wUnstructured, "%s: %s", name, n)
			}
		}
		if j, ok := byKey[d.Key()]; ok {
			t.warn(i, wDuplicateKey, "%s %s %s repeats row %d in %s; the first is kept", name, d.DosageForm, d.Number, out[j].Source.Row, category)
			t.skipped++
			return
		}
		byKey[d.Key()] = len(out)
		out = append(out, d)
	})

	return catalogueSheetResult{
		entries:  out,
		warnings: t.warnings,
		header:   t.header,
		report: FileReport{
			Sheet: s.name, SourceRows: t.dataRows(), Records: len(out), Skipped: t.skipped,
			Categories: categories, Warnings: len(t.warnings),
		},
	}, nil
}

// brokenDecimal is a price the PDF broke after its decimal point ("96. 11元").
var brokenDecimal = regexp.MustCompile(`([0-9]\.) ([0-9])`)

// cleanPrice cleans a 医保支付标准 cell, where a blank after a decimal
// point is an artefact (in a remark, "1. 12岁" is item 1, so it stays).
func cleanPrice(s string) string {
	return brokenDecimal.ReplaceAllString(cleanPDFText(s), "$1$2")
}

// isFooter reports a note or summary below the data ("注：…", "合计").
func isFooter(s string) bool {
	for _, p := range footerPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return strings.HasPrefix(s, "注")
}

// rowText joins a row's distinct values for a message.
func rowText(row []string) string {
	var distinct []string
	for _, c := range row {
		if c = cleanPDFText(c); c != "" && !slices.Contains(distinct, c) {
			distinct = append(distinct, c)
		}
	}
	return strings.Join(distinct, " | ")
}

// repeats reports whether every value of row is the value of the same
// column in above: what reading a cell merged down over both rows gives.
func repeats(row, above []string) bool {
	for j, c := range row {
		if strings.TrimFunc(c, isSpace) == "" {
			continue
		}
		if j >= len(above) || above[j] != c {
			return false
		}
	}
	return true
}

// catalogueName cleans a 药品名称 cell. Line breaks in it are mostly the
// PDF's wrapping ("精蛋白人胰岛素混合(30R)[精蛋\n白重组人胰岛素混合(30R)]"),
// but some cells list several names one per line ("二甲双胍\n二甲双胍Ⅱ",
// "双黄连注射液\n注射用双黄连(冻干)"). A break separates names when it is
// outside brackets, the next line starts with a Chinese character and
// names the drug of the first line again (starts with its first three
// characters, or has them before its first bracket); the names are then
// joined with "、", the catalogue's own list separator.
func catalogueName(raw string) string {
	lines := strings.FieldsFunc(raw, isLineBreak)
	var parts []string
	for i := 0; i < len(lines); i++ {
		if strings.TrimFunc(lines[i], isSpace) == "" {
			lines = slices.Delete(lines, i, i+1)
			i--
		}
	}
	if len(lines) == 0 {
		return ""
	}
	stem := []rune(stripSpace(cleanPDFText(lines[0])))
	stem = stem[:min(3, len(stem))]
	cur := lines[0]
	for _, next := range lines[1:] {
		if len(stem) >= 2 && namesAgain(cur, next, string(stem)) {
			parts = append(parts, cleanPDFText(cur))
			cur = next
			continue
		}
		cur += "\n" + next
	}
	parts = append(parts, cleanPDFText(cur))
	return strings.Join(parts, "、")
}

// namesAgain decides whether the line break between cur (the text so far)
// and next starts a new name (see catalogueName).
func namesAgain(cur, next, stem string) bool {
	depth := 0
	for _, r := range cur {
		switch {
		case isOpener(r):
			depth++
		case isCloser(r) && depth > 0:
			depth--
		}
	}
	if depth > 0 {
		return false
	}
	c := []rune(strings.TrimFunc(cur, isSpace))
	if len(c) == 0 || strings.ContainsRune("/-、，,", c[len(c)-1]) {
		return false
	}
	n := stripSpace(cleanPDFText(next))
	first := []rune(n)
	if len(first) == 0 || !wide(first[0]) || isOpener(first[0]) || isCloser(first[0]) {
		return false
	}
	if strings.HasPrefix(n, stem) {
		return true
	}
	head := n
	if k := strings.IndexFunc(n, isOpener); k >= 0 {
		head = n[:k]
	}
	return strings.Contains(head, stem)
}

// catalogueKind is the drug catalogue workbook, reported per sheet.
func catalogueKind() fileKind {
	return fileKind{name: catalogueFile, dir: "catalogue", batch: catalogueBatch, loadSheets: loadCatalogue}
}

// loadCatalogue reads the catalogue's five sheets into Content.Catalogue
// and Content.Warnings, with one report per sheet.
func loadCatalogue(fsys fs.FS, p, file string) (knowledge.Content, []FileReport, error) {
	sheets, err := readXLSX(fsys, p, catalogueSheets)
	if err != nil {
		return knowledge.Content{}, nil, fmt.Errorf("%s: %w", p, err)
	}
	var c knowledge.Content
	var reports []FileReport
	for _, s := range sheets {
		res, err := parseCatalogueSheet(file, s)
		if err != nil {
			return knowledge.Content{}, nil, err
		}
		c.Catalogue = append(c.Catalogue, res.entries...)
		c.Warnings = append(c.Warnings, res.warnings...)
		reports = append(reports, res.report)
	}
	return c, reports, nil
}

// CatalogueSheetStatistics counts one sheet's catalogue entries (or all
// sheets', in the total) and what was read out of their 限定支付范围.
// Counts are of entries: a ★ entry repeating its remark counts again.
type CatalogueSheetStatistics struct {
	Sheet      string
	Entries    int
	WithRemark int // entries with a 备注

	// Entries whose remark yielded each structured fact.
	ChildOnly            int
	InpatientOnly        int
	EmergencyOrInpatient int
	MinLevel             int
	CourseDays           int
	SecondLine           int
	Insurance            int
	ICDPrefixes          int
	DiagnosisRestricted  int

	Structured int // remark with at least one fact
	TextOnly   int // remark without any fact: shown as text only
}

// CatalogueStatistics is what CatalogueStats counts: per sheet, in the
// order the sheets appear, and the total.
type CatalogueStatistics struct {
	Sheets []CatalogueSheetStatistics
	Total  CatalogueSheetStatistics
}

// CatalogueStats counts the catalogue entries of c and how many of their
// 限定支付范围 texts were structured, per kind of fact, and how many stay
// text only.
func CatalogueStats(c *knowledge.Content) CatalogueStatistics {
	var st CatalogueStatistics
	st.Total.Sheet = "total"
	index := map[string]int{}
	for i := range c.Catalogue {
		d := &c.Catalogue[i]
		k, ok := index[d.Sheet]
		if !ok {
			k = len(st.Sheets)
			index[d.Sheet] = k
			st.Sheets = append(st.Sheets, CatalogueSheetStatistics{Sheet: d.Sheet})
		}
		for _, s := range []*CatalogueSheetStatistics{&st.Sheets[k], &st.Total} {
			s.add(d)
		}
	}
	return st
}

func (s *CatalogueSheetStatistics) add(d *knowledge.CatalogueDrug) {
	s.Entries++
	if d.Remark == "" {
		return
	}
	s.WithRemark++
	r := d.Structured
	count := func(n *int, yes bool) {
		if yes {
			*n++
		}
	}
	count(&s.ChildOnly, r.ChildOnly)
	count(&s.InpatientOnly, r.InpatientOnly)
	count(&s.EmergencyOrInpatient, r.EmergencyOrInpatient)
	count(&s.MinLevel, r.MinLevel > 0)
	count(&s.CourseDays, r.CourseDays > 0)
	count(&s.SecondLine, r.SecondLine)
	count(&s.Insurance, r.Insurance != "")
	count(&s.ICDPrefixes, len(r.ICDPrefixes) > 0)
	count(&s.DiagnosisRestricted, r.DiagnosisRestricted)
	if structured(r) {
		s.Structured++
	} else {
		s.TextOnly++
	}
}

// String renders the statistics as a table: one row per count, one column
// per sheet and the total.
func (st CatalogueStatistics) String() string {
	all := append(slices.Clone(st.Sheets), st.Total)
	rows := []struct {
		label string
		get   func(CatalogueSheetStatistics) int
	}{
		{"entries", func(s CatalogueSheetStatistics) int { return s.Entries }},
		{"with remark", func(s CatalogueSheetStatistics) int { return s.WithRemark }},
		{"  child", func(s CatalogueSheetStatistics) int { return s.ChildOnly }},
		{"  inpatient", func(s CatalogueSheetStatistics) int { return s.InpatientOnly }},
		{"  emergency_or_inpatient", func(s CatalogueSheetStatistics) int { return s.EmergencyOrInpatient }},
		{"  min_level", func(s CatalogueSheetStatistics) int { return s.MinLevel }},
		{"  course_days", func(s CatalogueSheetStatistics) int { return s.CourseDays }},
		{"  second_line", func(s CatalogueSheetStatistics) int { return s.SecondLine }},
		{"  insurance", func(s CatalogueSheetStatistics) int { return s.Insurance }},
		{"  icd_prefixes", func(s CatalogueSheetStatistics) int { return s.ICDPrefixes }},
		{"  diagnosis_restricted", func(s CatalogueSheetStatistics) int { return s.DiagnosisRestricted }},
		{"  structured (≥1 fact)", func(s CatalogueSheetStatistics) int { return s.Structured }},
		{"  text only", func(s CatalogueSheetStatistics) int { return s.TextOnly }},
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(w, "\t")
	for _, s := range all {
		fmt.Fprintf(w, "%s\t", s.Sheet)
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t", r.label)
		for _, s := range all {
			fmt.Fprintf(w, "%d\t", r.get(s))
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	return b.String()
}

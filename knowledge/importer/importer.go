// Package importer reads the reference files rxguard's knowledge comes from
// into knowledge.Content: the NHSA "two libraries" rule batches 第一批–第八批
// as the xlsx files hospitals receive them, the national drug catalogue
// (2024, extracted from its PDF to xlsx), the synthetic demo tables (CSV)
// and the ICD-10 tables (TSV).
//
// The batches are read as published, not as one would like them: columns
// are found by header, cells are trimmed and their line breaks collapsed,
// footers and empty rows are skipped, and whatever cannot be structured is
// kept as text. Nothing is dropped silently: every data row becomes a record
// or a knowledge.ImportWarning, and Report counts both per file.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/rxguard/rxguard/knowledge"
)

// FileReport is what the import made of one file.
type FileReport struct {
	File       string // file name as published
	Path       string // where it was found in the file system
	Batch      string // 第一批 … 第八批-4, 演示数据, ICD-10
	Sheet      string // xlsx: the sheet the records come from (Sheet2 for drug batches)
	SourceRows int    // data rows of that sheet or file, header excluded
	Records    int    // records produced
	Skipped    int    // data rows that produced no record (empty, footer, repeated key), each covered by a warning
	Warnings   int    // warnings about the file, all its sheets
	Joined     int    // two-sheet drug batches: Sheet1 rows whose description was joined onto at least one code
	Categories int    // drug catalogue: category rows (药品分类代码), neither records nor skipped; SourceRows = Records + Skipped + Categories
}

// Report lists the files read, in a fixed order (batch order, the drug
// catalogue one sheet per entry, then demo, then ICD-10).
type Report struct {
	Files []FileReport
}

// Lookup returns the report of the file with the given name.
func (r Report) Lookup(file string) (FileReport, bool) {
	for _, f := range r.Files {
		if f.File == file {
			return f, true
		}
	}
	return FileReport{}, false
}

// LookupSheet returns the report of one sheet of a file reported per sheet
// (the drug catalogue).
func (r Report) LookupSheet(file, sheet string) (FileReport, bool) {
	for _, f := range r.Files {
		if f.File == file && f.Sheet == sheet {
			return f, true
		}
	}
	return FileReport{}, false
}

// String renders the report as a table for logs and the command line.
func (r Report) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "file\tsheet\trows\trecords\tskipped\tcategories\twarnings\t")
	for _, f := range r.Files {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", f.File, f.Sheet, f.SourceRows, f.Records, f.Skipped, f.Categories, f.Warnings)
	}
	w.Flush()
	return b.String()
}

// fileKind is a file the importer knows: where it lives in the data.FS
// layout and how to read it into content.
type fileKind struct {
	name  string // file name as published
	dir   string // subdirectory in the data.FS layout
	batch string
	load  func(fsys fs.FS, path, file string) (knowledge.Content, parsed, error)
	// loadSheets, when set instead of load, reads a workbook reported per
	// sheet (the drug catalogue): its records and warnings come in the
	// content, one FileReport per sheet with Sheet and the counts set.
	loadSheets func(fsys fs.FS, path, file string) (knowledge.Content, []FileReport, error)
}

func xlsxKind(name, batch string, sheets []string, parse func(file string, s []sheet) (parsed, error)) fileKind {
	return fileKind{name: name, dir: "nhsa", batch: batch, load: func(fsys fs.FS, p, file string) (knowledge.Content, parsed, error) {
		s, err := readXLSX(fsys, p, sheets)
		if err != nil {
			return knowledge.Content{}, parsed{}, fmt.Errorf("%s: %w", p, err)
		}
		res, err := parse(file, s)
		return knowledge.Content{Restrictions: res.restrictions}, res, err
	}}
}

func oneSheet(parse func(file string, s sheet) (parsed, error)) func(string, []sheet) (parsed, error) {
	return func(file string, s []sheet) (parsed, error) { return parse(file, s[0]) }
}

func drugSheets(spec drugSpec) func(string, []sheet) (parsed, error) {
	return func(file string, s []sheet) (parsed, error) { return parseDrugSheets(spec, file, s[0], s[1]) }
}

// textKind is a CSV or TSV file whose parser fills one slice of content.
func textKind[T any](name, dir, batch string, read func(fs.FS, string) ([][]string, error),
	parse func(file string, rows [][]string) ([]T, parsed, error), set func(*knowledge.Content, []T)) fileKind {
	return fileKind{name: name, dir: dir, batch: batch, load: func(fsys fs.FS, p, file string) (knowledge.Content, parsed, error) {
		rows, err := read(fsys, p)
		if err != nil {
			return knowledge.Content{}, parsed{}, fmt.Errorf("%s: %w", p, err)
		}
		records, res, err := parse(file, rows)
		var c knowledge.Content
		set(&c, records)
		return c, res, err
	}}
}

// kinds is every file the importer reads, in the order records and
// warnings are emitted.
var kinds = []fileKind{
	xlsxKind("batch1-drug-gender.xlsx", "第一批", []string{"Sheet1", "Sheet2"}, drugSheets(specDrugGender)),
	xlsxKind("batch1-drug-age.xlsx", "第一批", []string{"Sheet1", "Sheet2"}, drugSheets(specDrugAge)),
	xlsxKind("batch1-item-gender.xlsx", "第一批", []string{""}, oneSheet(parseItemGender)),
	xlsxKind("batch1-item-age.xlsx", "第一批", []string{""}, oneSheet(parseItemAge)),
	xlsxKind("batch2-item-primary-secondary-surgery.xlsx", "第二批", []string{""}, oneSheet(parseSurgeryGroups)),
	xlsxKind("batch3-drug-insurance-type.xlsx", "第三批", []string{"Sheet1", "Sheet2"}, drugSheets(specInsuranceType)),
	xlsxKind("batch4-drug-inpatient-only.xlsx", "第四批", []string{"Sheet1", "Sheet2"}, drugSheets(specEncounterType)),
	xlsxKind("batch5-drug-hospital-level.xlsx", "第五批", []string{"Sheet1", "Sheet2"}, drugSheets(specHospitalLevel)),
	xlsxKind("batch6-drug-payment-course.xlsx", "第六批", []string{"Sheet1", "Sheet2"}, drugSheets(specPaymentCourse)),
	xlsxKind("batch7-item-duplicate-charge.xlsx", "第七批", []string{""}, oneSheet(parseDuplicateCharge)),
	xlsxKind("batch8-1-item-frequency.xlsx", "第八批-1", []string{""}, oneSheet(parseItemFrequency)),
	xlsxKind("batch8-2-item-age.xlsx", "第八批-2", []string{""}, oneSheet(parseWorkingAgeItems)),
	xlsxKind("batch8-3-item-course.xlsx", "第八批-3", []string{""}, oneSheet(parseItemCourse)),
	xlsxKind("batch8-4-item-period-frequency.xlsx", "第八批-4", []string{""}, oneSheet(parseItemPeriodFrequency)),
	catalogueKind(),

	textKind("drugs.csv", "demo", demoBatch, readCSV, parseDemoDrugs,
		func(c *knowledge.Content, v []knowledge.Drug) { c.Drugs = v }),
	textKind("interactions.csv", "demo", demoBatch, readCSV, parseDemoInteractions,
		func(c *knowledge.Content, v []knowledge.Interaction) { c.Interactions = v }),
	textKind("chronic-diagnoses.csv", "demo", demoBatch, readCSV, parseDemoChronic,
		func(c *knowledge.Content, v []knowledge.ChronicDiagnosis) { c.ChronicDiagnoses = v }),
	textKind("physicians.csv", "demo", demoBatch, readCSV, parseDemoPhysicians,
		func(c *knowledge.Content, v []knowledge.PhysicianRecord) { c.Physicians = v }),
	textKind("physician-events.csv", "demo", demoBatch, readCSV, parseDemoPhysicianEvents,
		func(c *knowledge.Content, v []knowledge.PhysicianEvent) { c.PhysicianEvents = v }),
	textKind("exam-recognition.csv", "demo", demoBatch, readCSV, parseDemoRecognition,
		func(c *knowledge.Content, v []knowledge.RecognitionItem) { c.Recognition = v }),
	textKind("outpatient-manageable.csv", "demo", demoBatch, readCSV, parseDemoOutpatient,
		func(c *knowledge.Content, v []knowledge.OutpatientCondition) { c.OutpatientConditions = v }),
	textKind("icd10-categories.tsv", "icd10", icdBatch, readTSV, parseICDCategories,
		func(c *knowledge.Content, v []knowledge.DiagnosisCategory) { c.DiagnosisCategories = v }),
	textKind("icd10-blocks.tsv", "icd10", icdBatch, readTSV, parseICDBlocks,
		func(c *knowledge.Content, v []knowledge.DiagnosisBlock) { c.DiagnosisBlocks = v }),
}

// locate returns where kind k's file is in fsys: under its subdirectory
// (the data.FS layout) or at the top (a flat directory of downloads); ""
// when absent. Both present is an error: importing one would silently
// ignore the other, which may be the newer.
func locate(fsys fs.FS, k fileKind) (string, error) {
	var found []string
	for _, p := range []string{path.Join(k.dir, k.name), k.name} {
		info, err := fs.Stat(fsys, p)
		switch {
		case err == nil && !info.IsDir():
			found = append(found, p)
		case err == nil, errors.Is(err, fs.ErrNotExist):
		default:
			return "", fmt.Errorf("importer: %s: %w", p, err)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("importer: %s found twice, as %s and %s", k.name, found[0], found[1])
}

// Import reads every known official, demo and ICD-10 file present in fsys,
// top-level or under nhsa/, catalogue/, demo/ and icd10/ (the data.FS layout), and
// returns the content and a per-file report. Unknown files are ignored; a
// known file that cannot be parsed (unreadable workbook, missing sheet or
// column) is an error naming the file, sheet and row. Rows the importer can
// read only in part are kept and warned about in Content.Warnings.
func Import(ctx context.Context, fsys fs.FS) (*knowledge.Content, Report, error) {
	type job struct {
		kind    fileKind
		path    string
		content knowledge.Content
		res     parsed
		sheets  []FileReport // kinds reported per sheet
		err     error
	}
	var jobs []*job
	for _, k := range kinds {
		p, err := locate(fsys, k)
		if err != nil {
			return nil, Report{}, err
		}
		if p != "" {
			jobs = append(jobs, &job{kind: k, path: p})
		}
	}
	if len(jobs) == 0 {
		return nil, Report{}, errors.New("importer: no known file found (expected NHSA batch or drug catalogue xlsx, demo csv or ICD-10 tsv files, top-level or under nhsa/, catalogue/, demo/, icd10/)")
	}

	// Files are independent, and unzipping and decoding the workbooks is
	// most of the work, so they are read in parallel; results are merged
	// in the fixed order of kinds, so the content does not depend on
	// scheduling.
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			if err := ctx.Err(); err != nil {
				j.err = err
				return
			}
			if j.kind.loadSheets != nil {
				j.content, j.sheets, j.err = j.kind.loadSheets(fsys, j.path, j.kind.name)
				return
			}
			j.content, j.res, j.err = j.kind.load(fsys, j.path, j.kind.name)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, Report{}, fmt.Errorf("importer: %w", err)
	}

	content := &knowledge.Content{}
	var report Report
	firstByKey := make(map[string]knowledge.Source)
	for _, j := range jobs {
		if j.err != nil {
			return nil, Report{}, fmt.Errorf("importer: %w", j.err)
		}
		c, res := &j.content, j.res
		if j.kind.loadSheets != nil {
			content.Catalogue = append(content.Catalogue, c.Catalogue...)
			content.Warnings = append(content.Warnings, c.Warnings...)
			for _, fr := range j.sheets {
				fr.File, fr.Path, fr.Batch = j.kind.name, j.path, j.kind.batch
				report.Files = append(report.Files, fr)
			}
			continue
		}
		fr := FileReport{
			File: j.kind.name, Path: j.path, Batch: j.kind.batch, Sheet: res.sheet,
			SourceRows: res.sourceRows, Skipped: res.skipped, Joined: res.joined,
		}
		warnings := res.warnings

		// A release holds one restriction per key; two batches stating a
		// rule for the same code (batch 1 and batch 8-2 are both ITEM_AGE)
		// keep the first, in batch order.
		kept := c.Restrictions[:0]
		for _, r := range c.Restrictions {
			k := r.Key()
			if first, ok := firstByKey[k]; ok {
				warnings = append(warnings, knowledge.ImportWarning{Source: r.Source,
					Message: fmt.Sprintf("%s: %s %s is also stated by %s; the first is kept", wDuplicateKey, r.Type, r.Code, first)})
				fr.Skipped++
				continue
			}
			firstByKey[k] = r.Source
			kept = append(kept, r)
		}
		c.Restrictions = kept

		content.Restrictions = append(content.Restrictions, c.Restrictions...)
		content.Drugs = append(content.Drugs, c.Drugs...)
		content.Interactions = append(content.Interactions, c.Interactions...)
		content.ChronicDiagnoses = append(content.ChronicDiagnoses, c.ChronicDiagnoses...)
		content.DiagnosisCategories = append(content.DiagnosisCategories, c.DiagnosisCategories...)
		content.DiagnosisBlocks = append(content.DiagnosisBlocks, c.DiagnosisBlocks...)
		content.Physicians = append(content.Physicians, c.Physicians...)
		content.PhysicianEvents = append(content.PhysicianEvents, c.PhysicianEvents...)
		content.Recognition = append(content.Recognition, c.Recognition...)
		content.OutpatientConditions = append(content.OutpatientConditions, c.OutpatientConditions...)
		if j.kind.name == "physician-events.csv" && len(content.Physicians) > 0 {
			warnings = append(warnings, checkEventPhysicians(c.PhysicianEvents, content.Physicians)...)
		}
		content.Warnings = append(content.Warnings, warnings...)

		fr.Records = len(c.Restrictions) + len(c.Drugs) + len(c.Interactions) + len(c.ChronicDiagnoses) +
			len(c.DiagnosisCategories) + len(c.DiagnosisBlocks) + len(c.Physicians) + len(c.PhysicianEvents) +
			len(c.Recognition) + len(c.OutpatientConditions)
		fr.Warnings = len(warnings)
		report.Files = append(report.Files, fr)
	}
	return content, report, nil
}

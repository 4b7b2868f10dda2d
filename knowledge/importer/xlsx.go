package importer

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/xuri/excelize/v2"
)

// sheet is one worksheet's rows as strings, header included; rows[i] is
// spreadsheet row i+1.
type sheet struct {
	name string
	rows [][]string
}

const (
	// unzipLimit caps the unpacked size of a workbook. The batches are a
	// few MB; the cap only keeps a corrupt or hostile file from exhausting
	// memory.
	unzipLimit = 256 << 20
	// maxPadWidth caps row padding: a stray cell far to the right must not
	// make every row thousands of cells wide. Cell access is bounds-checked
	// anyway; padding only makes rows uniform for callers.
	maxPadWidth = 256
)

// readXLSX reads the wanted sheets of the workbook at path. A wanted name is
// matched exactly; if the workbook has no sheet of that name, the sheet at
// the same position is taken, because the sheet names are the publisher's
// and not part of the format ("Sheet1"/"Sheet2" on some batches, the rule's
// title on others). An empty name asks for the sheet at that position.
func readXLSX(fsys fs.FS, path string, want []string) ([]sheet, error) {
	r, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := excelize.OpenReader(r, excelize.Options{UnzipSizeLimit: unzipLimit})
	if err != nil {
		return nil, fmt.Errorf("open workbook: %w", err)
	}
	defer f.Close()

	list := f.GetSheetList()
	out := make([]sheet, 0, len(want))
	for pos, name := range want {
		actual := ""
		for _, s := range list {
			if name != "" && s == name {
				actual = s
			}
		}
		if actual == "" && pos < len(list) {
			actual = list[pos]
		}
		if actual == "" {
			return nil, fmt.Errorf("sheet %q not found (workbook has %s)", name, strings.Join(list, ", "))
		}
		rows, err := sheetRows(f, actual)
		if err != nil {
			return nil, err
		}
		out = append(out, sheet{name: actual, rows: rows})
	}
	return out, nil
}

// sheetRows reads a worksheet like excelize's GetRows (rows[i] is spreadsheet
// row i+1, trailing empty rows and cells dropped) but, unlike GetRows,
// reports a row that fails to decode instead of silently returning the rows
// before it. Rows are then padded to a common width and vertical merges are
// filled in.
func sheetRows(f *excelize.File, name string) ([][]string, error) {
	it, err := f.Rows(name)
	if err != nil {
		return nil, fmt.Errorf("[%s]: %w", name, err)
	}
	var rows [][]string
	n := 0
	for it.Next() {
		n++
		cols, err := it.Columns()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("[%s] row %d: %w", name, n, err)
		}
		if len(cols) == 0 {
			continue
		}
		for len(rows) < n-1 {
			rows = append(rows, nil) // empty rows between data rows
		}
		rows = append(rows, cols)
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, fmt.Errorf("[%s] row %d: %w", name, n, err)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("[%s]: %w", name, err)
	}

	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	width = min(width, maxPadWidth)
	for i, r := range rows {
		if len(r) < width {
			rows[i] = append(r, make([]string, width-len(r))...)
		}
	}

	// GetMergeCells decodes the whole worksheet a second time, which is
	// most of the import's time on the big drug sheets. A merge can only
	// fill a blank cell, so a sheet without a partly blank row is spared.
	if !partlyBlank(rows) {
		return rows, nil
	}
	merges, err := mergedRanges(f, name)
	if err != nil {
		return nil, fmt.Errorf("[%s] merged cells: %w", name, err)
	}
	for _, m := range merges {
		fillMerge(rows, m[0], m[1])
	}
	return rows, nil
}

// partlyBlank reports whether some row has both blank and non-blank cells
// (rows are padded, so a short row counts as partly blank).
func partlyBlank(rows [][]string) bool {
	for _, r := range rows {
		blank, filled := false, false
		for _, c := range r {
			if c == "" {
				blank = true
			} else {
				filled = true
			}
		}
		if blank && filled {
			return true
		}
	}
	return false
}

// fillMerge copies a merged cell's value into the cells it covers when the
// merge is one column wide and spans several rows: publishers merge a
// repeated 主项 or 频度 down a block of rows, and GetRows returns the value
// only on the first. Merges across columns are titles and footers ("合计"
// across A:E, an empty merged row); copying them into every column would
// turn a footer into a row with a code, so they are left as read.
func fillMerge(rows [][]string, start, end string) {
	c1, r1, err1 := excelize.CellNameToCoordinates(start)
	c2, r2, err2 := excelize.CellNameToCoordinates(end)
	if err1 != nil || err2 != nil || c1 != c2 || r2 <= r1 || r1 > len(rows) || c1-1 >= len(rows[r1-1]) {
		return
	}
	col := c1 - 1
	// The merged value is the top-left cell's, already read with the rows.
	value := rows[r1-1][col]
	if value == "" {
		return
	}
	for r := r1; r < r2 && r < len(rows); r++ { // r is the 0-based index of row r+1
		row := rows[r]
		if col >= len(row) {
			if col >= maxPadWidth {
				return
			}
			row = append(row, make([]string, col+1-len(row))...)
			rows[r] = row
		}
		if row[col] == "" {
			row[col] = value
		}
	}
}

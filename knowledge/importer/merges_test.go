package importer

import (
	"io/fs"
	"sort"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/rxguard/rxguard/knowledge/data"
)

// The linear scan of merged ranges must agree with excelize's own reading
// on every sheet of every embedded file.
func TestMergedRangesMatchExcelize(t *testing.T) {
	files, _ := fs.Glob(data.FS, "*/*.xlsx")
	if len(files) < 14 {
		t.Fatalf("only %d xlsx files embedded", len(files))
	}
	scanned := 0
	for _, name := range files {
		r, err := data.FS.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, sheet := range f.GetSheetList() {
			got, ok := scanMergedRanges(f, sheet)
			if !ok {
				t.Errorf("%s [%s]: scan fell back to excelize", name, sheet)
				continue
			}
			want, err := f.GetMergeCells(sheet, true)
			if err != nil {
				t.Fatal(err)
			}
			a := make([]string, len(got))
			for i, g := range got {
				a[i] = g[0] + ":" + g[1]
			}
			b := make([]string, len(want))
			for i, w := range want {
				b[i] = w.GetStartAxis() + ":" + w.GetEndAxis()
			}
			sort.Strings(a)
			sort.Strings(b)
			if strings.Join(a, ",") != strings.Join(b, ",") {
				t.Errorf("%s [%s]: scanned %d ranges, excelize %d", name, sheet, len(a), len(b))
			}
			scanned += len(a)
		}
		f.Close()
	}
	if scanned < 16000 {
		t.Errorf("only %d merged ranges seen; the catalogue alone has more than 16,000", scanned)
	}
}

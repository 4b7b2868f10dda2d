package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// kb import of a directory holding the two lists (beside an official batch:
// a directory of demo tables alone is refused, as before) carries them; kb
// inspect counts both classes.
func TestKBImportInspectEncounterLists(t *testing.T) {
	src := t.TempDir()
	for _, name := range []string{"demo/exam-recognition.csv", "demo/outpatient-manageable.csv", "nhsa/batch8-2-item-age.xlsx"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "knowledge", "data", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, filepath.Base(name)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	mustRun(t, "kb", "import", "-data", data, src)
	out := mustRun(t, "kb", "inspect", "-data", data)
	for _, want := range []string{`(?m)^recognition_item\s+6$`, `(?m)^outpatient_condition\s+9$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("kb inspect output lacks %s:\n%s", want, out)
		}
	}
}

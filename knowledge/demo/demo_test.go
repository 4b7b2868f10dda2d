package demo

import (
	"context"
	"testing"
	"time"

	"github.com/rxguard/rxguard/knowledge"
)

// The embedded demo release carries the mutual-recognition list and the
// outpatient-manageable conditions.
func TestDemoReleaseCarriesEncounterLists(t *testing.T) {
	m, records, _, err := Release(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts[knowledge.ClassRecognitionItem] != 6 || m.Counts[knowledge.ClassOutpatientCondition] != 9 {
		t.Fatalf("counts %v", m.Counts)
	}
	c, err := knowledge.ContentFromRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range c.Recognition {
		found = found || r.Code == "002103000010000" && r.WindowDays == 30 && r.Scope == "省内互认"
	}
	if !found {
		t.Errorf("CT 平扫 not on the demo recognition list: %+v", c.Recognition)
	}
}

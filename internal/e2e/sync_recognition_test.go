package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// ambulatoryBP is 动态血压监测: bound by batch 8-1 (once a day), so an
// entry days earlier fires nothing, and not on the demo recognition list.
const ambulatoryBP = "003107010210000"

// A delta release that adds a recognition item, synced by a running
// sidecar from the reference bureau, changes REPEAT_EXAM findings live: a
// check of that item with an earlier result from another hospital (recorded
// with RecordSharedResults) passes before and warns after, quoting where,
// when and which report — same process, no restart.
func TestSyncDeltaAddsRecognitionItemLive(t *testing.T) {
	work := t.TempDir()
	keyFile, pub := keygen(t, work)
	bAddr, bAdmin := freeAddr(t), freeAddr(t)
	startBureau(t, filepath.Join(work, "bureau"), keyFile, bAddr, bAdmin)
	cfg := filepath.Join(work, "sidecar.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"bureau": {"address": %q, "trusted_keys": [%q], "poll_interval": "1s", "stale_after": "30s", "max_backoff": "2s"}}`, bAddr, pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, filepath.Join(work, "data"), "-config", cfg)
	sc.waitReady(t)
	waitFor(t, "first successful sync", 30*time.Second, func() bool { return !sc.status(t).Sync.LastSuccess.IsZero() })
	demoVersion := sc.status(t).Knowledge.Version

	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	done := now.Add(-3 * 24 * time.Hour)
	if r, err := sc.client.RecordSharedResults(ctx, &rxguardv1.RecordSharedResultsRequest{PatientId: "P-BP", Results: []*rxguardv1.SharedResult{
		{ItemCode: ambulatoryBP, ItemName: "动态血压监测", HospitalCode: "H37080055", Time: done.Format(time.RFC3339), ReportId: "RPT-BP-7"},
	}}); err != nil || r.Recorded != 1 {
		t.Fatalf("RecordSharedResults: %v %v", r, err)
	}
	check := func() *rxguardv1.CheckOrdersResponse {
		t.Helper()
		req := checkRequest(t, "D370800000001")
		req.Patient.Id = "P-BP"
		req.CheckTime = now.Format(time.RFC3339)
		req.Orders = []*rxguardv1.OrderLine{{LineId: "1", ItemCode: ambulatoryBP, ItemName: "动态血压监测", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1}}
		resp, err := sc.client.CheckOrders(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	before := check()
	if before.Verdict != rxguardv1.Verdict_VERDICT_PASS || findingTypes(before)["REPEAT_EXAM"] != nil {
		t.Fatalf("before the delta (%s): verdict %v findings %v; want PASS", before.KnowledgeVersion, before.Verdict, before.Findings)
	}

	// The revision: the demo's files with one more row on the recognition
	// list, as a signed delta against the demo release.
	official := officialFiles(t)
	list := filepath.Join(official, "demo", "exam-recognition.csv")
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte(ambulatoryBP+",动态血压监测,7,医联体内互认\n")...)
	if err := os.WriteFile(list, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(work, "v2.rxrel")
	// Exactly one operation: the recognition item added.
	if out := mustRun(t, "kb", "release", "-key", keyFile, "-o", rel, "-version", "2026.12.01-1", "-parent", "demo", official); !strings.Contains(out, "1 adds, 0 replaces, 0 deletes") {
		t.Fatalf("kb release did not build a one-add delta:\n%s", out)
	}
	pid := sc.cmd.Process.Pid
	mustRun(t, "bureau", "publish", "-admin", bAdmin, rel)
	waitFor(t, "the delta active", 20*time.Second, func() bool { return sc.status(t).Knowledge.Version == "2026.12.01-1" })

	after := check()
	f := findingTypes(after)["REPEAT_EXAM"]
	if after.KnowledgeVersion != "2026.12.01-1" || f == nil || f.Action != rxguardv1.Action_ACTION_WARN || after.Verdict != rxguardv1.Verdict_VERDICT_WARN {
		t.Fatalf("after the delta (%s, was %s): verdict %v findings %v; want a REPEAT_EXAM WARN", after.KnowledgeVersion, demoVersion, after.Verdict, after.Findings)
	}
	for _, want := range []string{"H37080055", "RPT-BP-7", done.In(shanghai(t)).Format("2006-01-02 15:04"), "7天"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q lacks %q", f.Message, want)
		}
	}
	if sc.exited() || sc.cmd.Process.Pid != pid {
		t.Fatal("the sidecar restarted")
	}
}

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

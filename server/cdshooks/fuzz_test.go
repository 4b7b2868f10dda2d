package cdshooks

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// FuzzCDSRequest: any body is either mapped onto a CheckOrders request
// (whose every line has a draft resource) or refused with 400/412 and an
// issue; never a panic. Accepted requests are also turned into cards with
// every kind of fix, so applying fixes to arbitrary resources is fuzzed
// too.
func FuzzCDSRequest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.request.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"hook":"order-sign","hookInstance":"x","prefetch":{"patient":null}}`))
	f.Add([]byte(`{"hook":"order-sign","hookInstance":"x","context":{"draftOrders":{"resourceType":"Bundle","entry":[{"resource":1}]}}}`))
	tr := newTranslator(testCfg().WithDefaults())
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, hook := range []string{"order-sign", "order-select"} {
			got, e := tr.decode(body, hook)
			if e != nil {
				if (e.status != http.StatusBadRequest && e.status != http.StatusPreconditionFailed) || len(e.issues) == 0 || e.issues[0].Diagnostics == "" {
					t.Fatalf("refusal without status or issue: %+v", e)
				}
				continue
			}
			if len(got.lines) != len(got.req.Orders) {
				t.Fatalf("%d lines for %d orders", len(got.lines), len(got.req.Orders))
			}
			var findings []*rxguardv1.Finding
			for i, o := range got.req.Orders {
				fnd := &rxguardv1.Finding{FindingId: "f", Action: rxguardv1.Action_ACTION_BLOCK, LineIds: []string{o.LineId}, Message: o.ItemName}
				for k := range rxguardv1.FixKind_name {
					fnd.Fixes = append(fnd.Fixes, &rxguardv1.Fix{Kind: rxguardv1.FixKind(k), LineId: o.LineId, Quantity: 1, Days: 1, ItemCode: "X"})
				}
				findings = append(findings, fnd)
				_ = got.fhirPath("orders[" + string(rune('0'+i%10)) + "].quantity")
			}
			resp := buildResponse(&rxguardv1.CheckOrdersResponse{DecisionId: "d", Findings: findings}, got)
			if _, err := json.Marshal(resp); err != nil {
				t.Fatalf("cards do not encode: %v", err)
			}
		}
	})
}

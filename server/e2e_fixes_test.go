package server

import (
	"context"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/fix"
)

// Structured suggestions over real gRPC on the demo release (the official
// batches): the README example and the 10-line benchmark order. Each fix of
// each finding, applied alone with fix.Apply and checked again, clears that
// rule type from that line and never raises the verdict.
func TestE2EFixesClearTheirFinding(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	rank := map[rxguardv1.Verdict]int{rxguardv1.Verdict_VERDICT_PASS: 0, rxguardv1.Verdict_VERDICT_WARN: 1, rxguardv1.Verdict_VERDICT_BLOCK: 2}
	for _, c := range []struct {
		name      string
		req       *rxguardv1.CheckOrdersRequest
		withFixes int // findings that must carry fixes
	}{
		{"README example", exampleRequest(t, "male-aifu-nuangong.json"), 1},
		{"10-line order", benchRequest(), 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := ts.client.CheckOrders(ctx, c.req)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range resp.Findings {
				if len(f.Fixes) > 0 {
					n++
				}
				for _, x := range f.Fixes {
					fixed, err := fix.Apply(c.req, x)
					if err != nil {
						t.Fatalf("%s: apply %v: %v", f.RuleId, x, err)
					}
					again, err := ts.client.CheckOrders(ctx, fixed)
					if err != nil {
						t.Fatalf("%s: re-check after %s: %v", f.RuleId, x.Label, err)
					}
					for _, g := range again.Findings {
						if g.RuleType == f.RuleType && len(g.LineIds) > 0 && g.LineIds[0] == f.LineIds[0] {
							t.Errorf("%s on line %s: after %q it still fires: %s", f.RuleType, f.LineIds[0], x.Label, g.Message)
						}
					}
					if rank[again.Verdict] > rank[resp.Verdict] {
						t.Errorf("%s: after %q the verdict rose to %v", f.RuleId, x.Label, again.Verdict)
					}
				}
			}
			if n < c.withFixes {
				t.Errorf("%d findings carry fixes, want at least %d: %v", n, c.withFixes, resp.Findings)
			}
		})
	}
}

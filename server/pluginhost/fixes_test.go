package pluginhost

import (
	"context"
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestKeepValidFixes(t *testing.T) {
	req := &rxguardv1.CheckOrdersRequest{Orders: []*rxguardv1.OrderLine{{LineId: "1", Quantity: 4}, {LineId: "2"}}}
	selfPay := func(id string) *rxguardv1.Fix {
		return &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: id, Label: "标记为自费"}
	}
	many := make([]*rxguardv1.Fix, MaxPluginFixes+3)
	for i := range many {
		many[i] = selfPay("1")
	}
	cases := []struct {
		name    string
		in      []*rxguardv1.Fix
		kept    int
		dropped int
		why     string // in the first reason
	}{
		{"no fixes", nil, 0, 0, ""},
		{"good ones kept", []*rxguardv1.Fix{selfPay("1"), selfPay("2")}, 2, 0, ""},
		{"line not in the request", []*rxguardv1.Fix{selfPay("9"), selfPay("1")}, 1, 1, "fixes[0]: fix.line_id"},
		{"nil fix", []*rxguardv1.Fix{nil}, 0, 1, "fixes[0]: empty"},
		{"no label", []*rxguardv1.Fix{{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "1"}}, 0, 1, "fixes[0].label"},
		{"label too long", []*rxguardv1.Fix{{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "1", Label: strings.Repeat("删", 100)}}, 0, 1, "fixes[0].label"},
		{"replacement name too long", []*rxguardv1.Fix{{Kind: rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM, LineId: "1", Label: "换药", ItemCode: "X", ItemName: strings.Repeat("x", MaxFixNameBytes+1)}}, 0, 1, "item_code/item_name"},
		{"unknown kind", []*rxguardv1.Fix{{Kind: 42, LineId: "1", Label: "?"}}, 0, 1, "fix.kind"},
		{"a reduction that raises", []*rxguardv1.Fix{{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY, LineId: "1", Quantity: 5, Label: "数量改为 5"}}, 0, 1, "fix.quantity"},
		{"over the cap", many, MaxPluginFixes, 3, "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &rxguardv1.Finding{Fixes: c.in}
			dropped, why := keepValidFixes(req, f)
			if len(f.Fixes) != c.kept || dropped != c.dropped || !strings.Contains(why, c.why) || (c.why == "") != (why == "") {
				t.Fatalf("kept %d dropped %d (%q), want %d, %d, reason with %q", len(f.Fixes), dropped, why, c.kept, c.dropped, c.why)
			}
			for _, x := range f.Fixes {
				if x == nil || x.Label == "" {
					t.Errorf("kept a bad fix: %v", x)
				}
			}
		})
	}
}

// A plugin's fixes cross the process boundary intact; those a HIS could not
// apply are dropped, counted and explained in the plugin's status, and the
// finding itself stays.
func TestPluginFixesSurviveAndAreBounded(t *testing.T) {
	m := startManager(t, okConfig("fx", "FX", "-fixes"))
	fs := m.Evaluate(context.Background(), request("r1"))
	if !isReal(fs, "fx", "FX") {
		t.Fatalf("findings = %v, want the plugin's finding", fs)
	}
	got := fs[0].Fixes
	if len(got) != MaxPluginFixes {
		t.Fatalf("%d fixes kept, want %d: %v", len(got), MaxPluginFixes, got)
	}
	if got[0].Kind != rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY || got[0].Label != "标记为自费" ||
		got[1].Kind != rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY || got[1].Quantity != 1 {
		t.Errorf("the good fixes changed on the way: %v", got[:2])
	}
	for _, x := range got {
		if x.LineId != "L1" || x.Label == "" {
			t.Errorf("a malformed fix got through: %v", x)
		}
	}
	s := m.Status()[0]
	if s.BadFixes != 6 || !strings.Contains(s.LastError, "fixes[2]") {
		t.Errorf("status BadFixes %d LastError %q, want 6 and the first reason", s.BadFixes, s.LastError)
	}
}

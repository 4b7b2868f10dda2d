package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestApplyFix(t *testing.T) {
	base := &rxguardv1.CheckOrdersRequest{Orders: []*rxguardv1.OrderLine{
		{LineId: "1", ItemCode: "A", ItemName: "甲", Quantity: 60, Days: 30},
		{LineId: "2", ItemCode: "B", ItemName: "乙", Quantity: 1, Days: 7},
	}}
	tests := []struct {
		name    string
		fix     *rxguardv1.Fix
		want    func(*rxguardv1.CheckOrdersRequest) bool
		wantErr string
	}{
		{"reduce quantity", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY, LineId: "1", Quantity: 30},
			func(r *rxguardv1.CheckOrdersRequest) bool {
				return r.Orders[0].Quantity == 30 && r.Orders[1].Quantity == 1
			}, ""},
		{"reduce days", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS, LineId: "2", Days: 3},
			func(r *rxguardv1.CheckOrdersRequest) bool { return r.Orders[1].Days == 3 && r.Orders[0].Days == 30 }, ""},
		{"mark self-pay", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "1"},
			func(r *rxguardv1.CheckOrdersRequest) bool { return r.Orders[0].SelfPay && !r.Orders[1].SelfPay }, ""},
		{"attest restriction", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION, LineId: "2"},
			func(r *rxguardv1.CheckOrdersRequest) bool {
				return r.Orders[1].RestrictionAttested && !r.Orders[0].RestrictionAttested
			}, ""},
		{"remove line", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: "1"},
			func(r *rxguardv1.CheckOrdersRequest) bool { return len(r.Orders) == 1 && r.Orders[0].LineId == "2" }, ""},
		{"change item", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM, LineId: "2", ItemCode: "C", ItemName: "丙"},
			func(r *rxguardv1.CheckOrdersRequest) bool {
				return r.Orders[1].ItemCode == "C" && r.Orders[1].ItemName == "丙" && r.Orders[0].ItemCode == "A"
			}, ""},
		{"unknown line", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: "9"}, nil, `line "9"`},
		{"unknown kind", &rxguardv1.Fix{Kind: rxguardv1.FixKind(99), LineId: "1"}, nil, "newer than this client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := proto.Clone(base).(*rxguardv1.CheckOrdersRequest)
			err := applyFix(req, tt.fix)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("applyFix error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(req) {
				t.Errorf("after %s: %v", tt.fix.Kind, req.Orders)
			}
		})
	}
}

func TestFirstFix(t *testing.T) {
	fix := &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "2"}
	findings := []*rxguardv1.Finding{
		{FindingId: "d-1"},
		{FindingId: "d-2", Fixes: []*rxguardv1.Fix{fix, {Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: "2"}}},
		{FindingId: "d-3", Fixes: []*rxguardv1.Fix{{Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: "3"}}},
	}
	if f, x := firstFix(findings); f == nil || f.FindingId != "d-2" || x != fix {
		t.Errorf("firstFix = %v %v, want d-2's first fix", f, x)
	}
	if f, x := firstFix(findings[:1]); f != nil || x != nil {
		t.Errorf("firstFix without fixes = %v %v, want none", f, x)
	}
}

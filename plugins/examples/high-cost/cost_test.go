package main

import (
	"context"
	"math"
	"strings"
	"testing"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) { sdktest.Main(m) }

func line(id string, kind rxguardv1.ItemKind, qty, price float64) *rxguardv1.OrderLine {
	return &rxguardv1.OrderLine{LineId: id, ItemCode: "C" + id, ItemName: "项目" + id, Kind: kind, Quantity: qty, Unit: "支", UnitPrice: price}
}

func req(lines ...*rxguardv1.OrderLine) *pluginv1.EvaluateRequest {
	return &pluginv1.EvaluateRequest{Request: &rxguardv1.CheckOrdersRequest{
		RequestId: "r",
		Physician: &rxguardv1.Physician{Code: "D1", Title: rxguardv1.Title_TITLE_ATTENDING},
		Orders:    lines,
	}}
}

const drugKind = rxguardv1.ItemKind_ITEM_DRUG

func mustPolicy(t *testing.T, threshold float64) pluginv1.PolicyPluginServiceClient {
	t.Helper()
	p, err := newPolicy(threshold)
	if err != nil {
		t.Fatal(err)
	}
	return sdktest.InProcess(t, p)
}

func TestEvaluate(t *testing.T) {
	c := mustPolicy(t, defaultThreshold)
	selfPay := line("1", drugKind, 2, 3000)
	selfPay.SelfPay = true

	tests := []struct {
		name     string
		req      *pluginv1.EvaluateRequest
		lines    []string // lines warned about
		contains []string // in the first finding's message+evidence
	}{
		{name: "cheap", req: req(line("1", drugKind, 10, 12.5))},
		{name: "exactly the threshold", req: req(line("1", drugKind, 1, 5000))},
		{name: "exactly the threshold as a product", req: req(line("1", drugKind, 4, 1250))},
		{name: "one fen over", req: req(line("1", drugKind, 1, 5000.01)),
			lines: []string{"1"}, contains: []string{"¥5,000.01", "¥5,000.00", "需第二名医师审核签字"}},
		{name: "float noise does not fire", req: req(line("1", drugKind, 3, 1666.6666666666667))},
		{name: "quantity × price", req: req(line("1", drugKind, 5, 2469)),
			lines: []string{"1"}, contains: []string{"“项目1”本条医嘱金额 ¥12,345.00（5支 × 单价 ¥2,469.00）", "超过医院高值医嘱双签阈值 ¥5,000.00"}},
		{name: "fractional quantity", req: req(line("1", drugKind, 0.5, 20000)),
			lines: []string{"1"}, contains: []string{"¥10,000.00", "0.5支"}},
		{name: "self-pay too", req: req(selfPay), lines: []string{"1"}, contains: []string{"¥6,000.00", "自费医嘱同样适用"}},
		{name: "consumable", req: req(line("1", rxguardv1.ItemKind_ITEM_CONSUMABLE, 1, 38000)), lines: []string{"1"}, contains: []string{"¥38,000.00"}},
		{name: "service item", req: req(line("1", rxguardv1.ItemKind_ITEM_SERVICE, 1, 7000)), lines: []string{"1"}},
		{name: "no price", req: req(line("1", drugKind, 100, 0))},
		{name: "negative (refund) line", req: req(line("1", drugKind, -10, 1000))},
		{name: "lines judged one by one, not summed", req: req(line("1", drugKind, 1, 4000), line("2", drugKind, 1, 4000))},
		{name: "one finding per line", req: req(line("1", drugKind, 1, 6000), line("2", drugKind, 1, 10), line("3", drugKind, 2, 9000)),
			lines: []string{"1", "3"}},
		{name: "no orders", req: req()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sdktest.Evaluate(t, c, tt.req)
			assertLines(t, got, tt.lines)
			if len(got) == 0 {
				return
			}
			text := got[0].GetMessage() + "\n" + got[0].GetEvidence()
			for _, s := range tt.contains {
				if !strings.Contains(text, s) {
					t.Errorf("finding does not contain %q:\n%s", s, text)
				}
			}
		})
	}
}

func assertLines(t *testing.T, got []*rxguardv1.Finding, lines []string) {
	t.Helper()
	if len(got) != len(lines) {
		t.Fatalf("got %d findings, want %d (lines %v): %v", len(got), len(lines), lines, got)
	}
	for i, f := range got {
		if f.GetRuleId() != ruleID || f.GetRuleType() != ruleType || f.GetAction() != rxguardv1.Action_ACTION_WARN ||
			len(f.GetLineIds()) != 1 || f.GetLineIds()[0] != lines[i] {
			t.Errorf("finding %d = %s %s %s %v, want %s %s WARN [%s]", i, f.GetRuleId(), f.GetRuleType(), f.GetAction(), f.GetLineIds(), ruleID, ruleType, lines[i])
		}
		if f.GetSuggestion() == "" || f.GetEvidence() == "" {
			t.Errorf("finding %d lacks evidence or suggestion: %v", i, f)
		}
	}
}

func TestThreshold(t *testing.T) {
	c := mustPolicy(t, 800)
	assertLines(t, sdktest.Evaluate(t, c, req(line("1", drugKind, 1, 800), line("2", drugKind, 1, 800.01))), []string{"2"})

	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := newPolicy(bad); err == nil {
			t.Errorf("newPolicy(%v) accepted", bad)
		}
	}
}

func TestDescribe(t *testing.T) {
	d, err := mustPolicy(t, 5000).Describe(context.Background(), &pluginv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != pluginName || len(d.GetRuleIds()) != 1 || d.GetRuleIds()[0] != ruleID || !strings.Contains(d.GetDescription(), "¥5,000.00") {
		t.Fatalf("Describe = %v", d)
	}
}

// The real executable over go-plugin: default threshold, then -threshold.
func TestBinary(t *testing.T) {
	c, _ := sdktest.Binary(t, ".")
	assertLines(t, sdktest.Evaluate(t, c, req(line("1", drugKind, 1, 5000), line("2", drugKind, 1, 5000.01))), []string{"2"})

	c, kill := sdktest.Binary(t, ".", "-threshold", "20000")
	defer kill()
	got := sdktest.Evaluate(t, c, req(line("1", drugKind, 2, 10000), line("2", drugKind, 3, 10000)))
	assertLines(t, got, []string{"2"})
	if !strings.Contains(got[0].GetMessage(), "¥20,000.00") {
		t.Errorf("message does not name the configured threshold: %s", got[0].GetMessage())
	}
}

func TestBinaryBadThreshold(t *testing.T) {
	if _, _, err := sdktest.Dial(t, sdktest.Build(t, "."), "-threshold", "-5"); err == nil {
		t.Fatal("plugin started with a negative threshold")
	}
}

package sdk_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
)

func TestSimpleChecksFindings(t *testing.T) {
	warn := rxguardv1.Action_ACTION_WARN
	tests := []struct {
		name     string
		findings []*rxguardv1.Finding
		err      error
		code     codes.Code
		contains string
	}{
		{name: "none"},
		{name: "declared", findings: []*rxguardv1.Finding{sdk.Finding("R1", "T", warn, []string{"1"}, "m", "", "")}},
		{name: "undeclared rule id", findings: []*rxguardv1.Finding{sdk.Finding("R9", "T", warn, nil, "m", "", "")},
			code: codes.Internal, contains: `"R9"`},
		{name: "no action", findings: []*rxguardv1.Finding{sdk.Finding("R2", "T", rxguardv1.Action_ACTION_UNSPECIFIED, nil, "m", "", "")},
			code: codes.Internal, contains: "no action"},
		{name: "nil finding", findings: []*rxguardv1.Finding{nil}, code: codes.Internal, contains: "nil"},
		{name: "error passes through", err: status.Error(codes.Unavailable, "table gone"), code: codes.Unavailable, contains: "table gone"},
		{name: "plain error", err: errors.New("boom"), code: codes.Unknown, contains: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sdk.Simple("t", "1", "", []string{"R1", "R2"}, func(context.Context, *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) {
				return tt.findings, tt.err
			})
			resp, err := sdktest.InProcess(t, p).Evaluate(context.Background(), &pluginv1.EvaluateRequest{})
			if status.Code(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.contains) {
					t.Fatalf("err %q does not contain %q", err, tt.contains)
				}
				return
			}
			if len(resp.GetFindings()) != len(tt.findings) {
				t.Fatalf("findings = %v", resp.GetFindings())
			}
		})
	}
}

func TestSimpleRecoversPanic(t *testing.T) {
	p := sdk.Simple("t", "1", "", []string{"R1"}, func(_ context.Context, r *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) {
		_ = r.GetRequest().GetOrders()[5] // index out of range
		return nil, nil
	})
	_, err := p.Evaluate(context.Background(), &pluginv1.EvaluateRequest{})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err = %v", err)
	}
}

func TestSimpleDescribe(t *testing.T) {
	ids := []string{"A", "B"}
	p := sdk.Simple("n", "v", "d", ids, func(context.Context, *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) { return nil, nil })
	ids[0] = "changed"
	d, err := p.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != "n" || d.GetVersion() != "v" || d.GetDescription() != "d" || d.GetRuleIds()[0] != "A" {
		t.Fatalf("Describe = %v", d)
	}
}

func TestSimpleRequiresNameAndRules(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Simple without rule ids did not panic")
		}
	}()
	sdk.Simple("n", "v", "d", nil, func(context.Context, *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) { return nil, nil })
}

func TestFinding(t *testing.T) {
	lines := []string{"1", "2"}
	f := sdk.Finding("R", "TYPE", rxguardv1.Action_ACTION_BLOCK, lines, "msg", "ev", "sug")
	lines[0] = "x"
	if f.GetRuleId() != "R" || f.GetRuleType() != "TYPE" || f.GetAction() != rxguardv1.Action_ACTION_BLOCK ||
		f.GetLineIds()[0] != "1" || f.GetMessage() != "msg" || f.GetEvidence() != "ev" || f.GetSuggestion() != "sug" {
		t.Fatalf("Finding = %v", f)
	}
	if f.GetFindingId() != "" || f.GetSource() != "" || f.GetOverridable() {
		t.Fatalf("host-owned fields set: %v", f)
	}
}

func TestYuan(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "¥0.00"},
		{5, "¥5.00"},
		{999.999, "¥1,000.00"},
		{5000.01, "¥5,000.01"},
		{12345, "¥12,345.00"},
		{1234567.891, "¥1,234,567.89"},
		{100000, "¥100,000.00"},
		{-0.5, "-¥0.50"},
		{-12345.678, "-¥12,345.68"},
		{math.Inf(1), "¥+Inf"},
	}
	for _, tt := range tests {
		if got := sdk.Yuan(tt.in); got != tt.want {
			t.Errorf("Yuan(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

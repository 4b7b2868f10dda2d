package sdk

import (
	"context"
	"fmt"
	"log"
	"math"
	"runtime/debug"
	"slices"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// EvaluateFunc judges one check: it returns the findings for the request's
// order lines (none when everything is fine). An error makes the host apply
// the plugin's failure policy, so return one only when the plugin cannot
// judge, never to say "this order is wrong" — that is a finding.
type EvaluateFunc func(ctx context.Context, req *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error)

// Simple builds a Policy from one function. name is the short lowercase
// plugin name (findings are shown with source "plugin:<name>"), ruleIDs the
// rule ids f may put in Finding.rule_id, description what the plugin checks
// (for hospital IT).
//
// The returned Policy guards against the usual authoring mistakes, turning
// them into an error (gRPC code Internal) the host handles with the plugin's
// failure policy instead of letting them through or crashing the process:
//   - a finding whose rule_id is not in ruleIDs, or whose action is
//     ACTION_UNSPECIFIED, or that is nil;
//   - a panic in f.
//
// Simple panics when name, ruleIDs or f is empty: that is a bug in main,
// seen the first time the plugin is started.
func Simple(name, version, description string, ruleIDs []string, f EvaluateFunc) Policy {
	if name == "" || len(ruleIDs) == 0 || f == nil {
		panic("sdk.Simple: name, ruleIDs and f are required")
	}
	return &simple{
		desc: &pluginv1.DescribeResponse{
			Name:        name,
			Version:     version,
			RuleIds:     slices.Clone(ruleIDs),
			Description: description,
		},
		f: f,
	}
}

type simple struct {
	desc *pluginv1.DescribeResponse
	f    EvaluateFunc
}

func (s *simple) Describe(context.Context) (*pluginv1.DescribeResponse, error) {
	return s.desc, nil
}

func (s *simple) Evaluate(ctx context.Context, req *pluginv1.EvaluateRequest) (resp *pluginv1.EvaluateResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The stack goes to stderr, which the host logs; the error
			// stays short because the host may show it.
			log.Printf("plugin %s panicked: %v\n%s", s.desc.Name, r, debug.Stack())
			resp, err = nil, status.Errorf(codes.Internal, "plugin %s panicked: %v", s.desc.Name, r)
		}
	}()
	findings, err := s.f(ctx, req)
	if err != nil {
		return nil, err
	}
	for i, f := range findings {
		switch {
		case f == nil:
			return nil, status.Errorf(codes.Internal, "plugin %s: finding %d is nil", s.desc.Name, i)
		case !slices.Contains(s.desc.RuleIds, f.GetRuleId()):
			return nil, status.Errorf(codes.Internal, "plugin %s: finding %d has rule_id %q, not one of the declared %q",
				s.desc.Name, i, f.GetRuleId(), s.desc.RuleIds)
		case f.GetAction() == rxguardv1.Action_ACTION_UNSPECIFIED:
			return nil, status.Errorf(codes.Internal, "plugin %s: finding %d (%s) has no action", s.desc.Name, i, f.GetRuleId())
		}
	}
	return &pluginv1.EvaluateResponse{Findings: findings}, nil
}

// Finding builds a finding. finding_id, overridable and source are left
// empty: the host sets them.
//   - ruleID: one of the ids the plugin declares in Describe;
//   - ruleType: the catalogue type, e.g. "ANTIBIOTIC_TIER";
//   - lineIDs: the order lines (OrderLine.line_id) the finding is about;
//   - message: Chinese, for the physician: what is wrong with which drug;
//   - evidence: what the rule relies on, with its source (table, regulation);
//   - suggestion: what would make the order pass.
func Finding(ruleID, ruleType string, action rxguardv1.Action, lineIDs []string, message, evidence, suggestion string) *rxguardv1.Finding {
	return &rxguardv1.Finding{
		RuleId:     ruleID,
		RuleType:   ruleType,
		Action:     action,
		LineIds:    slices.Clone(lineIDs),
		Message:    message,
		Evidence:   evidence,
		Suggestion: suggestion,
	}
}

// Yuan formats an amount of money in yuan as the physician reads it:
// Yuan(12345) == "¥12,345.00", Yuan(-0.5) == "-¥0.50". It rounds to the fen
// (half away from zero). NaN and infinities are formatted with %v.
func Yuan(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= 1e15 {
		return fmt.Sprintf("¥%v", v)
	}
	fen := int64(math.Round(v * 100))
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	digits := strconv.FormatInt(fen/100, 10)
	grouped := make([]byte, 0, len(digits)+len(digits)/3)
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			grouped = append(grouped, ',')
		}
		grouped = append(grouped, digits[i])
	}
	return fmt.Sprintf("%s¥%s.%02d", sign, grouped, fen%100)
}

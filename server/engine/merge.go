package engine

import (
	"sort"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Merge adds findings from elsewhere (hospital plugins) to a result and
// re-ranks everything by the same rules as built-in findings: BLOCK, WARN,
// INFO, then by the position of the first line named in the request
// (findings naming no line last); the verdict is the strongest action.
func Merge(req *rxguardv1.CheckOrdersRequest, res *Result, extra []*rxguardv1.Finding) {
	if len(extra) == 0 {
		return
	}
	res.Findings = append(res.Findings, extra...)
	pos := func(f *rxguardv1.Finding) int {
		if len(f.LineIds) == 0 {
			return len(req.Orders)
		}
		for i, o := range req.Orders {
			if o.LineId == f.LineIds[0] {
				return i
			}
		}
		return len(req.Orders)
	}
	sort.SliceStable(res.Findings, func(a, b int) bool {
		fa, fb := res.Findings[a], res.Findings[b]
		if fa.Action != fb.Action {
			return fa.Action > fb.Action
		}
		return pos(fa) < pos(fb)
	})
	res.Verdict = verdictOf(res.Findings)
}

func verdictOf(findings []*rxguardv1.Finding) rxguardv1.Verdict {
	v := rxguardv1.Verdict_VERDICT_PASS
	for _, f := range findings {
		switch f.Action {
		case rxguardv1.Action_ACTION_BLOCK:
			return rxguardv1.Verdict_VERDICT_BLOCK
		case rxguardv1.Action_ACTION_WARN:
			v = rxguardv1.Verdict_VERDICT_WARN
		}
	}
	return v
}

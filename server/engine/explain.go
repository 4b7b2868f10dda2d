package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// WellFormedCode reports whether code has the shape of a national code: a
// drug code of 20–23 upper-case letters and digits starting with X, Z or T
// (西药, 中成药, and the T-prefixed codes of 饮片), or a 15-digit service-item
// code.
func WellFormedCode(code string) bool {
	n := len(code)
	if n == 15 {
		for i := 0; i < n; i++ {
			if code[i] < '0' || code[i] > '9' {
				return false
			}
		}
		return true
	}
	if n < 20 || n > 23 {
		return false
	}
	switch code[0] {
	case 'X', 'Z', 'T':
	default:
		return false
	}
	for i := 1; i < n; i++ {
		c := code[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Explain returns everything the active release binds to code and how this
// sidecar applies it; nil without an index.
func (e *Engine) Explain(code string) *rxguardv1.ExplainItemResponse {
	idx := e.active.Load()
	if idx == nil {
		return nil
	}
	resp := &rxguardv1.ExplainItemResponse{
		ItemCode:         code,
		ItemName:         idx.Name(code),
		KnowledgeVersion: idx.Version(),
		CodeWellFormed:   WellFormedCode(code),
	}
	if entry := idx.byCode[code]; entry != nil {
		for _, b := range entry.checks {
			resp.Entries = append(resp.Entries, e.explainEntry(b.spec, b.r))
		}
	}
	return resp
}

func (e *Engine) explainEntry(s *ruleSpec, r *knowledge.Restriction) *rxguardv1.KnowledgeEntry {
	action := s.action
	if o := e.override[s.order]; o != rxguardv1.Action_ACTION_UNSPECIFIED {
		action = o
	}
	text := r.Description
	if r.Text != "" {
		if text != "" {
			text += "；"
		}
		text += "未结构化：" + r.Text
	}
	return &rxguardv1.KnowledgeEntry{
		RuleType: string(s.typ),
		RuleId:   r.Key(),
		Summary:  s.title + "：" + s.describe(r),
		Source:   r.Source.String(),
		Text:     text,
		Enabled:  e.enabled[s.order],
		Action:   action,
	}
}

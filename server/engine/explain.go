package engine

import (
	"sort"
	"strconv"
	"strings"

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

// Explain returns everything the active release binds to code (and, for a
// drug, to its catalogue entry found by name) and how this sidecar applies
// it; nil without an index.
func (e *Engine) Explain(code, name string) *rxguardv1.ExplainItemResponse {
	idx := e.active.Load()
	if idx == nil {
		return nil
	}
	code, _ = knowledge.CanonicalCode(code)
	resp := &rxguardv1.ExplainItemResponse{
		ItemCode:         code,
		ItemName:         idx.Name(code),
		KnowledgeVersion: idx.Version(),
		CodeWellFormed:   WellFormedCode(code),
	}
	if entry, _ := idx.lookup(code); entry != nil {
		for _, b := range entry.checks {
			resp.Entries = append(resp.Entries, e.explainEntry(b.spec, b.r))
		}
	}
	if it, ok := idx.Recognition(code); ok {
		if resp.ItemName == "" {
			resp.ItemName = it.Name
		}
		summary := "检查检验结果互认，" + strconv.Itoa(it.WindowDays) + "天内本院或他院已做的同一项目提示调阅互认"
		if it.Scope != "" {
			summary += "（" + it.Scope + "）"
		}
		resp.Entries = append(resp.Entries, e.ruleEntry(repeatExamRule, "REPEAT_EXAM/"+code, summary, it.Source.String(), ""))
	}
	if !idx.knows(code, name) {
		resp.Entries = append(resp.Entries, e.ruleEntry(unknownItemRule, "UNKNOWN_ITEM/"+code,
			"知识库未收录该编码（贯标对码）；医保支付的行均提示", "", ""))
	}
	if d := idx.drugFor(code, name); d != nil {
		if resp.ItemName == "" {
			resp.ItemName = d.generic
		}
		e.explainDrug(resp, idx, code, d)
	}
	return resp
}

// explainDrug lists the drug-record knowledge and the rules that use it.
func (e *Engine) explainDrug(resp *rxguardv1.ExplainItemResponse, idx *Index, code string, d *drugInfo) {
	class := "医保类别：" + d.class + "类"
	if d.class != "甲" && d.class != "乙" {
		class = "非医保目录（无甲/乙类），医保支付的行提示"
	}
	resp.Entries = append(resp.Entries, e.ruleEntry(notCoveredRule, "NOT_COVERED/"+code, class, d.sourceText(), ""))
	if d.restriction != "" {
		summary := "限定支付范围，适用诊断ICD-10：" + strings.Join(d.icd, "、")
		if len(d.icd) == 0 {
			summary = "限定支付范围（文字，未结构化；提示）"
		}
		resp.Entries = append(resp.Entries, e.ruleEntry(drugIndicationRule, "DRUG_INDICATION/"+code, summary, d.sourceText(), d.restriction))
	}
	if d.secondLine {
		resp.Entries = append(resp.Entries, e.ruleEntry(secondLineRule, "SECOND_LINE/"+code, "二线用药，需确认限定支付范围", d.sourceText(), d.restriction))
	}
	resp.Entries = append(resp.Entries, e.ruleEntry(quantityLimitRule, "QUANTITY_LIMIT",
		"门诊用量：一般7天，慢病诊断30天，最长84天", "处方管理与长期处方规定", ""))
	resp.Entries = append(resp.Entries, e.ruleEntry(duplicateTherapyRule, "DUPLICATE_THERAPY/"+d.generic,
		"通用名 "+d.generic+"：同一处方或用药期内重复开具提示", d.sourceText(), ""))
	partners := make([]drugPair, 0, 4)
	for p := range idx.interactions {
		if p.a == d.generic || p.b == d.generic {
			partners = append(partners, p)
		}
	}
	sort.Slice(partners, func(i, j int) bool {
		return pairKey(partners[i].a, partners[i].b) < pairKey(partners[j].a, partners[j].b)
	})
	for _, p := range partners {
		it, key := idx.interactions[p], pairKey(p.a, p.b)
		entry := e.ruleEntry(drugInteractionRule, "DRUG_INTERACTION/"+key,
			"配伍"+it.Severity+"："+it.DrugA+" + "+it.DrugB, it.Source.String(), it.Reason)
		if it.Severity != "禁忌" && e.override[drugInteractionRule.order] == rxguardv1.Action_ACTION_UNSPECIFIED {
			entry.Action = rxguardv1.Action_ACTION_WARN
		}
		resp.Entries = append(resp.Entries, entry)
	}
}

func (e *Engine) ruleEntry(s *ruleSpec, id, summary, source, text string) *rxguardv1.KnowledgeEntry {
	action := s.action
	if o := e.override[s.order]; o != rxguardv1.Action_ACTION_UNSPECIFIED {
		action = o
	}
	return &rxguardv1.KnowledgeEntry{
		RuleType: string(s.typ), RuleId: id, Summary: s.title + "：" + summary, Source: source, Text: text,
		Enabled: e.enabled[s.order], Action: action,
	}
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

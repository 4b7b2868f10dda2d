package cdshooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/validate"
)

// The CDS Hooks answer rxguard sends.

type hookResponse struct {
	Cards []card `json:"cards"`
	// Extension says what the EHR should enforce for the whole call.
	Extension responseExtension `json:"extension"`
}

// responseExtension: the spec has no hard stop, so an EHR that enforces
// rxguard reads rxguard-verdict (docs/cds-hooks.md).
type responseExtension struct {
	DecisionID       string `json:"rxguard-decision-id"`
	Verdict          string `json:"rxguard-verdict"` // PASS, WARN or BLOCK of the cards shown
	KnowledgeVersion string `json:"rxguard-knowledge-version"`
	KnowledgeStale   bool   `json:"rxguard-knowledge-stale,omitempty"`
}

type card struct {
	UUID              string        `json:"uuid"`
	Summary           string        `json:"summary"`
	Detail            string        `json:"detail,omitempty"`
	Indicator         string        `json:"indicator"`
	Source            cardSource    `json:"source"`
	Suggestions       []suggestion  `json:"suggestions,omitempty"`
	SelectionBehavior string        `json:"selectionBehavior,omitempty"`
	OverrideReasons   []coding      `json:"overrideReasons,omitempty"`
	Extension         cardExtension `json:"extension"`
}

type cardSource struct {
	Label string `json:"label"`
	Topic coding `json:"topic"`
}

// cardExtension is what an EHR needs to enforce a card: rxguard-block is
// true on BLOCK cards only (the order must change before it is signed);
// rxguard-overridable false means an override is refused by the feedback
// endpoint too.
type cardExtension struct {
	Block       bool     `json:"rxguard-block,omitempty"`
	DecisionID  string   `json:"rxguard-decision-id"`
	RuleID      string   `json:"rxguard-rule-id"`
	Overridable bool     `json:"rxguard-overridable"`
	Resources   []string `json:"rxguard-resources,omitempty"`
}

type suggestion struct {
	Label  string   `json:"label"`
	UUID   string   `json:"uuid"`
	Action []action `json:"actions"`
}

type action struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Resource    json.RawMessage `json:"resource,omitempty"`
	ResourceID  string          `json:"resourceId,omitempty"`
}

// maxSummary: CDS Hooks wants a summary under 140 characters.
const maxSummary = 139

var indicators = map[rxguardv1.Action]string{
	rxguardv1.Action_ACTION_BLOCK: "critical",
	rxguardv1.Action_ACTION_WARN:  "warning",
	rxguardv1.Action_ACTION_INFO:  "info",
}

// reasonCodings are the override reasons every overridable card offers.
var reasonCodings = func() []coding {
	out := make([]coding, len(validate.ReasonCodes))
	for i, r := range validate.ReasonCodes {
		out[i] = coding{System: SystemReason, Code: r.Code, Display: r.Name}
	}
	return out
}()

// buildResponse maps a decision onto cards. For order-select only the
// findings touching a selection (or no line at all) are shown.
func buildResponse(resp *rxguardv1.CheckOrdersResponse, tr *translated) hookResponse {
	out := hookResponse{Cards: []card{}, Extension: responseExtension{
		DecisionID: resp.GetDecisionId(), KnowledgeVersion: resp.GetKnowledgeVersion(), KnowledgeStale: resp.GetKnowledgeStale(),
	}}
	strongest := rxguardv1.Action_ACTION_UNSPECIFIED
	for _, f := range resp.GetFindings() {
		if !tr.shows(f) {
			continue
		}
		if f.Action > strongest {
			strongest = f.Action
		}
		out.Cards = append(out.Cards, buildCard(f, resp.GetDecisionId(), tr))
	}
	switch strongest {
	case rxguardv1.Action_ACTION_BLOCK:
		out.Extension.Verdict = "BLOCK"
	case rxguardv1.Action_ACTION_WARN:
		out.Extension.Verdict = "WARN"
	default:
		out.Extension.Verdict = "PASS"
	}
	return out
}

func (t *translated) shows(f *rxguardv1.Finding) bool {
	if t.selected == nil || len(f.GetLineIds()) == 0 {
		return true
	}
	for _, id := range f.GetLineIds() {
		if t.selected[id] {
			return true
		}
	}
	return false
}

func (t *translated) line(ref string) (draftLine, bool) {
	for _, l := range t.lines {
		if l.ref == ref {
			return l, true
		}
	}
	return draftLine{}, false
}

func buildCard(f *rxguardv1.Finding, decisionID string, tr *translated) card {
	c := card{
		UUID:      f.GetFindingId(),
		Summary:   summary(f.GetMessage()),
		Detail:    detail(f, tr),
		Indicator: indicators[f.GetAction()],
		Source:    cardSource{Label: "rxguard", Topic: coding{System: SystemRuleType, Code: f.GetRuleType()}},
		Extension: cardExtension{
			Block: f.GetAction() == rxguardv1.Action_ACTION_BLOCK, DecisionID: decisionID,
			RuleID: f.GetRuleId(), Overridable: f.GetOverridable(), Resources: f.GetLineIds(),
		},
	}
	if c.Indicator == "" {
		c.Indicator = "info"
	}
	if f.GetOverridable() {
		c.OverrideReasons = reasonCodings
	}
	for k, fix := range f.GetFixes() {
		if s, ok := buildSuggestion(f, fix, k, tr); ok {
			c.Suggestions = append(c.Suggestions, s)
		}
	}
	if len(c.Suggestions) > 0 {
		// Each fix alone makes the finding pass: they are alternatives.
		c.SelectionBehavior = "at-most-one"
	}
	return c
}

func summary(msg string) string {
	s, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	if s == "" {
		s = "rxguard 提示"
	}
	if utf8.RuneCountInString(s) <= maxSummary {
		return s
	}
	r := []rune(s)
	return string(r[:maxSummary-1]) + "…"
}

func detail(f *rxguardv1.Finding, tr *translated) string {
	var b strings.Builder
	b.WriteString(f.GetMessage())
	if e := f.GetEvidence(); e != "" {
		b.WriteString("\n\n**依据**: " + e)
	}
	if s := f.GetSuggestion(); s != "" {
		b.WriteString("\n\n**建议**: " + s)
	}
	var items []string
	for _, id := range f.GetLineIds() {
		name := id
		for i, l := range tr.lines {
			if l.ref == id && tr.req.Orders[i].GetItemName() != "" {
				name = tr.req.Orders[i].GetItemName() + " (" + id + ")"
			}
		}
		items = append(items, name)
	}
	if len(items) > 0 {
		b.WriteString("\n\n**医嘱**: " + strings.Join(items, "、"))
	}
	return b.String()
}

// buildSuggestion turns one structured fix into a suggestion whose action
// changes the draft resource the way the fix says. A fix that has no
// FHIR form for its resource (days of a ServiceRequest) or names no draft
// order is left to the card's text.
func buildSuggestion(f *rxguardv1.Finding, fix *rxguardv1.Fix, k int, tr *translated) (suggestion, bool) {
	ref := fix.GetLineId()
	if ref == "" && len(f.GetLineIds()) == 1 {
		ref = f.GetLineIds()[0]
	}
	l, ok := tr.line(ref)
	if !ok {
		return suggestion{}, false
	}
	label := fix.GetLabel()
	if label == "" {
		label = defaultLabel(fix)
	}
	s := suggestion{Label: label, UUID: f.GetFindingId() + "-s" + strconv.Itoa(k+1)}
	if fix.GetKind() == rxguardv1.FixKind_FIX_KIND_REMOVE_LINE {
		s.Action = []action{{Type: "delete", Description: label, ResourceID: l.ref}}
		return s, true
	}
	res, ok := applyFix(l, fix)
	if !ok {
		return suggestion{}, false
	}
	s.Action = []action{{Type: "update", Description: label, Resource: res}}
	return s, true
}

func defaultLabel(fix *rxguardv1.Fix) string {
	switch fix.GetKind() {
	case rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY:
		return "数量改为 " + strconv.FormatFloat(fix.GetQuantity(), 'f', -1, 64)
	case rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS:
		return fmt.Sprintf("天数改为 %d", fix.GetDays())
	case rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY:
		return "标记自费（患者知情同意）"
	case rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION:
		return "确认符合限定支付范围"
	case rxguardv1.FixKind_FIX_KIND_REMOVE_LINE:
		return "删除该医嘱"
	case rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM:
		return "改为 " + firstNonEmpty(fix.GetItemName(), fix.GetItemCode())
	}
	return "修改医嘱"
}

// applyFix returns the draft resource with the fix applied. The resource
// is decoded generically so that everything the EHR sent comes back
// unchanged except the field the fix sets.
func applyFix(l draftLine, fix *rxguardv1.Fix) (json.RawMessage, bool) {
	d := json.NewDecoder(bytes.NewReader(l.raw))
	d.UseNumber()
	var r map[string]any
	if d.Decode(&r) != nil {
		return nil, false
	}
	med := l.kind == "MedicationRequest"
	switch fix.GetKind() {
	case rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY:
		if med {
			q := child(child(r, "dispenseRequest"), "quantity")
			q["value"] = fix.GetQuantity()
		} else {
			child(r, "quantityQuantity")["value"] = fix.GetQuantity()
		}
	case rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS:
		if !med {
			return nil, false
		}
		child(r, "dispenseRequest")["expectedSupplyDuration"] = map[string]any{
			"value": fix.GetDays(), "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}
	case rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY:
		setFlag(r, ExtSelfPay)
	case rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION:
		setFlag(r, ExtRestrictionAttested)
	case rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM:
		if fix.GetItemCode() == "" {
			return nil, false
		}
		cc := map[string]any{"coding": []any{map[string]any{"system": SystemHIList, "code": fix.GetItemCode(), "display": fix.GetItemName()}}}
		if fix.GetItemName() != "" {
			cc["text"] = fix.GetItemName()
		}
		if med {
			r["medicationCodeableConcept"] = cc
		} else {
			r["code"] = cc
		}
	default:
		return nil, false
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, false
	}
	return b, true
}

// child returns m[k] as an object, replacing anything else there.
func child(m map[string]any, k string) map[string]any {
	if c, ok := m[k].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[k] = c
	return c
}

// setFlag sets the boolean extension url to true, replacing an earlier
// value of it.
func setFlag(r map[string]any, url string) {
	exts, _ := r["extension"].([]any)
	kept := exts[:0:0]
	for _, x := range exts {
		if m, ok := x.(map[string]any); ok && m["url"] == url {
			continue
		}
		kept = append(kept, x)
	}
	r["extension"] = append(kept, map[string]any{"url": url, "valueBoolean": true})
}

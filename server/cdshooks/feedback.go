package cdshooks

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/validate"
)

type feedbackRequest struct {
	Feedback []feedbackItem `json:"feedback"`
}

type feedbackItem struct {
	Card                string `json:"card"`
	Outcome             string `json:"outcome"`
	AcceptedSuggestions []struct {
		ID string `json:"id"`
	} `json:"acceptedSuggestions"`
	OverrideReason *struct {
		Reason      *coding `json:"reason"`
		UserComment string  `json:"userComment"`
	} `json:"overrideReason"`
	OutcomeTimestamp string `json:"outcomeTimestamp"`
}

// feedbackAnswer is the body of a successful feedback call.
type feedbackAnswer struct {
	// Recorded counts the answers stored as new revisions; the same answer
	// sent again stores nothing (duplicates are tolerated).
	Recorded int `json:"recorded"`
}

// decisionIDLen is the length of a decision id (a UUIDv7); a card uuid is
// "<decision_id>-<n>".
const decisionIDLen = 36

// fbGroup is one RecordResponse: the answers to one decision at one time.
type fbGroup struct {
	req   *rxguardv1.RecordResponseRequest
	items []int // feedback index of each response
}

// feedback is POST /cds-services/{id}/feedback: accepted → RESPONSE_MODIFY,
// overridden → RESPONSE_CONTINUE with the override reason. Every item is
// checked (shape, then that its card exists and may be overridden) before
// any is recorded.
func (h *Handler) feedback(ctx context.Context, body []byte) (any, *httpError) {
	var fr feedbackRequest
	if e := decodeJSON(body, &fr, ""); e != nil {
		return nil, e
	}
	switch {
	case len(fr.Feedback) == 0:
		return nil, invalid("feedback", "feedback must list at least one card outcome")
	case len(fr.Feedback) > validate.MaxResponses:
		return nil, invalid("feedback", "feedback lists %d outcomes; at most %d", len(fr.Feedback), validate.MaxResponses)
	}
	var groups []*fbGroup
	seen := map[string]int{} // card → feedback index
	for i, it := range fr.Feedback {
		at := fmt.Sprintf("feedback[%d]", i)
		decisionID, ok := decisionOf(it.Card)
		if !ok {
			return nil, invalid(at+".card", "card %q is not an rxguard card uuid (<decision_id>-<n>)", clipS(it.Card))
		}
		resp, e := findingResponse(it, at)
		if e != nil {
			return nil, e
		}
		if j, dup := seen[it.Card]; dup {
			if sameItem(fr.Feedback[j], it) {
				continue // the same outcome twice: tolerated
			}
			return nil, invalid(at, "card %q already has a different outcome in feedback[%d]", clipS(it.Card), j)
		}
		seen[it.Card] = i
		var g *fbGroup
		for _, x := range groups {
			if x.req.DecisionId == decisionID && x.req.RespondedTime == it.OutcomeTimestamp {
				g = x
			}
		}
		if g == nil {
			g = &fbGroup{req: &rxguardv1.RecordResponseRequest{DecisionId: decisionID, RespondedTime: it.OutcomeTimestamp}}
			groups = append(groups, g)
		}
		g.req.Responses = append(g.req.Responses, resp)
		g.items = append(g.items, i)
	}
	now := time.Now()
	for _, g := range groups {
		if _, err := validate.RecordResponse(g.req, validate.Limits{}, now); err != nil {
			return nil, h.serviceError(err, g.path)
		}
	}
	if e := h.checkCards(ctx, groups); e != nil {
		return nil, e
	}
	total := 0
	for _, g := range groups {
		r, err := h.svc.RecordResponse(ctx, g.req)
		if err != nil {
			e := h.serviceError(err, g.path)
			if total > 0 {
				e.issues = append(e.issues, issue{Severity: "information", Code: "incomplete",
					Diagnostics: "some outcomes were recorded before the failure; send the whole feedback again (duplicates are tolerated)"})
			}
			return nil, e
		}
		total += int(r.GetRecorded())
	}
	return feedbackAnswer{Recorded: total}, nil
}

// checkCards reads each decision once: every card must be one of its
// findings, and an override needs an overridable one.
func (h *Handler) checkCards(ctx context.Context, groups []*fbGroup) *httpError {
	findings := map[string]map[string]*rxguardv1.Finding{}
	for _, g := range groups {
		id := g.req.DecisionId
		fs, ok := findings[id]
		if !ok {
			d, err := h.svc.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: id})
			if err != nil {
				e := h.serviceError(err, nil)
				if e.status == http.StatusBadRequest {
					e.issues[0].Expression = []string{fmt.Sprintf("feedback[%d].card", g.items[0])}
				}
				return e
			}
			fs = map[string]*rxguardv1.Finding{}
			for _, f := range d.GetDecision().GetResponse().GetFindings() {
				fs[f.GetFindingId()] = f
			}
			findings[id] = fs
		}
		for k, r := range g.req.Responses {
			at := fmt.Sprintf("feedback[%d]", g.items[k])
			f, ok := fs[r.FindingId]
			switch {
			case !ok:
				return fail(http.StatusBadRequest, "not-found", at+".card", "card %q is not a card of decision %s", clipS(r.FindingId), id)
			case r.Response == rxguardv1.Response_RESPONSE_CONTINUE && !f.GetOverridable():
				return fail(http.StatusConflict, "business-rule", at+".outcome",
					"card %s (%s) cannot be overridden: the order must be changed (明确违规, not overridable)", r.FindingId, f.GetRuleType())
			}
		}
	}
	return nil
}

// path maps a RecordResponse violation to the feedback item it came from.
func (g *fbGroup) path(field string) string {
	rest, ok := strings.CutPrefix(field, "responses[")
	if !ok {
		if field == "responded_time" && len(g.items) > 0 {
			return fmt.Sprintf("feedback[%d].outcomeTimestamp", g.items[0])
		}
		return "feedback"
	}
	n, sub, _ := strings.Cut(rest, "]")
	k, err := strconv.Atoi(n)
	if err != nil || k < 0 || k >= len(g.items) {
		return "feedback"
	}
	at := fmt.Sprintf("feedback[%d]", g.items[k])
	switch strings.TrimPrefix(sub, ".") {
	case "finding_id":
		return at + ".card"
	case "reason_code":
		return at + ".overrideReason.reason"
	case "reason_text":
		return at + ".overrideReason.userComment"
	}
	return at
}

func decisionOf(card string) (string, bool) {
	if len(card) <= decisionIDLen+1 || card[decisionIDLen] != '-' {
		return "", false
	}
	n := card[decisionIDLen+1:]
	if _, err := strconv.ParseUint(n, 10, 31); err != nil {
		return "", false
	}
	return card[:decisionIDLen], true
}

func findingResponse(it feedbackItem, at string) (*rxguardv1.FindingResponse, *httpError) {
	r := &rxguardv1.FindingResponse{FindingId: it.Card}
	switch it.Outcome {
	case "accepted":
		r.Response = rxguardv1.Response_RESPONSE_MODIFY
		return r, nil
	case "overridden":
	default:
		return nil, invalid(at+".outcome", "outcome %q must be accepted or overridden", clipS(it.Outcome))
	}
	r.Response = rxguardv1.Response_RESPONSE_CONTINUE
	if it.OverrideReason == nil || it.OverrideReason.Reason == nil {
		return nil, invalid(at+".overrideReason.reason", "an overridden card needs overrideReason.reason, one of the card's overrideReasons (system %s)", SystemReason)
	}
	c := it.OverrideReason.Reason
	if c.System != "" && c.System != SystemReason {
		return nil, invalid(at+".overrideReason.reason.system", "reason system %q must be %s", clipS(c.System), SystemReason)
	}
	name := ""
	for _, rc := range validate.ReasonCodes {
		if rc.Code == c.Code {
			name = rc.Name
		}
	}
	if name == "" {
		return nil, invalid(at+".overrideReason.reason.code", "reason code %q is not one of the card's overrideReasons", clipS(c.Code))
	}
	r.ReasonCode = c.Code
	// A continue always carries a text (3103 parity); a bare coded reason
	// is its display.
	r.ReasonText = firstNonEmpty(strings.TrimSpace(it.OverrideReason.UserComment), strings.TrimSpace(c.Display), name)
	return r, nil
}

func sameItem(a, b feedbackItem) bool {
	ra, _ := findingResponse(a, "")
	rb, _ := findingResponse(b, "")
	return a.OutcomeTimestamp == b.OutcomeTimestamp && ra != nil && rb != nil &&
		ra.Response == rb.Response && ra.ReasonCode == rb.ReasonCode && ra.ReasonText == rb.ReasonText
}

package nhsa

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/validate"
)

// group is the warns of one decision, as one RecordResponse.
type group struct {
	req   *rxguardv1.RecordResponseRequest
	warns []*warnDTO // warns[k] became req.Responses[k]
}

// national translates a RecordResponse violation path to the warn it came
// from.
func (g *group) national(field string) string {
	if field == "decision_id" {
		return join(g.warns[0].path, "warn_rslt_id")
	}
	if field == "responded_time" {
		return "inf_time"
	}
	head, rest, _ := strings.Cut(field, ".")
	var k int
	if n, err := parseIndex(head, "responses"); err == nil && n < len(g.warns) {
		k = n
	} else {
		return "RecordResponseRequest." + field
	}
	f := map[string]string{"finding_id": "warn_rslt_id", "response": "dspo_way", "reason_code": "dspo_way_rea", "reason_text": "dspo_way_rea"}[rest]
	if f == "" {
		return g.warns[k].path
	}
	return join(g.warns[k].path, f)
}

func parseIndex(head, name string) (int, error) {
	s, ok := strings.CutPrefix(head, name+"[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, errNotIndex
	}
	n := 0
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' {
			return 0, errNotIndex
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

var errNotIndex = fieldErr("", "not an index")

// decisionOf is the decision of a jr_id ("<decision_id>-<n>").
func decisionOf(jrID string) (string, bool) {
	i := strings.LastIndexByte(jrID, '-')
	if i <= 0 || i == len(jrID)-1 {
		return "", false
	}
	for _, c := range jrID[i+1:] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return jrID[:i], true
}

// ReasonCode picks RecordResponse's reason_code for a dspo_way_rea: a
// leading contract code ("CLINICAL_NEED: …") or its Chinese name
// ("病情需要，…"), else OTHER (docs/nhsa.md). The text itself is kept
// whole as reason_text.
func ReasonCode(text string) string {
	t := strings.TrimSpace(text)
	for _, rc := range validate.ReasonCodes {
		if rest, ok := strings.CutPrefix(strings.ToUpper(t), rc.Code); ok {
			if r, _ := utf8.DecodeRuneInString(rest); rest == "" || !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
				return rc.Code
			}
		}
		if strings.HasPrefix(t, rc.Name) {
			return rc.Code
		}
	}
	return "OTHER"
}

// feedback answers a 3103: every warn is checked — shape, reason, that
// its decision and finding exist and that a continue is allowed — before
// any is recorded, so a refused 3103 records nothing.
func (h *Handler) feedback(ctx context.Context, env *envelope, rep *reply) (int, outcome, error) {
	f, err := decodeFeedback(env)
	if err != nil {
		return 0, 0, err
	}
	groups, err := groupWarns(env, f)
	if err != nil {
		return 0, 0, err
	}
	for _, g := range groups {
		if _, err := validate.RecordResponse(g.req, h.svc.Limits(), h.now()); err != nil {
			return 0, 0, &unitError{err: err, origin: g}
		}
	}
	for _, g := range groups {
		if err := h.answerable(ctx, g); err != nil {
			return 0, 0, err
		}
	}
	total := 0
	for _, g := range groups {
		// Only the decision log can fail here (I/O): the groups before
		// are recorded, and sending the same 3103 again records the
		// rest (the same answer twice stores nothing).
		resp, err := h.svc.RecordResponse(ctx, g.req)
		if err != nil {
			return 0, 0, &unitError{err: err, origin: g}
		}
		total += int(resp.Recorded)
	}
	rep.Output = &output{Result: []result{}, Recorded: &total}
	return http.StatusOK, outOK, nil
}

// answerable checks that a group's decision and findings exist and that
// each continue is of an overridable finding, reading the decision log.
func (h *Handler) answerable(ctx context.Context, g *group) error {
	d, err := h.svc.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: g.req.DecisionId})
	if err != nil {
		if ce := (*check.Error)(nil); errors.As(err, &ce) && ce.Kind == check.NotFound {
			return &refusal{status: http.StatusNotFound, outcome: outNotFound, path: join(g.warns[0].path, "warn_rslt_id"),
				msg: "未找到该提示结果所属的审核记录 (no decision " + validate.Clip(g.req.DecisionId) + " in the decision log)"}
		}
		return &unitError{err: err, origin: g}
	}
	findings := map[string]*rxguardv1.Finding{}
	for _, f := range d.GetDecision().GetResponse().GetFindings() {
		findings[f.FindingId] = f
	}
	for k, r := range g.req.Responses {
		f := findings[r.FindingId]
		switch {
		case f == nil:
			return &refusal{status: http.StatusNotFound, outcome: outNotFound, path: join(g.warns[k].path, "warn_rslt_id"),
				msg: "该审核记录中没有此提示结果 (decision has no finding " + validate.Clip(r.FindingId) + ")"}
		case r.Response == rxguardv1.Response_RESPONSE_CONTINUE && !f.Overridable:
			return &refusal{status: http.StatusConflict, outcome: outConflict, path: join(g.warns[k].path, "dspo_way"),
				msg: "明确违规(sev_deg 1)不能继续执行, 请返回修改 (finding " + validate.Clip(r.FindingId) + " is not overridable: dspo_way must be 2)"}
		}
	}
	return nil
}

// groupWarns turns the warns into one RecordResponse per decision, in
// order of first appearance, refusing a warn that is malformed.
func groupWarns(env *envelope, f *feedback) ([]*group, error) {
	responded := ""
	if env.InfTime != "" {
		t, _, ok := parseLocal(env.InfTime)
		if !ok {
			return nil, fieldErr("inf_time", "交易时间应为yyyy-MM-dd HH:mm:ss (inf_time must be yyyy-MM-dd HH:mm:ss, local time): got %q", validate.Clip(env.InfTime))
		}
		responded = t.Format(time.RFC3339)
	}
	var groups []*group
	byDecision := map[string]*group{}
	for _, w := range f.Warns {
		id := w.WarnRsltID
		if id == "" {
			return nil, fieldErr(join(w.path, "warn_rslt_id"), "提示结果ID必填 (warn_rslt_id is required: a jr_id of a 3101/3102 reply)")
		}
		did, ok := decisionOf(id)
		if !ok {
			return nil, fieldErr(join(w.path, "warn_rslt_id"), "不是rxguard的提示结果ID, 应为<decision_id>-<n> (not a jr_id rxguard issued): got %q", validate.Clip(id))
		}
		fr := &rxguardv1.FindingResponse{FindingId: id, ReasonText: w.DspoWayRea}
		switch w.DspoWay {
		case "1":
			fr.Response = rxguardv1.Response_RESPONSE_CONTINUE
			if strings.TrimSpace(w.DspoWayRea) == "" {
				return nil, fieldErr(join(w.path, "dspo_way_rea"), "继续执行时处理原因必填 (dspo_way_rea is required with dspo_way 1)")
			}
		case "2":
			fr.Response = rxguardv1.Response_RESPONSE_MODIFY
		case "":
			return nil, fieldErr(join(w.path, "dspo_way"), "处理方式必填: 1 继续执行, 2 返回修改 (dspo_way is required: 1 or 2)")
		default:
			return nil, fieldErr(join(w.path, "dspo_way"), "处理方式应为1 继续执行或2 返回修改 (dspo_way must be 1 or 2): got %q", validate.Clip(w.DspoWay))
		}
		if fr.ReasonText != "" {
			fr.ReasonCode = ReasonCode(fr.ReasonText)
		}
		g := byDecision[did]
		if g == nil {
			g = &group{req: &rxguardv1.RecordResponseRequest{DecisionId: did, RespondedTime: responded}}
			byDecision[did] = g
			groups = append(groups, g)
		}
		g.req.Responses = append(g.req.Responses, fr)
		g.warns = append(g.warns, w)
	}
	return groups, nil
}

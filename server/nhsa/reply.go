package nhsa

import (
	"strconv"
	"strings"
	"unicode/utf8"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
)

// reply is the national answer envelope. infcode, err_msg and
// output.result[] are what callers parse (INTEROP.md, contract);
// output.decisions and output.ignored are rxguard's additions, which
// national clients skip as unknown fields.
type reply struct {
	Infcode     int     `json:"infcode"`
	ErrMsg      string  `json:"err_msg"`
	InfRefmsgid string  `json:"inf_refmsgid"`
	RefmsgTime  string  `json:"refmsg_time"`
	RespondTime string  `json:"respond_time"`
	Output      *output `json:"output,omitempty"`
	// Violations lists every field violation of a 400 (err_msg has the
	// first ones).
	Violations []Note `json:"violations,omitempty"`
}

type output struct {
	Result []result `json:"result"`
	// Decisions: one per patient checked, for audit and 3103.
	Decisions []decisionRef `json:"decisions,omitempty"`
	// Ignored: what was not judged (local diagnosis codes, unreadable
	// dates) or was put right (swapped code/name pairs).
	Ignored        []Note `json:"ignored,omitempty"`
	IgnoredOmitted int    `json:"ignored_omitted,omitempty"`
	// Recorded: 3103, the responses stored as new revisions.
	Recorded *int `json:"recorded,omitempty"`
}

type decisionRef struct {
	PatnID           string `json:"patn_id"`
	MdtrtID          string `json:"mdtrt_id"`
	DecisionID       string `json:"decision_id"`
	Verdict          string `json:"verdict"`
	KnowledgeVersion string `json:"knowledge_version"`
}

type result struct {
	JrID         string   `json:"jr_id"`
	RuleID       string   `json:"rule_id"`
	RuleName     string   `json:"rule_name"`
	VolaCont     string   `json:"vola_cont"`
	PatnID       string   `json:"patn_id"`
	MdtrtID      string   `json:"mdtrt_id"`
	VolaAmt      money    `json:"vola_amt"`
	VolaAmtStas  string   `json:"vola_amt_stas"`
	SevDeg       string   `json:"sev_deg"`
	VolaEvid     string   `json:"vola_evid"`
	VolaBhvrType string   `json:"vola_bhvr_type"`
	TaskID       string   `json:"task_id"`
	Details      []detail `json:"judge_result_detail_dtos"`
	// rxguard's additions: what would make it pass, and whether 3103 may
	// continue it (dspo_way 1).
	Suggestion  string `json:"rxguard_suggestion,omitempty"`
	Overridable bool   `json:"rxguard_overridable"`
}

type detail struct {
	JrdID        string `json:"jrd_id"`
	PatnID       string `json:"patn_id"`
	MdtrtID      string `json:"mdtrt_id"`
	RxID         string `json:"rx_id"`
	VolaItemType string `json:"vola_item_type"`
	VolaAmt      money  `json:"vola_amt"`
}

// money is an amount in cents, written with two decimals ("12.30").
type money int64

func (m money) MarshalJSON() ([]byte, error) { return m.append(nil), nil }

// append writes m with two decimals; appendReply and MarshalJSON share
// it, so the bytes are the same either way.
func (m money) append(b []byte) []byte {
	v := int64(m)
	if v < 0 {
		// Never a national amount (cents are ≥ 0), but still a number.
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	return append(b, '.', byte('0'+v%100/10), byte('0'+v%10))
}

// SevDeg is the national severity of an action (INTEROP.md, contract):
// "1" 明确违规 = BLOCK, "2" 可疑违规 = WARN, "3" 提示 = INFO.
func SevDeg(a rxguardv1.Action) string {
	switch a {
	case rxguardv1.Action_ACTION_BLOCK:
		return "1"
	case rxguardv1.Action_ACTION_WARN:
		return "2"
	}
	return "3"
}

// vola_amt_stas (rxguard's choice, docs/nhsa.md): how vola_amt was
// computed.
const (
	AmtNone     = "0" // 不涉及金额: no line, or only self-pay lines
	AmtSumamt   = "1" // 按明细金额(sumamt)合计
	AmtComputed = "2" // 含按数量×单价(cnt×pric)计算的明细
)

// BehaviourTypes is rxguard's vola_bhvr_type table (docs/nhsa.md; the
// national one is not public), by rule type. A rule type not listed (a
// plugin's) is "9" 其他.
var BehaviourTypes = map[knowledge.RuleType]string{
	"DRUG_GENDER": "1", "ITEM_GENDER": "1", "DRUG_AGE": "1", "ITEM_AGE": "1", "INSURANCE_TYPE": "1",
	"ENCOUNTER_TYPE": "1", "HOSPITAL_LEVEL": "1", "DRUG_INDICATION": "1", "SECOND_LINE": "1", // 1 超限定支付范围
	"PAYMENT_COURSE": "2", "ITEM_FREQUENCY": "2", "ITEM_PERIOD_FREQUENCY": "2", "ITEM_COURSE": "2",
	"QUANTITY_LIMIT":   "2",                                           // 2 超量/超频次/超疗程
	"DUPLICATE_CHARGE": "3", "SURGERY_GROUP": "3", "REPEAT_EXAM": "3", // 3 重复收费/重复检查
	"DRUG_INTERACTION": "4", "DUPLICATE_THERAPY": "4", "DIAGNOSIS_GENDER": "4", // 4 用药安全与诊疗合理性
	"PHYSICIAN_QUALIFICATION": "5",                      // 5 医师医保支付资格
	"NOT_COVERED":             "6", "UNKNOWN_ITEM": "6", // 6 目录外/对码
	"READMISSION": "7", "LOW_STANDARD_ADMISSION": "7", // 7 分解住院/低标入院
}

// BehaviourOther is vola_bhvr_type for a rule type not in BehaviourTypes.
const BehaviourOther = "9"

// RuleName is rule_name: the rule type's Chinese name from the engine's
// rule list; a plugin's finding is named by its source.
func RuleName(f *rxguardv1.Finding) string {
	if name, ok := engine.RuleTypeName(knowledge.RuleType(f.GetRuleType())); ok {
		return name
	}
	if src, ok := strings.CutPrefix(f.GetSource(), "plugin:"); ok {
		return "院内规则(" + src + ")"
	}
	return f.GetRuleType()
}

// maxText bounds vola_cont and vola_evid (national: ≤ 500 characters).
const maxText = 500

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// results translates one decision's findings to output.result[].
func results(u *unit, taskID string, resp *rxguardv1.CheckOrdersResponse) []result {
	byLine := make(map[string]int, len(u.req.Orders))
	for i, o := range u.req.Orders {
		byLine[o.LineId] = i
	}
	out := make([]result, 0, len(resp.Findings))
	patn, mdtrt := u.patient.PatnID, u.enc.MdtrtID
	for _, f := range resp.Findings {
		bt, ok := BehaviourTypes[knowledge.RuleType(f.RuleType)]
		if !ok {
			bt = BehaviourOther
		}
		r := result{JrID: f.FindingId, RuleID: f.RuleId, RuleName: RuleName(f), VolaCont: clipRunes(f.Message, maxText),
			PatnID: patn, MdtrtID: mdtrt, SevDeg: SevDeg(f.Action), VolaEvid: clipRunes(f.Evidence, maxText),
			VolaBhvrType: bt, TaskID: taskID, VolaAmtStas: AmtNone, Details: make([]detail, 0, len(f.LineIds)),
			Suggestion: f.Suggestion, Overridable: f.Overridable}
		computed := false
		for k, id := range f.LineIds {
			var amt lineAmount
			if i, ok := byLine[id]; ok {
				amt = u.amounts[i]
			}
			item := "2" // 涉及项: the other lines of a pair rule
			if k == 0 {
				item = "1" // 违规项
			}
			r.Details = append(r.Details, detail{JrdID: f.FindingId + "-" + strconv.Itoa(k+1), PatnID: patn, MdtrtID: mdtrt,
				RxID: id, VolaItemType: item, VolaAmt: money(amt.cents)})
			r.VolaAmt += money(amt.cents)
			computed = computed || (amt.computed && amt.cents > 0)
		}
		switch {
		case r.VolaAmt == 0:
		case computed:
			r.VolaAmtStas = AmtComputed
		default:
			r.VolaAmtStas = AmtSumamt
		}
		out = append(out, r)
	}
	return out
}

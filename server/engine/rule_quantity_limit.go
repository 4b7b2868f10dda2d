package engine

import (
	"strconv"
	"strings"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// QUANTITY_LIMIT (门诊处方用量): an outpatient drug line supplies at most 7
// days (acute), 30 days when a diagnosis is chronic (the release's chronic
// list), and never more than 84 days (长期处方 ceiling). Over the applicable
// limit → WARN; over 84 days → BLOCK.
var quantityLimitRule = &ruleSpec{
	typ: knowledge.RuleQuantityLimit, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "处方用量", checkLine: checkQuantityLimit,
}

const (
	acuteDays   = 7
	chronicDays = 30
	ceilingDays = 84
)

func outpatient(req *rxguardv1.CheckOrdersRequest) bool {
	return req.GetEncounter().GetType() == rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT ||
		req.GetScene() == rxguardv1.Scene_SCENE_OUTPATIENT
}

// chronicDiagnosis returns the first diagnosis the release counts as
// chronic, or "".
func (ev *evaluation) chronicDiagnosis() string {
	for _, dx := range ev.req.Diagnoses {
		code := normaliseICD(dx.Code)
		for _, p := range ev.idx.chronic {
			if strings.HasPrefix(code, p) {
				return dx.Code
			}
		}
	}
	return ""
}

func checkQuantityLimit(ev *evaluation, line int) []violation {
	o := ev.req.Orders[line]
	if !isDrug(o.Kind) || !outpatient(ev.req) || o.Days <= acuteDays {
		return nil
	}
	days := strconv.Itoa(int(o.Days))
	name := o.ItemName
	if name == "" {
		name = o.ItemCode
	}
	chronic := ev.chronicDiagnosis()
	if o.Days > ceilingDays {
		// 84 days would still exceed the 7/30-day limit (a WARN of this
		// type), so the days fix goes to the limit that clears the type.
		limit := acuteDays
		if chronic != "" {
			limit = chronicDays
		}
		return ev.one(violation{
			ruleID:     "QUANTITY_LIMIT/84",
			action:     rxguardv1.Action_ACTION_BLOCK,
			message:    ev.cat(name, " 门诊处方", days, "天，超过长期处方最长84天。"),
			evidence:   "长期处方管理规定：门诊处方用量最长不超过12周（84天）",
			suggestion: ev.cat("将用药天数减至", ev.itoa(limit), "天以内（门诊处方一般不超过", ev.itoa(limit), "天，长期处方最长84天），", selfPaySuggestion),
			fixes:      fixList(ev.reduceDaysFix(line, limit), ev.selfPayFix(line)),
		})
	}
	if chronic != "" && o.Days <= chronicDays {
		return nil
	}
	if chronic != "" {
		return ev.one(violation{
			ruleID:     "QUANTITY_LIMIT/30",
			message:    ev.cat(name, " 门诊慢性病处方", days, "天，超过一般不超过30天的用量。"),
			evidence:   ev.cat("门诊处方用量：慢性病（诊断 ", chronic, "）一般不超过30天，长期处方最长84天"),
			suggestion: "将用药天数减至30天以内；符合长期处方条件的请说明理由。",
			fixes:      fixList(ev.reduceDaysFix(line, chronicDays)),
		})
	}
	return ev.one(violation{
		ruleID:     "QUANTITY_LIMIT/7",
		message:    ev.cat(name, " 门诊处方", days, "天，超过急性病一般不超过7天的用量。"),
		evidence:   "门诊处方用量：急性病一般不超过7天；慢性病诊断（知识库慢病目录）不超过30天",
		suggestion: "将用药天数减至7天以内，或补充慢性病诊断后按慢病处方开具。",
		fixes:      fixList(ev.reduceDaysFix(line, acuteDays)),
	})
}

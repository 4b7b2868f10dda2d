package engine

import (
	"strings"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// DRUG_INDICATION (限定支付范围): when the drug record gives ICD-10 prefixes,
// no diagnosis of the request starts with one, and the physician has not
// attested the restriction → WARN quoting the text. A restriction known only
// as text → one INFO quoting it, never a WARN: the physician sees it,
// nothing is guessed. An attested line gets neither.
var drugIndicationRule = &ruleSpec{
	typ: knowledge.RuleDrugIndication, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "限定支付范围", checkLine: checkDrugIndication,
}

func checkDrugIndication(ev *evaluation, line int) []violation {
	o := ev.req.Orders[line]
	if !isDrug(o.Kind) || o.RestrictionAttested {
		return nil
	}
	d := ev.lineDrug(line)
	if d == nil || d.restriction == "" {
		return nil
	}
	id := ev.cat("DRUG_INDICATION/", o.ItemCode)
	if len(d.icd) == 0 {
		if !d.textOnly {
			return nil
		}
		return ev.one(violation{
			ruleID:     id,
			action:     rxguardv1.Action_ACTION_INFO,
			message:    ev.cat(d.generic, " 医保限定支付范围：“", d.restriction, "”，请确认患者符合。"),
			evidence:   d.cite(ev, "：限定支付范围（文字，未结构化）“", d.restriction, "”"),
			suggestion: ev.cat("符合限定支付范围时可勾选确认（restriction_attested）；不符合时", strings.TrimPrefix(selfPaySuggestion, "或")),
			fixes:      fixList(ev.attestFix(line), ev.selfPayFix(line)),
		})
	}
	for _, dx := range ev.req.Diagnoses {
		code := normaliseICD(dx.Code)
		for _, p := range d.icd {
			if strings.HasPrefix(code, p) {
				return nil
			}
		}
	}
	return ev.one(violation{
		ruleID:     id,
		message:    ev.cat(d.generic, " 医保限定支付范围：“", d.restriction, "”，本次诊断中没有符合的诊断。"),
		evidence:   d.cite(ev, "：限定支付范围“", d.restriction, "”；适用诊断ICD-10：", strings.Join(d.icd, "、")),
		suggestion: ev.cat("补充符合的诊断，或确认患者符合限定支付范围（restriction_attested），", selfPaySuggestion),
		fixes:      fixList(ev.attestFix(line), ev.selfPayFix(line)),
	})
}

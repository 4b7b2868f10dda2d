package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// DRUG_AGE and ITEM_AGE (第一批 限定年龄对象, 第八批-2 法定就业年龄): fire when
// the patient's age at check_time is outside the band.
var drugAgeRule = &ruleSpec{
	typ: knowledge.RuleDrugAge, payment: true, byName: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "药品限定年龄", check: checkAge, describe: describeAge,
}

var itemAgeRule = &ruleSpec{
	typ: knowledge.RuleItemAge, payment: true, action: rxguardv1.Action_ACTION_BLOCK,
	title: "项目限定年龄", check: checkAge, describe: describeAge,
}

// bandRule says in words what each band pays for.
var bandRule = map[knowledge.AgeBand]string{
	knowledge.AgeChild:      "儿童（未满18周岁）",
	knowledge.AgeInfant:     "婴幼儿（未满3周岁）",
	knowledge.AgeNewborn:    "新生儿（出生28天及以内）",
	knowledge.AgeWorkingAge: "法定就业年龄（16周岁至未满60周岁）",
}

func describeAge(r *knowledge.Restriction) string {
	if s, ok := bandRule[r.AgeBand]; ok {
		return "限" + s
	}
	return "年龄限定：" + r.Text
}

// inBand reports whether the age fits the band; known=false for a band this
// build cannot judge (kept as text by the importer).
func inBand(band knowledge.AgeBand, years, days int) (in, known bool) {
	switch band {
	case knowledge.AgeChild:
		return years < 18, true
	case knowledge.AgeInfant:
		return years < 3, true
	case knowledge.AgeNewborn:
		return days <= 28, true
	case knowledge.AgeWorkingAge:
		return years >= 16 && years < 60, true
	}
	return false, false
}

func checkAge(ev *evaluation, line int, b *bound) (violation, bool) {
	r := b.r
	if !ev.hasAge {
		return violation{}, false
	}
	in, known := inBand(r.AgeBand, ev.ageYears, ev.ageDays)
	if !known || in {
		return violation{}, false
	}
	age := ev.cat(ev.itoa(ev.ageYears), "岁")
	if ev.ageYears == 0 {
		age = ev.cat(ev.itoa(ev.ageDays), "天")
	}
	return violation{
		message:    ev.cat(r.Name, " 医保限", bandRule[r.AgeBand], "支付，患者年龄", age, "。"),
		evidence:   b.quoteWith(ev, "；限定对象：", string(r.AgeBand)),
		suggestion: ev.cat("核对患者出生日期或更换适用的", itemWord(r.Type), "，", selfPaySuggestion),
		fixes:      fixList(ev.selfPayFix(line)),
	}, true
}

package main

import (
	"context"
	"fmt"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
)

const (
	pluginName    = "antibiotic-tier"
	pluginVersion = "1.0.0"

	ruleType          = "ANTIBIOTIC_TIER"
	ruleIDRestricted  = "ABX-TIER-RESTRICTED" // 限制使用级 without 中级 (主治) title
	ruleIDSpecial     = "ABX-TIER-SPECIAL"    // 特殊使用级 without 高级 (副主任/主任) title
	regulationGrant   = "《抗菌药物临床应用管理办法》第二十四条：中级以上专业技术职务任职资格的医师可授予限制使用级抗菌药物处方权，高级专业技术职务任职资格的医师可授予特殊使用级抗菌药物处方权"
	regulationRescue  = "第二十八条：因抢救生命垂危的患者等紧急情况，医师可以越级使用抗菌药物，应当详细记录用药指征，并于24小时内补办越级使用抗菌药物的必要手续"
	titleTreatedAsLow = "未提供职称（按住院医师处理）"
)

// newPolicy is the antibiotic-tier plugin over a hospital table: a line
// whose drug is 限制使用级 needs a physician of title 主治医师 or above, one
// that is 特殊使用级 a 副主任医师 or above. Otherwise the line is blocked,
// or only warned about when the encounter is a rescue (急救/抢救: 越级使用 is
// allowed, and must be documented afterwards). Lines the table does not know,
// and 非限制使用级 lines, pass.
func newPolicy(t *table) sdk.Policy {
	desc := fmt.Sprintf("抗菌药物分级管理：限制使用级需主治医师及以上、特殊使用级需副主任医师及以上职称开具，"+
		"否则拦截；抢救（encounter.rescue）时越级使用改为提醒。分级目录：%s，%d 种药品。", t.source, t.size())
	return sdk.Simple(pluginName, pluginVersion, desc, []string{ruleIDRestricted, ruleIDSpecial},
		func(_ context.Context, req *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) {
			return evaluate(t, req.GetRequest()), nil
		})
}

// rank orders titles; an unspecified or unknown title ranks as 住院医师.
func rank(t rxguardv1.Title) rxguardv1.Title {
	if t < rxguardv1.Title_TITLE_RESIDENT || t > rxguardv1.Title_TITLE_CHIEF {
		return rxguardv1.Title_TITLE_RESIDENT
	}
	return t
}

func titleName(t rxguardv1.Title) string {
	switch t {
	case rxguardv1.Title_TITLE_RESIDENT:
		return "住院医师"
	case rxguardv1.Title_TITLE_ATTENDING:
		return "主治医师"
	case rxguardv1.Title_TITLE_ASSOCIATE_CHIEF:
		return "副主任医师"
	case rxguardv1.Title_TITLE_CHIEF:
		return "主任医师"
	}
	return titleTreatedAsLow
}

func evaluate(t *table, req *rxguardv1.CheckOrdersRequest) []*rxguardv1.Finding {
	title := req.GetPhysician().GetTitle()
	have := rank(title)
	rescue := req.GetEncounter().GetRescue()

	var out []*rxguardv1.Finding
	for _, l := range req.GetOrders() {
		e, byName, ok := t.lookup(l)
		if !ok {
			continue
		}
		var ruleID string
		var need rxguardv1.Title
		switch e.tier {
		case tierRestricted:
			ruleID, need = ruleIDRestricted, rxguardv1.Title_TITLE_ATTENDING
		case tierSpecial:
			ruleID, need = ruleIDSpecial, rxguardv1.Title_TITLE_ASSOCIATE_CHIEF
		default:
			continue
		}
		if have >= need {
			continue
		}
		out = append(out, finding(t, l, e, byName, ruleID, title, need, rescue))
	}
	return out
}

func finding(t *table, l *rxguardv1.OrderLine, e entry, byName bool, ruleID string, title, need rxguardv1.Title, rescue bool) *rxguardv1.Finding {
	drug := l.GetItemName()
	switch {
	case drug == "":
		drug = e.name
	case e.name != "" && drug != e.name:
		drug = fmt.Sprintf("%s（%s）", drug, e.name)
	}
	if drug == "" {
		drug = l.GetItemCode()
	}
	msg := fmt.Sprintf("%s为%s抗菌药物，需%s及以上职称医师开具；当前开方医师职称：%s。",
		drug, e.tier, titleName(need), titleName(title))

	matched := "按药品编码 " + e.code
	if byName {
		matched = fmt.Sprintf("按通用名“%s”（医嘱名称含该通用名，编码 %s 不在目录中）", e.name, l.GetItemCode())
	}
	evidence := fmt.Sprintf("医院抗菌药物分级目录 %s 第 %d 行：%s → %s。%s。", t.source, e.line, matched, e.tier, regulationGrant)

	action := rxguardv1.Action_ACTION_BLOCK
	var suggestion string
	switch {
	case rescue:
		action = rxguardv1.Action_ACTION_WARN
		msg = "抢救越级使用：" + msg
		evidence += regulationRescue + "。"
		suggestion = "抢救情况下可越级使用：请在病程记录中详细记录用药指征，并于24小时内补办越级使用抗菌药物审批手续（由" +
			titleName(need) + "及以上医师补签）。"
	case e.tier == tierSpecial:
		suggestion = "特殊使用级抗菌药物须经抗菌药物会诊（感染科、临床微生物、临床药学等专家）同意，由副主任医师及以上职称医师开具；或改用本人有处方权的药物。"
	default:
		suggestion = "请由主治医师及以上职称医师开具（或经上级医师/抗菌药物会诊同意后由其开具）；或改用非限制使用级抗菌药物。"
	}
	return sdk.Finding(ruleID, ruleType, action, []string{l.GetLineId()}, msg, evidence, suggestion)
}

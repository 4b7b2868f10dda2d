package engine

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// UNKNOWN_ITEM (贯标对码): the code is malformed, or no class of the active
// release (catalogue, any batch, demo tables) knows it. A code the release
// itself carries is known whatever its shape: the release is the bureau's
// word on which codes exist.
var unknownItemRule = &ruleSpec{
	typ: knowledge.RuleUnknownItem, payment: true, action: rxguardv1.Action_ACTION_WARN,
	title: "未知项目编码", checkLine: checkUnknownItem,
}

func checkUnknownItem(ev *evaluation, line int) []violation {
	o := ev.req.Orders[line]
	if ev.idx.knows(o.ItemCode, o.ItemName) {
		return nil
	}
	v := violation{ruleID: ev.cat("UNKNOWN_ITEM/", o.ItemCode)}
	if !WellFormedCodeFor(o.ItemCode, o.Kind) {
		v.message = ev.cat("项目编码 ", o.ItemCode, " 不符合国家医保编码格式（", codeFormat(o.Kind), "）。")
		v.evidence = ev.cat("国家医保信息业务编码规则：", codeFormat(o.Kind))
		v.suggestion = "请核对本院项目与国家医保编码的对照（贯标对码），使用正确的国家编码。"
	} else {
		v.message = ev.cat(o.ItemName, "（", o.ItemCode, "）不在当前医保知识库中，无法核对医保支付规则。")
		v.evidence = "知识库（目录、各批次规则、演示数据）均未收录该编码"
		v.suggestion = ev.cat("请核对贯标对码是否正确；如确为新增目录项目，请联系信息科更新知识库，", selfPaySuggestion)
		v.fixes = fixList(ev.selfPayFix(line))
	}
	return []violation{v}
}

func codeFormat(k rxguardv1.ItemKind) string {
	switch k {
	case rxguardv1.ItemKind_ITEM_SERVICE:
		return "医疗服务项目为15位数字"
	case rxguardv1.ItemKind_ITEM_CONSUMABLE:
		return "医用耗材为C开头20位编码"
	}
	return "药品为X/Z/T开头的20–23位字母数字"
}

// WellFormedCodeFor checks a code against the national format of its kind:
// drugs and herbs 20–23 characters starting X/Z/T; service items 15 digits;
// consumables C followed by 19 letters/digits. A code of another kind's
// format is accepted too (HIS kinds are not always exact).
func WellFormedCodeFor(code string, kind rxguardv1.ItemKind) bool {
	if WellFormedCode(code) {
		return true
	}
	if kind == rxguardv1.ItemKind_ITEM_CONSUMABLE && len(code) == 20 && code[0] == 'C' {
		for i := 1; i < len(code); i++ {
			c := code[i]
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
		return true
	}
	return false
}

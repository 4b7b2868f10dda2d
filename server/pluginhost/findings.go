package pluginhost

import (
	"fmt"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/fix"
)

// RuleTypeUnavailable is the rule_type (and rule_id) of the finding a
// plugin's failure policy adds when the plugin cannot answer.
const RuleTypeUnavailable = "PLUGIN_UNAVAILABLE"

// failTexts are one plugin's failure-finding texts, built once at Start so
// the hot path only allocates the finding itself.
type failTexts struct {
	action     rxguardv1.Action
	message    string
	suggestion string
	timeout    string // evidence: deadline passed
	err        string // evidence: the call failed
	canceled   string // evidence: the caller gave up first
}

func newFailTexts(name string, policy Policy, timeout time.Duration) failTexts {
	t := failTexts{
		timeout:  fmt.Sprintf("插件 %s 未在 %v 内应答（超时）", name, timeout),
		err:      fmt.Sprintf("插件 %s 调用出错", name),
		canceled: fmt.Sprintf("请求已取消，插件 %s 未完成检查", name),
	}
	if policy == FailClosed {
		t.action = rxguardv1.Action_ACTION_WARN
		t.message = fmt.Sprintf("本院本地政策插件“%s”不可用，本次未能检查本院本地政策，请按本院规定人工核对后再继续。", name)
		t.suggestion = "请按本院本地政策人工核对本医嘱；如持续出现，请联系信息科检查插件状态。"
	} else {
		t.action = rxguardv1.Action_ACTION_INFO
		t.message = fmt.Sprintf("本院本地政策插件“%s”暂不可用，本次未能检查本院本地政策，已跳过。", name)
		t.suggestion = "如需本地政策核对，请联系信息科检查插件状态。"
	}
	return t
}

// downEvidence is the evidence of a failure finding given while no process
// is running, by state.
func downEvidence(name string, s State) string {
	var why string
	switch s {
	case StateStarting:
		why = "启动中"
	case StateRestarting:
		why = "异常退出，正在重启"
	case StateNotStarted:
		why = "未启动：程序文件缺失或 SHA-256 校验未通过"
	case StateFailed:
		why = "已停用：与本机协议版本不兼容或程序文件校验未通过"
	case StateStopped:
		why = "已停止"
	default:
		why = string(s)
	}
	return fmt.Sprintf("插件 %s 未运行（%s）", name, why)
}

func (p *plug) failure(evidence string) []*rxguardv1.Finding {
	return []*rxguardv1.Finding{{
		RuleId:      RuleTypeUnavailable,
		RuleType:    RuleTypeUnavailable,
		Action:      p.fail.action,
		Message:     p.fail.message,
		Evidence:    evidence,
		Suggestion:  p.fail.suggestion,
		Overridable: true,
		Source:      p.source,
	}}
}

// Bounds on a plugin's structured suggestions (Finding.fixes). A plugin is
// the hospital's code, not ours: what it sends is checked before a HIS
// turns it into a button.
const (
	// MaxPluginFixes is the most fixes one plugin finding keeps; further
	// ones are dropped (a finding offers a few alternatives, not a list).
	MaxPluginFixes = 8
	// MaxFixLabelBytes bounds Fix.label (a button's text); a fix needs one.
	MaxFixLabelBytes = 256
	// MaxFixCodeBytes and MaxFixNameBytes bound CHANGE_ITEM's replacement,
	// as the request's own codes and names are bounded.
	MaxFixCodeBytes = 256
	MaxFixNameBytes = 1024
)

// keepValidFixes drops the fixes of a plugin finding that a HIS could not
// apply to req (fix.Validate: unknown kind, a line not in the request, a
// value that is no reduction, …), that have no label or oversized strings,
// and those beyond MaxPluginFixes. It filters in place: a finding without
// fixes, the common case, costs one length check. It returns the reason for
// the first fix dropped, "" when all were kept.
func keepValidFixes(req *rxguardv1.CheckOrdersRequest, f *rxguardv1.Finding) (dropped int, first string) {
	if len(f.Fixes) == 0 {
		return 0, ""
	}
	kept := f.Fixes[:0]
	for i, x := range f.Fixes {
		why := ""
		switch {
		case len(kept) == MaxPluginFixes:
			why = fmt.Sprintf("fixes[%d]: more than %d fixes", i, MaxPluginFixes)
		case x == nil:
			why = fmt.Sprintf("fixes[%d]: empty", i)
		case x.Label == "" || len(x.Label) > MaxFixLabelBytes:
			why = fmt.Sprintf("fixes[%d].label: %d bytes, want 1 to %d", i, len(x.Label), MaxFixLabelBytes)
		case len(x.ItemCode) > MaxFixCodeBytes || len(x.ItemName) > MaxFixNameBytes:
			why = fmt.Sprintf("fixes[%d]: item_code/item_name longer than %d/%d bytes", i, MaxFixCodeBytes, MaxFixNameBytes)
		default:
			if err := fix.Validate(req, x); err != nil {
				why = fmt.Sprintf("fixes[%d]: %v", i, err)
			}
		}
		if why != "" {
			if dropped == 0 {
				first = why
			}
			dropped++
			continue
		}
		kept = append(kept, x)
	}
	for i := len(kept); i < len(f.Fixes); i++ {
		f.Fixes[i] = nil // let the dropped ones go
	}
	f.Fixes = kept
	if len(kept) == 0 {
		f.Fixes = nil
	}
	return dropped, first
}

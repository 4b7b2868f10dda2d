package pluginhost

import (
	"fmt"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
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

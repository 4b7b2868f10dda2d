package validate

import (
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// ReasonCodes are the response reason codes (contract, INTEROP.md), shared
// by RecordResponse, national 3103 and CDS Hooks overrides, with their
// Chinese names.
var ReasonCodes = []struct{ Code, Name string }{
	{"CLINICAL_NEED", "病情需要"},
	{"MEETS_RESTRICTION", "符合限定支付范围"},
	{"EMERGENCY", "急诊抢救"},
	{"PATIENT_INFORMED", "患者知情同意"},
	{"DATA_ERROR", "知识库或规则有误"},
	{"OTHER", "其他"},
}

// IsReasonCode reports whether code is one of ReasonCodes.
func IsReasonCode(code string) bool {
	for _, r := range ReasonCodes {
		if r.Code == code {
			return true
		}
	}
	return false
}

func reasonCodeList() string {
	names := make([]string, len(ReasonCodes))
	for i, r := range ReasonCodes {
		names[i] = r.Code
	}
	return strings.Join(names, ", ")
}

// MaxReasonText bounds reason_text in characters, as national 3103 bounds
// dspo_way_rea.
const MaxReasonText = 500

// MaxResponses bounds responses[] of one RecordResponse: one per finding of
// a decision, and a decision has at most a few per order line.
const MaxResponses = 1000

var responses = enumTypeOf[rxguardv1.Response]()

// RecordResponse validates a RecordResponse request and returns the time
// the physician answered (responded_time, else now): decision_id and at
// least one response are required; each response names a finding of that
// decision (finding ids are "<decision_id>-<n>"), answers it once, and a
// continue carries a reason code from the contract list and a reason text of
// at most 500 characters. Whether the decision and its findings exist is
// the decision log's to say (NotFound), not validation's.
func RecordResponse(req *rxguardv1.RecordResponseRequest, lim Limits, now time.Time) (time.Time, error) {
	lim = lim.withDefaults()
	var r report
	if n := proto.Size(req); n > lim.MaxRequestBytes {
		r.tooLarge(n, lim.MaxRequestBytes)
		return time.Time{}, r.err("RecordResponseRequest")
	}
	zone := shanghai()
	top := path{}
	at := now.In(zone)
	id := req.GetDecisionId()
	r.text(top, "decision_id", "决策ID", id, true, lim.MaxStringLen)
	if s := req.GetRespondedTime(); s != "" && r.text(top, "responded_time", "反馈时间", s, false, lim.MaxStringLen) {
		if t, ok := r.rfc3339(top, "responded_time", "反馈时间", s, zone); ok &&
			r.timeWithin(top, "responded_time", "反馈时间", t, now.Add(MaxSignedSkew), "服务器当前时间后5分钟 (server time + 5 min)") {
			at = t
		}
	}
	rs := req.GetResponses()
	switch {
	case len(rs) == 0:
		r.addf("responses", "反馈明细不能为空 (responses must not be empty)")
	case len(rs) > MaxResponses:
		r.tooMany("responses", "反馈明细", len(rs), MaxResponses)
	default:
		for i, x := range rs {
			at := path{parent: "responses", i: i}
			fid := x.GetFindingId()
			if r.text(at, "finding_id", "提示ID", fid, true, lim.MaxStringLen) {
				if id != "" && !strings.HasPrefix(fid, id+"-") && !r.full() {
					r.addf(at.field("finding_id"), "提示ID不属于该决策%q (finding_id %q is not a finding of decision %q)", Clip(id), Clip(fid), Clip(id))
				}
				for j := range i {
					if rs[j].GetFindingId() == fid && !r.full() {
						r.addf(at.field("finding_id"), "提示ID重复: 已用于responses[%d] (duplicate finding_id, first used by responses[%d])", j, j)
						break
					}
				}
			}
			requiredEnum(&r, at, "response", "处理方式", x.GetResponse(), responses)
			code, text := x.GetReasonCode(), x.GetReasonText()
			continuing := x.GetResponse() == rxguardv1.Response_RESPONSE_CONTINUE
			if r.text(at, "reason_code", "理由代码", code, continuing, lim.MaxStringLen) && !IsReasonCode(code) && !r.full() {
				r.addf(at.field("reason_code"), "理由代码无效, 应为%s之一 (reason_code must be one of %s): got %q",
					reasonCodeList(), reasonCodeList(), Clip(code))
			}
			if r.text(at, "reason_text", "理由说明", text, continuing, 4*MaxReasonText) {
				if n := utf8.RuneCountInString(text); n > MaxReasonText && !r.full() {
					r.addf(at.field("reason_text"), "理由说明过长: %d字, 上限%d (reason_text too long: %d characters, limit %d)", n, MaxReasonText, n, MaxReasonText)
				} else if strings.TrimSpace(text) == "" && continuing && !r.full() {
					r.addf(at.field("reason_text"), "理由说明不能只含空白 (reason_text must not be only white space)")
				}
			}
		}
	}
	if r.failed() {
		return time.Time{}, r.err("RecordResponseRequest")
	}
	return at, nil
}

package validate

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// ParsedShared is a valid RecordSharedResults request with each result's
// time parsed.
type ParsedShared struct {
	Times []time.Time
}

// RecordSharedResults validates results from the regional sharing platform
// (检查检验结果互认): patient_id and 1..MaxHistory results are required; each
// result needs an item_code that is a well-formed 15-digit national service
// item once canonical (the platform shares examinations and tests, never
// drugs), a hospital_code (a shared result was done somewhere named), a
// report_id (what the physician is told to view), and a time in the bounds
// RecordSigned applies to a signed_time: not before 1900, not more than
// MaxSignedAge ago (the history would drop it unrecorded), not more than
// MaxSignedSkew ahead of the server's clock (a result exists once it is
// done). The same item and report twice in one request is refused: it is
// one result, and two times for it cannot both be right. Violations name
// the path, e.g. results[2].time.
func RecordSharedResults(req *rxguardv1.RecordSharedResultsRequest, lim Limits, now time.Time) (ParsedShared, error) {
	lim = lim.withDefaults()
	var r report
	if n := proto.Size(req); n > lim.MaxRequestBytes {
		r.tooLarge(n, lim.MaxRequestBytes)
		return ParsedShared{}, r.err("RecordSharedResultsRequest")
	}
	zone := shanghai()
	r.text(path{}, "patient_id", "患者ID", req.GetPatientId(), true, lim.MaxStringLen)
	results := req.GetResults()
	var p ParsedShared
	switch {
	case len(results) == 0:
		r.addf("results", "互认结果不能为空 (results must not be empty)")
	case len(results) > lim.MaxHistory:
		// They become history entries: bounded like the history[] one
		// check may carry.
		r.tooMany("results", "互认结果", len(results), lim.MaxHistory)
	default:
		p.Times = make([]time.Time, len(results))
		oldest, latest := now.Add(-MaxSignedAge), now.Add(MaxSignedSkew)
		type identity struct{ item, report string }
		seen := make(map[identity]int, len(results))
		for i, res := range results {
			at := path{parent: "results", i: i}
			item := res.GetItemCode()
			if r.code(at, "item_code", "项目编码", item, true, lim.MaxStringLen) {
				if c, _ := knowledge.CanonicalCode(item); !isServiceItemCode(c) && !r.full() {
					r.addf(at.field("item_code"), "项目编码须为15位数字的医疗服务项目编码 (item_code must be a 15-digit national service item code): got %q", Clip(item))
				}
			}
			r.text(at, "item_name", "项目名称", res.GetItemName(), false, lim.MaxNameLen)
			r.code(at, "hospital_code", "医疗机构编码", res.GetHospitalCode(), true, lim.MaxStringLen)
			report := res.GetReportId()
			if r.code(at, "report_id", "报告ID", report, true, lim.MaxStringLen) {
				c, _ := knowledge.CanonicalCode(item)
				id := identity{c, SharedReportID(report)}
				if first, ok := seen[id]; ok && !r.full() {
					r.addf(at.field("report_id"), "同一项目与报告ID重复: 已见于results[%d] (the same item_code and report_id as results[%d])", first, first)
				} else if !ok {
					seen[id] = i
				}
			}
			if s := res.GetTime(); r.text(at, "time", "检查时间", s, true, lim.MaxStringLen) {
				if t, ok := r.rfc3339(at, "time", "检查时间", s, zone); ok &&
					r.timeWithin(at, "time", "检查时间", t, latest, "服务器当前时间后5分钟 (server time + 5m)") &&
					r.notOlderThan(at, "time", "检查时间", t, oldest) {
					p.Times[i] = t
				}
			}
		}
	}
	if r.failed() {
		return ParsedShared{}, r.err("RecordSharedResultsRequest")
	}
	return p, nil
}

// SharedReportID is the form a report id is recorded and compared in:
// surrounding white space (a CSV cell's, a fixed-width column's) is
// dropped; letter case is kept, since a platform's ids may be
// case-sensitive.
func SharedReportID(s string) string { return strings.TrimSpace(s) }

// isServiceItemCode: the 15-digit national medical service item code.
func isServiceItemCode(s string) bool {
	if len(s) != 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

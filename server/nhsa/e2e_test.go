package nhsa_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/nhsa"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func results(reply map[string]any) []map[string]any {
	out, _ := reply["output"].(map[string]any)
	rs, _ := out["result"].([]any)
	var list []map[string]any
	for _, r := range rs {
		list = append(list, r.(map[string]any))
	}
	return list
}

// 3101 answers the same findings as CheckOrders for the same order: the
// payload converted by the adapter's own mapping (nhsa.Convert), sent
// over gRPC, gives the same rule_id, lines, action and message per
// finding as the national reply.
func TestSameFindingsAsCheckOrders(t *testing.T) {
	s := startSidecar(t, nhsaConfigDefault())
	for _, name := range []string{"3101-outpatient.json", "3101-inpatient-discharge.json", "3102-settlement.json"} {
		t.Run(name, func(t *testing.T) {
			body := readTestdata(t, name)
			reqs, _, err := nhsa.Convert(body, nhsaConfigDefault())
			if err != nil {
				t.Fatal(err)
			}
			code, reply := s.post(t, "/nhsa/"+name[:4], body)
			if code != 200 {
				t.Fatalf("status %d: %v", code, reply)
			}
			var want []string
			for _, req := range reqs {
				resp, err := s.guard.CheckOrders(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range resp.Findings {
					want = append(want, fmt.Sprintf("%s %s %s %v %s", req.Patient.Id, f.RuleId, nhsa.SevDeg(f.Action), f.LineIds, f.Message))
				}
			}
			var got []string
			for _, r := range results(reply) {
				var lines []string
				for _, d := range r["judge_result_detail_dtos"].([]any) {
					lines = append(lines, d.(map[string]any)["rx_id"].(string))
				}
				got = append(got, fmt.Sprintf("%s %s %s %v %s", r["patn_id"], r["rule_id"], r["sev_deg"], lines, r["vola_cont"]))
			}
			if len(want) == 0 {
				t.Fatal("the payload raises no finding: the comparison would prove nothing")
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("3101 and CheckOrders differ:\n3101:\n%s\nCheckOrders:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func feedback(warnType string, warns ...string) []byte {
	return []byte(`{"infno":"3103","msgid":"M3103","inf_time":"2026-11-22 10:05:00","fixmedins_code":"H37080000001",
	"input":{"data":{"warn_type":` + warnType + `,"warns":[` + strings.Join(warns, ",") + `]}}}`)
}

func warn(id, way, reason string) string {
	return fmt.Sprintf(`{"warn_rslt_id":%q,"dspo_way":%q,"dspo_way_rea":%q}`, id, way, reason)
}

// 3103: responses land in the decision log with the mapped reason codes;
// a refused 3103 (bad warn, unknown finding, continuing a BLOCK) records
// none of its warns; the same 3103 again records nothing new.
func Test3103RecordsResponses(t *testing.T) {
	s := startSidecar(t, nhsaConfigDefault())
	code, reply := s.post(t, "/nhsa/3101", readTestdata(t, "3101-outpatient.json"))
	if code != 200 {
		t.Fatalf("3101: %d %v", code, reply)
	}
	ids := decisions(reply)
	byRule := map[string]string{}
	for _, r := range results(reply) {
		byRule[r["rule_id"].(string)] = r["jr_id"].(string)
	}
	block := byRule["DRUG_GENDER/ZD03AAA0043010100166"]
	unregistered := byRule["PHYSICIAN_QUALIFICATION/UNREGISTERED"]
	notCovered := byRule["NOT_COVERED/XG04BED9012A001010199912"]
	if block == "" || unregistered == "" || notCovered == "" || len(ids) != 2 {
		t.Fatalf("3101 reply lacks the expected findings: %v", byRule)
	}
	responses := func(id string) []*rxguardv1.RecordedResponse {
		t.Helper()
		d, err := s.audit.GetDecision(context.Background(), &rxguardv1.GetDecisionRequest{DecisionId: id})
		if err != nil {
			t.Fatal(err)
		}
		return d.Decision.Responses
	}

	// Refused 3103s record nothing, though their first warns are fine.
	refused := []struct {
		name   string
		body   []byte
		status int
		path   string
	}{
		{"continue a BLOCK", feedback("1", warn(unregistered, "1", "病情需要"), warn(block, "1", "病情需要")), 409, "input.data.warns[1].dspo_way"},
		{"unknown finding", feedback("1", warn(unregistered, "1", "病情需要"), warn(ids[1]+"-99", "2", "")), 404, "input.data.warns[1].warn_rslt_id"},
		{"unknown decision", feedback("1", warn(unregistered, "2", ""), warn("019ad0c4-7e00-7000-8000-000000000001-1", "2", "")), 404, "input.data.warns[1].warn_rslt_id"},
		{"continue without reason", feedback("1", warn(unregistered, "1", "病情需要"), warn(notCovered, "1", " ")), 400, "input.data.warns[1].dspo_way_rea"},
		{"reason too long", feedback("1", warn(unregistered, "1", "病情需要"), warn(notCovered, "1", strings.Repeat("长", 501))), 400, "input.data.warns[1].dspo_way_rea"},
		{"duplicate warn", feedback("1", warn(unregistered, "1", "病情需要"), warn(unregistered, "2", "")), 400, "input.data.warns[1].warn_rslt_id"},
		{"bad dspo_way", feedback("1", warn(unregistered, "1", "病情需要"), warn(notCovered, "3", "")), 400, "input.data.warns[1].dspo_way"},
		{"not a jr_id", feedback("1", warn(unregistered, "1", "病情需要"), warn("JR-abc", "2", "")), 400, "input.data.warns[1].warn_rslt_id"},
		{"missing warn_rslt_id", feedback("1", warn(unregistered, "1", "病情需要"), `{"dspo_way":"2"}`), 400, "input.data.warns[1].warn_rslt_id"},
		{"bad warn_type", feedback("3", warn(unregistered, "2", "")), 400, "input.data.warn_type"},
		{"no warns", feedback("1"), 400, "input.data.warns"},
	}
	for _, c := range refused {
		code, r := s.post(t, "/nhsa/3103", c.body)
		msg, _ := r["err_msg"].(string)
		if code != c.status || r["infcode"] != float64(-1) || !strings.HasPrefix(msg, c.path+": ") {
			t.Errorf("%s: %d %v, want %d with err_msg on %s", c.name, code, r, c.status, c.path)
		}
	}
	for _, id := range ids {
		if rs := responses(id); len(rs) != 0 {
			t.Fatalf("a refused 3103 recorded %v", rs)
		}
	}

	// Accepted: answers across both decisions, reason codes mapped.
	ok := feedback("1",
		warn(block, "2", ""),
		warn(unregistered, "1", "DATA_ERROR: 医师已备案，库未更新"),
		warn(notCovered, "1", "患者知情同意，自愿承担"),
	)
	for i, want := range []float64{3, 0} {
		code, r := s.post(t, "/nhsa/3103", ok)
		out, _ := r["output"].(map[string]any)
		if code != 200 || r["infcode"] != float64(0) || r["err_msg"] != "" || out["recorded"] != want {
			t.Fatalf("3103 #%d: %d %v, want recorded %v", i+1, code, r, want)
		}
	}
	got := map[string]string{}
	for _, id := range ids {
		for _, r := range responses(id) {
			got[r.FindingId] = fmt.Sprintf("%v %s %s", r.Response, r.ReasonCode, r.ReasonText)
		}
	}
	want := map[string]string{
		block:        "RESPONSE_MODIFY  ",
		unregistered: "RESPONSE_CONTINUE DATA_ERROR DATA_ERROR: 医师已备案，库未更新",
		notCovered:   "RESPONSE_CONTINUE PATIENT_INFORMED 患者知情同意，自愿承担",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: recorded %q, want %q", id, got[id], w)
		}
	}
}

func TestReasonCode(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"CLINICAL_NEED", "CLINICAL_NEED"},
		{"clinical_need: 病情危重", "CLINICAL_NEED"},
		{"EMERGENCY 抢救", "EMERGENCY"},
		{"病情需要，继续使用", "CLINICAL_NEED"},
		{"符合限定支付范围(已核实)", "MEETS_RESTRICTION"},
		{"急诊抢救", "EMERGENCY"},
		{"知识库或规则有误", "DATA_ERROR"},
		{"其他：家属要求", "OTHER"},
		{"OTHERWISE fine", "OTHER"},
		{"EMERGENCYROOM", "OTHER"},
		{"医生认为需要", "OTHER"},
		{"", "OTHER"},
	} {
		if got := nhsa.ReasonCode(c.text); got != c.want {
			t.Errorf("ReasonCode(%q) = %s, want %s", c.text, got, c.want)
		}
	}
}

// Bad requests get a clean 4xx with infcode -1 and a reason naming the
// path, and the sidecar answers the next request.
func TestBadRequests(t *testing.T) {
	s := startSidecar(t, nhsa.Config{MaxBodyBytes: 64 << 10})
	good := string(readTestdata(t, "3101-outpatient.json"))
	edit := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("payload has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	const p0 = "input.data.patient_dtos[0]"
	const e0 = p0 + ".fsi_encounter_dtos[0]"
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		errMsg string // prefix
	}{
		{"malformed JSON", "POST", "/nhsa/3101", `{"infno": "3101", "input": {`, 400, "body: "},
		{"not an object", "POST", "/nhsa/3101", `[1,2]`, 400, "body: "},
		{"empty body", "POST", "/nhsa/3101", ``, 400, "body: "},
		{"trailing data", "POST", "/nhsa/3101", good + `{}`, 400, "body: "},
		{"not UTF-8", "POST", "/nhsa/3101", "{\"infno\":\"3101\",\"x\":\"\xb2\xe2\"}", 400, "body: "},
		{"missing infno", "POST", "/nhsa/3101", edit(`"infno": "3101",`, ``), 400, "infno: "},
		{"infno not the path", "POST", "/nhsa/3102", good, 400, "infno: "},
		{"missing input.data", "POST", "/nhsa/3101", `{"infno":"3101","input":{}}`, 400, "input.data: "},
		{"input not an object", "POST", "/nhsa/3101", `{"infno":"3101","input":"x"}`, 400, "input: "},
		{"missing syscode", "POST", "/nhsa/3101", edit(`"syscode": "HIS",`, ``), 400, "input.data.syscode: "},
		{"missing task_id", "POST", "/nhsa/3101", edit(`"task_id": "T20261122-0001",`, ``), 400, "input.data.task_id: "},
		{"empty patient_dtos", "POST", "/nhsa/3101", `{"infno":"3101","input":{"data":{"syscode":"HIS","task_id":"T","patient_dtos":[]}}}`, 400, "input.data.patient_dtos: "},
		{"patient_dtos wrong type", "POST", "/nhsa/3101", `{"infno":"3101","input":{"data":{"syscode":"HIS","task_id":"T","patient_dtos":"P1"}}}`, 400, "input.data.patient_dtos: "},
		{"patient element wrong type", "POST", "/nhsa/3101", `{"infno":"3101","input":{"data":{"syscode":"HIS","task_id":"T","patient_dtos":[7]}}}`, 400, "input.data.patient_dtos[0]: "},
		{"cnt not a number", "POST", "/nhsa/3101", edit(`"cnt": "2"`, `"cnt": "two"`), 400, e0 + ".fsi_order_dtos[0].cnt: "},
		{"cnt an object", "POST", "/nhsa/3101", edit(`"cnt": "2"`, `"cnt": {}`), 400, e0 + ".fsi_order_dtos[0].cnt: "},
		{"code an array", "POST", "/nhsa/3101", edit(`"hilist_code": "ZD03AAA0043010100166"`, `"hilist_code": ["x"]`), 400, e0 + ".fsi_order_dtos[0].hilist_code: "},
		{"missing brdy (validation)", "POST", "/nhsa/3101", edit(`"brdy": "1978-03-14",`, ``), 400, p0 + ".brdy: "},
		{"bad brdy (validation)", "POST", "/nhsa/3101", edit(`"brdy": "1978-03-14"`, `"brdy": "14/03/1978"`), 400, p0 + ".brdy: "},
		{"missing rx_id (validation)", "POST", "/nhsa/3101", edit(`"rx_id": "RX1", "rxno"`, `"rxno"`), 400, e0 + ".fsi_order_dtos[0].rx_id: "},
		{"negative cnt (validation)", "POST", "/nhsa/3101", edit(`"cnt": "2"`, `"cnt": "-2"`), 400, e0 + ".fsi_order_dtos[0].cnt: "},
		{"missing insutype", "POST", "/nhsa/3101", edit(`"insutype": 310,`, ``), 400, e0 + ".insutype: "},
		{"unknown insutype", "POST", "/nhsa/3101", edit(`"insutype": 310,`, `"insutype": 999,`), 400, e0 + ".insutype: "},
		{"curr_mdtrt_id unknown", "POST", "/nhsa/3101", edit(`"curr_mdtrt_id": "MD20261122001"`, `"curr_mdtrt_id": "NOPE"`), 400, p0 + ".curr_mdtrt_id: "},
		{"trig_scen of 3102 on 3101", "POST", "/nhsa/3101", edit(`"trig_scen": 2`, `"trig_scen": 8`), 400, "input.data.trig_scen: "},
		{"trig_scen out of range", "POST", "/nhsa/3101", edit(`"trig_scen": 2`, `"trig_scen": "x"`), 400, "input.data.trig_scen: "},
		{"bad inf_time", "POST", "/nhsa/3101", edit(`"inf_time": "2026-11-22 10:00:00"`, `"inf_time": "yesterday"`), 400, "inf_time: "},
		{"inf_time in the future (validation)", "POST", "/nhsa/3101", edit(`"inf_time": "2026-11-22 10:00:00"`, `"inf_time": "2099-01-01 00:00:00"`), 400, "inf_time: "},
		{"oversized", "POST", "/nhsa/3101", `{"infno":"3101","pad":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body: "},
		{"wrong method", "GET", "/nhsa/3101", ``, 405, "method: "},
		{"wrong method 3103", "PUT", "/nhsa/3103", `{}`, 405, "method: "},
		{"unknown endpoint", "POST", "/nhsa/3104", `{}`, 404, "path: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, s.base+c.path, bytes.NewReader([]byte(c.body)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if resp.StatusCode != c.status || !strings.Contains(body, `"infcode":-1`) || !strings.Contains(body, `"err_msg":"`+c.errMsg) {
				t.Errorf("%d %s\nwant %d with err_msg starting %q", resp.StatusCode, clipBody(body), c.status, c.errMsg)
			}
			if c.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
			// Still serving.
			if code, r := s.post(t, "/nhsa/3101", []byte(good)); code != 200 || r["infcode"] != float64(0) {
				t.Fatalf("after %s the sidecar answers %d %v", c.name, code, r)
			}
		})
	}

	// /metrics counts them by endpoint and outcome.
	resp, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`rxguard_nhsa_requests_total{endpoint="3101",outcome="too_large"} 1`,
		`rxguard_nhsa_requests_total{endpoint="3101",outcome="method_not_allowed"} 1`,
		`rxguard_nhsa_requests_total{endpoint="3101",outcome="ok"} ` + fmt.Sprint(len(cases)),
		`rxguard_nhsa_handler_panics_total 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func clipBody(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// A disabled section serves nothing under /nhsa.

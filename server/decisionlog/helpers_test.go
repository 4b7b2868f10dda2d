package decisionlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTest opens a log in a new temporary directory (or o.Dir) and closes
// it at cleanup.
func openTest(t testing.TB, o Options) *Log {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	if o.SidecarID == "" {
		o.SidecarID = "test-sidecar"
	}
	l, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func flush(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// idAt makes a decision id for t without NewID's process-wide monotonic
// state (which would not go back in time for test data): t's millisecond
// and seq in the random bits.
func idAt(t time.Time, seq uint64) string {
	var u id
	putMillis(&u, uint64(t.UnixMilli()))
	binary.BigEndian.PutUint64(u[8:], seq)
	u[6] = 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// spec describes one test decision.
type spec struct {
	at            time.Time
	seq           uint64
	physician     string
	physicianName string
	physDept      string // physician.department_code
	encDept       string // encounter.department_code
	patient       string
	verdict       rxguardv1.Verdict
	findings      []fspec
	lines         int // order lines (default 10)
}

type fspec struct {
	ruleType    string
	action      rxguardv1.Action
	overridable bool
	lines       []int // indexes of order lines
}

// itemCodes are realistic national codes: drugs (20+ chars) and service
// items (15 digits).
var itemCodes = []struct{ code, name string }{
	{"ZD03AAA0043010100166", "艾附暖宫丸"},
	{"XJ01DDA044A001010101990", "头孢曲松钠注射液"},
	{"XA02BCA211E001010104443", "奥美拉唑肠溶胶囊"},
	{"XC09AAA062A001010100486", "卡托普利片"},
	{"XN02BEA038A001010201589", "对乙酰氨基酚片"},
	{"001103000010000", "普通门诊诊查费"},
	{"002502010010000", "血常规"},
	{"003107020010000", "胸部X线摄影"},
	{"ZA04AAA0251010101238", "六味地黄丸"},
	{"XB01ACA056A001010100215", "阿司匹林肠溶片"},
	{"250101015000000", "尿常规"},
	{"120400001000000", "静脉输液"},
}

var ruleMessages = map[string]string{
	"DRUG_GENDER":      "该药品限定女性使用，患者性别为男性（第一批 限定性别对象）",
	"PAYMENT_COURSE":   "本次就诊累计用药天数超过限定支付疗程，超出部分医保不予支付",
	"ITEM_FREQUENCY":   "同一日内该项目数量超过每日限定频次",
	"DUPLICATE_CHARGE": "从项与主项在同一次就诊内重复收费（第七批 重复收费）",
	"NOT_COVERED":      "该药品在医保目录中无甲乙类别，参保患者使用需自费",
	"UNKNOWN_ITEM":     "项目编码不在当前知识库的任何类别中，请核对贯标编码",
}

// entry builds the Entry of s: a request as the HIS sends it and the
// response as the check service answers.
func entry(s spec) Entry {
	id := idAt(s.at, s.seq)
	n := s.lines
	if n == 0 {
		n = 10
	}
	req := &rxguardv1.CheckOrdersRequest{
		RequestId: "req-" + strconv.FormatUint(s.seq, 10),
		Scene:     rxguardv1.Scene_SCENE_OUTPATIENT,
		Hospital:  &rxguardv1.Hospital{Code: "H370800001", Level: 3},
		Patient: &rxguardv1.Patient{Id: s.patient, Gender: rxguardv1.Gender_GENDER_MALE, BirthDate: "1978-03-14",
			InsuranceType: rxguardv1.InsuranceType_INSURANCE_EMPLOYEE, Maternity: rxguardv1.Maternity_MATERNITY_NONE},
		Encounter: &rxguardv1.Encounter{Id: "E" + strconv.FormatUint(s.seq%100000, 10), Type: rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT,
			DepartmentCode: s.encDept, AdmitDate: s.at.Format("2006-01-02")},
		Physician: &rxguardv1.Physician{Code: s.physician, Name: s.physicianName, Title: rxguardv1.Title_TITLE_ATTENDING, DepartmentCode: s.physDept},
		Diagnoses: []*rxguardv1.Diagnosis{{Code: "J18.900", Name: "肺炎", Primary: true}, {Code: "I10.x00", Name: "高血压"}},
		CheckTime: s.at.Format(time.RFC3339),
	}
	for i := range n {
		it := itemCodes[(int(s.seq)+i)%len(itemCodes)]
		req.Orders = append(req.Orders, &rxguardv1.OrderLine{
			LineId: strconv.Itoa(i + 1), ItemCode: it.code, ItemName: it.name, Kind: rxguardv1.ItemKind_ITEM_DRUG,
			Quantity: float64(1 + i%3), Unit: "盒", Days: 7, TimesPerDay: 2, UnitPrice: 18.5 + float64(i),
			StartTime: s.at.Format(time.RFC3339),
		})
	}
	resp := &rxguardv1.CheckOrdersResponse{
		RequestId: req.RequestId, DecisionId: id, Verdict: s.verdict,
		PhysicianStatus:  &rxguardv1.PhysicianStatus{State: rxguardv1.QualificationState_QUALIFICATION_NORMAL, Points: 2},
		KnowledgeVersion: "2026.11", EvalMicros: 42,
	}
	for i, f := range s.findings {
		var lines []string
		for _, li := range f.lines {
			lines = append(lines, strconv.Itoa(li+1))
		}
		msg := ruleMessages[f.ruleType]
		if msg == "" {
			msg = "规则提示 " + f.ruleType
		}
		resp.Findings = append(resp.Findings, &rxguardv1.Finding{
			FindingId: id + "-" + strconv.Itoa(i+1), RuleId: f.ruleType + "/" + strconv.Itoa(i), RuleType: f.ruleType,
			Action: f.action, LineIds: lines, Message: msg,
			Evidence:    "第一批 限定性别对象: 国家医保局 2026.11 发布; release 2026.11",
			Suggestion:  "更换药品，或在患者知情同意后标记自费",
			Overridable: f.overridable, Source: "builtin",
		})
	}
	return Entry{ID: id, Time: s.at, Request: req, Response: resp}
}

// realistic is the benchmark's decision: 10 lines and 5 findings.
func realistic(at time.Time, seq uint64, physicians, depts, patients int) Entry {
	ruleTypes := []string{"DRUG_GENDER", "PAYMENT_COURSE", "ITEM_FREQUENCY", "DUPLICATE_CHARGE", "NOT_COVERED", "UNKNOWN_ITEM"}
	var fs []fspec
	for i := range 5 {
		act := rxguardv1.Action_ACTION_WARN
		if (int(seq)+i)%4 == 0 {
			act = rxguardv1.Action_ACTION_BLOCK
		}
		fs = append(fs, fspec{ruleType: ruleTypes[(int(seq)+i)%len(ruleTypes)], action: act, overridable: act != rxguardv1.Action_ACTION_BLOCK, lines: []int{i * 2}})
	}
	v := rxguardv1.Verdict_VERDICT_WARN
	for _, f := range fs {
		if f.action == rxguardv1.Action_ACTION_BLOCK {
			v = rxguardv1.Verdict_VERDICT_BLOCK
		}
	}
	p := int(seq*7919) % physicians
	return entry(spec{
		at: at, seq: seq,
		physician: fmt.Sprintf("D3708%08d", p), physicianName: "医师" + strconv.Itoa(p),
		physDept: fmt.Sprintf("A%02d", p%depts), encDept: fmt.Sprintf("A%02d", p%depts),
		patient: fmt.Sprintf("P%07d", int(seq*104729)%patients), verdict: v, findings: fs,
	})
}

package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
)

// clinicalRequest is an adult male outpatient with the given diagnoses and
// demo-table drug lines (code, name).
func clinicalRequest(diagnoses []string, lines ...[2]string) *rxguardv1.CheckOrdersRequest {
	req := &rxguardv1.CheckOrdersRequest{
		RequestId: "clinical",
		Scene:     rxguardv1.Scene_SCENE_OUTPATIENT,
		Hospital:  &rxguardv1.Hospital{Code: "H1", Level: 3},
		Patient: &rxguardv1.Patient{Id: "P-clinical", Gender: rxguardv1.Gender_GENDER_MALE, BirthDate: "1970-01-01",
			InsuranceType: rxguardv1.InsuranceType_INSURANCE_EMPLOYEE},
		Encounter: &rxguardv1.Encounter{Id: "E-clinical", Type: rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT},
		Physician: &rxguardv1.Physician{Code: "D370800000001"},
		CheckTime: "2026-11-22T10:00:00+08:00",
	}
	for _, d := range diagnoses {
		req.Diagnoses = append(req.Diagnoses, &rxguardv1.Diagnosis{Code: d})
	}
	for i, l := range lines {
		req.Orders = append(req.Orders, &rxguardv1.OrderLine{LineId: string(rune('1' + i)), ItemCode: l[0], ItemName: l[1],
			Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, Days: 5})
	}
	return req
}

var (
	simvastatin  = [2]string{"XC10AAD9004A001010199904", "辛伐他汀"}
	clarithro    = [2]string{"XJ01FAD9005A001010199905", "克拉霉素"}
	sildenafil   = [2]string{"XG04BED9012A001010199912", "西地那非"}
	moxifloxacin = [2]string{"XJ01MAD9026B002010199926", "莫西沙星"}
)

func byType(resp *rxguardv1.CheckOrdersResponse) map[string]*rxguardv1.Finding {
	m := map[string]*rxguardv1.Finding{}
	for _, f := range resp.Findings {
		m[f.RuleType] = f
	}
	return m
}

func TestE2EClinicalRules(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	check := func(req *rxguardv1.CheckOrdersRequest) *rxguardv1.CheckOrdersResponse {
		t.Helper()
		resp, err := ts.client.CheckOrders(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// 辛伐他汀 + 克拉霉素: 禁忌 → BLOCK naming both lines, and nothing else.
	resp := check(clinicalRequest([]string{"E78.500", "J18.900"}, simvastatin, clarithro))
	f := byType(resp)["DRUG_INTERACTION"]
	if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || f == nil || f.Action != rxguardv1.Action_ACTION_BLOCK ||
		strings.Join(f.LineIds, ",") != "2,1" || len(resp.Findings) != 1 {
		t.Errorf("辛伐他汀+克拉霉素: %v %v", resp.Verdict, resp.Findings)
	}

	// 西地那非 insured → WARN NOT_COVERED; self-pay → PASS.
	resp = check(clinicalRequest(nil, sildenafil))
	if f := byType(resp)["NOT_COVERED"]; resp.Verdict != rxguardv1.Verdict_VERDICT_WARN || f == nil || len(resp.Findings) != 1 {
		t.Errorf("西地那非: %v %v", resp.Verdict, resp.Findings)
	}
	req := clinicalRequest(nil, sildenafil)
	req.Orders[0].SelfPay = true
	if resp = check(req); resp.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Errorf("西地那非 self-pay: %v %v", resp.Verdict, resp.Findings)
	}

	// 莫西沙星: J18.900 → no DRUG_INDICATION; I10 only → WARN quoting the
	// restriction; attested → no finding.
	if resp = check(clinicalRequest([]string{"J18.900"}, moxifloxacin)); byType(resp)["DRUG_INDICATION"] != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Errorf("莫西沙星 J18.900: %v", resp.Findings)
	}
	resp = check(clinicalRequest([]string{"I10.x00"}, moxifloxacin))
	if f := byType(resp)["DRUG_INDICATION"]; f == nil || f.Action != rxguardv1.Action_ACTION_WARN || !strings.Contains(f.Message, "限有明确药敏试验证据") {
		t.Errorf("莫西沙星 I10: %v", resp.Findings)
	}
	req = clinicalRequest([]string{"I10.x00"}, moxifloxacin)
	req.Orders[0].RestrictionAttested = true
	if resp = check(req); len(resp.Findings) != 0 {
		t.Errorf("莫西沙星 attested: %v", resp.Findings)
	}
}

// Orders signed via RecordSigned are history for later checks: the HIS does
// not resend them in history[].
func TestE2ERecordSignedFeedsHistory(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	base := exampleRequest(t, "male-aifu-nuangong.json")
	base.Patient.Id = "P-history"
	base.Encounter.Type = rxguardv1.EncounterType_ENCOUNTER_INPATIENT
	base.Scene = rxguardv1.Scene_SCENE_INPATIENT
	// Yesterday, not a fixed date: RecordSigned refuses what is older than
	// the retention, measured from the real clock.
	y, m, d := time.Now().In(engine.Shanghai).AddDate(0, 0, -1).Date()
	at := func(hour int) string { return time.Date(y, m, d, hour, 0, 0, 0, engine.Shanghai).Format(time.RFC3339) }
	base.CheckTime = at(10)
	service := func(id, code string) *rxguardv1.OrderLine {
		return &rxguardv1.OrderLine{LineId: id, ItemCode: code, Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1}
	}

	// 08:00 the 急诊监护费 (主项) and the day's 床位费 are signed.
	rec, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
		PatientId: "P-history", EncounterId: base.Encounter.Id, SignedTime: at(8),
		Orders: []*rxguardv1.OrderLine{service("S1", "001103000010000"), service("S2", "001109000010000")},
	})
	if err != nil || rec.Recorded != 2 {
		t.Fatalf("RecordSigned: %v %v", rec, err)
	}
	// Recording the same lines again stores nothing new.
	if rec, err := ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{
		PatientId: "P-history", EncounterId: base.Encounter.Id, SignedTime: at(8),
		Orders: []*rxguardv1.OrderLine{service("S1", "001103000010000")},
	}); err != nil || rec.Recorded != 0 {
		t.Errorf("re-record: %v %v", rec, err)
	}

	// 10:00 the 急诊诊查费 (从项 of 急诊监护费, 单日) and another 床位费: both
	// duplicate what was signed, with no history[] in the request.
	req := base
	req.History = nil
	req.Orders = []*rxguardv1.OrderLine{service("N1", "001102000030000"), service("N2", "001109000010000")}
	resp, err := ts.client.CheckOrders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// 床位费 is a 从项 of 急诊监护费 too: three findings in all.
	got := map[string]bool{}
	for _, f := range resp.Findings {
		got[f.RuleType+"@"+strings.Join(f.LineIds, ",")] = true
	}
	for _, want := range []string{"DUPLICATE_CHARGE@N1", "DUPLICATE_CHARGE@N2", "ITEM_FREQUENCY@N2"} {
		if !got[want] {
			t.Errorf("missing %s from recorded history: %v", want, got)
		}
	}
	if len(resp.Findings) != 3 {
		t.Errorf("%d findings, want 3: %v", len(resp.Findings), got)
	}

	// Re-checking the signed lines themselves is not a duplicate of itself.
	req.Orders = []*rxguardv1.OrderLine{service("S2", "001109000010000")}
	if resp, err = ts.client.CheckOrders(ctx, req); err != nil || byType(resp)["ITEM_FREQUENCY"] != nil {
		t.Errorf("re-check of the signed line: %v %v", resp.GetFindings(), err)
	}
	// Another patient sees none of it.
	req.Patient.Id = "P-other"
	req.Orders = []*rxguardv1.OrderLine{service("N1", "001102000030000")}
	if resp, err = ts.client.CheckOrders(ctx, req); err != nil || len(resp.Findings) != 0 {
		t.Errorf("other patient: %v %v", resp.GetFindings(), err)
	}

	// Bad input is refused with the field named.
	_, err = ts.client.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{Orders: []*rxguardv1.OrderLine{service("1", "x")}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("RecordSigned without patient: %v", err)
	}
}

// ExplainItem answers "why?" for a drug: its class, restriction with the
// ICD-10 prefixes, and its interaction partners, each with a source.
func TestE2EExplainDrug(t *testing.T) {
	ts := startServer(t, engine.Config{})
	resp, err := ts.client.ExplainItem(context.Background(), &rxguardv1.ExplainItemRequest{ItemCode: simvastatin[0]})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*rxguardv1.KnowledgeEntry{}
	for _, e := range resp.Entries {
		got[e.RuleType] = e
		if e.Source == "" {
			t.Errorf("entry without source: %v", e)
		}
	}
	if resp.ItemName != "辛伐他汀" || got["DRUG_INTERACTION"] == nil || !strings.Contains(got["DRUG_INTERACTION"].Summary, "克拉霉素") ||
		got["NOT_COVERED"] == nil || got["UNKNOWN_ITEM"] != nil {
		t.Errorf("辛伐他汀: %v", resp)
	}
	resp, err = ts.client.ExplainItem(context.Background(), &rxguardv1.ExplainItemRequest{ItemCode: moxifloxacin[0]})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range resp.Entries {
		if e.RuleType == "DRUG_INDICATION" && strings.Contains(e.Summary, "J18") && strings.Contains(e.Text, "药敏") {
			found = true
		}
	}
	if !found {
		t.Errorf("莫西沙星 indication entry missing: %v", resp.Entries)
	}
}

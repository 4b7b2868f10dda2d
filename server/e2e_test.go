package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// The README's grpcurl example: a male patient prescribed 艾附暖宫丸.
func TestE2EReadmeExampleBlocksDrugGender(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	req := exampleRequest(t, "male-aifu-nuangong.json")
	resp, err := ts.client.CheckOrders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
		t.Fatalf("verdict %v, want BLOCK", resp.Verdict)
	}
	if len(resp.Findings) != 1 || resp.Findings[0].RuleType != "DRUG_GENDER" || resp.Findings[0].LineIds[0] != "1" {
		t.Fatalf("findings %v", resp.Findings)
	}
	f := resp.Findings[0]
	for _, want := range []string{"艾附暖宫丸", "第一批", "女"} {
		if !strings.Contains(f.Message+f.Evidence, want) {
			t.Errorf("finding does not mention %q: %s / %s", want, f.Message, f.Evidence)
		}
	}
	if !strings.Contains(f.Suggestion, "自费") {
		t.Errorf("payment BLOCK must offer self-pay: %s", f.Suggestion)
	}
	if resp.RequestId != req.RequestId || resp.DecisionId == "" || f.FindingId == "" || !strings.HasPrefix(resp.KnowledgeVersion, "demo-") {
		t.Errorf("ids/version: %q %q %q %q", resp.RequestId, resp.DecisionId, f.FindingId, resp.KnowledgeVersion)
	}

	// Every product code of the drug on Sheet2 is bound, not just one.
	for _, code := range []string{"ZD03AAA0043010100220", "ZD03AAA0043010100716", "ZD03AAA0043010100960"} {
		r2 := proto.Clone(req).(*rxguardv1.CheckOrdersRequest)
		r2.Orders[0].ItemCode = code
		resp, err := ts.client.CheckOrders(ctx, r2)
		if err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
			t.Errorf("code %s: %v %v", code, resp.GetVerdict(), err)
		}
	}

	// The same order for a woman passes; marked self-pay it passes too.
	req.Patient.Gender = rxguardv1.Gender_GENDER_FEMALE
	if resp, err := ts.client.CheckOrders(ctx, req); err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Errorf("female: %v %v", resp.GetVerdict(), err)
	}
	req.Patient.Gender = rxguardv1.Gender_GENDER_MALE
	req.Orders[0].SelfPay = true
	if resp, err := ts.client.CheckOrders(ctx, req); err != nil || resp.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Errorf("self-pay: %v %v", resp.GetVerdict(), err)
	}
}

// One order hitting several official batches at once.
func TestE2EMixedBatches(t *testing.T) {
	ts := startServer(t, engine.Config{})
	req := exampleRequest(t, "male-aifu-nuangong.json")
	req.Hospital.Level = 1
	req.History = []*rxguardv1.HistoryOrder{
		{ItemCode: "002503020030000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, Time: "2026-11-15T09:00:00+08:00", EncounterId: "E0"},
	}
	req.Orders = []*rxguardv1.OrderLine{
		{LineId: "L1", ItemCode: "XB05BAU012B002010102180", Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, Days: 1}, // 第四批 住院 only
		{LineId: "L2", ItemCode: "ZC01AAA0042010105549", Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, Days: 1},    // 第五批 二级
		{LineId: "L3", ItemCode: "001103000010000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1},               // 急诊监护费 (主项)
		{LineId: "L4", ItemCode: "001102000030000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1},               // 急诊诊查费 (从项, 单日)
		{LineId: "L5", ItemCode: "002503020030000", Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1},               // 糖化血红蛋白 1 per 15 days
	}
	resp, err := ts.client.CheckOrders(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	var order []rxguardv1.Action
	for _, f := range resp.Findings {
		got[f.RuleType] = f.LineIds
		order = append(order, f.Action)
		// The catalogue limits 艾迪注射液 (and the nutrition emulsion) to
		// conditions in words only: at most an INFO quoting the text.
		if f.RuleType == "DRUG_INDICATION" {
			if f.Action != rxguardv1.Action_ACTION_INFO || !strings.Contains(f.Message, "限定支付范围") {
				t.Errorf("text-only restriction must be an INFO quoting it: %v", f)
			}
			delete(got, f.RuleType)
		}
	}
	want := map[string][]string{
		"ENCOUNTER_TYPE": {"L1"}, "HOSPITAL_LEVEL": {"L2"}, "DUPLICATE_CHARGE": {"L4", "L3"}, "ITEM_PERIOD_FREQUENCY": {"L5"},
		"REPEAT_EXAM": {"L5"}, // 糖化血红蛋白 is on the demo recognition list (30 days)
	}
	for typ, lines := range want {
		if strings.Join(got[typ], ",") != strings.Join(lines, ",") {
			t.Errorf("%s lines = %v, want %v (all: %v)", typ, got[typ], lines, got)
		}
	}
	if len(got) != len(want) || resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
		t.Errorf("verdict %v, %d findings: %v", resp.Verdict, len(resp.Findings), got)
	}
	for i := 1; i < len(order); i++ {
		if order[i] > order[i-1] {
			t.Errorf("findings not ranked BLOCK first: %v", order)
		}
	}
}

func TestE2EBadInput(t *testing.T) {
	ts := startServer(t, engine.Config{})
	base := exampleRequest(t, "male-aifu-nuangong.json")
	cases := []struct {
		name   string
		mutate func(r *rxguardv1.CheckOrdersRequest)
		field  string
		code   codes.Code
	}{
		{"missing patient", func(r *rxguardv1.CheckOrdersRequest) { r.Patient = nil }, "patient", codes.InvalidArgument},
		{"no orders", func(r *rxguardv1.CheckOrdersRequest) { r.Orders = nil }, "orders", codes.InvalidArgument},
		{"bad birth date", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.BirthDate = "1978/03/14" }, "patient.birth_date", codes.InvalidArgument},
		{"unknown enum", func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = 42 }, "patient.gender", codes.InvalidArgument},
		{"duplicate line id", func(r *rxguardv1.CheckOrdersRequest) {
			r.Orders = append(r.Orders, proto.Clone(r.Orders[0]).(*rxguardv1.OrderLine))
		}, "orders[1].line_id", codes.InvalidArgument},
		{"201 lines", func(r *rxguardv1.CheckOrdersRequest) {
			for i := 0; i < 200; i++ {
				l := proto.Clone(r.Orders[0]).(*rxguardv1.OrderLine)
				l.LineId = "x" + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
				r.Orders = append(r.Orders, l)
			}
		}, "orders", codes.InvalidArgument},
		{"over 1 MiB", func(r *rxguardv1.CheckOrdersRequest) { r.Orders[0].ItemName = strings.Repeat("药", 600_000) }, "request", codes.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := proto.Clone(base).(*rxguardv1.CheckOrdersRequest)
			c.mutate(req)
			_, err := ts.client.CheckOrders(context.Background(), req)
			if status.Code(err) != c.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, c.code)
			}
			var fields []string
			for _, v := range validate.Violations(err) {
				fields = append(fields, v.Field)
				if v.Description == "" {
					t.Errorf("violation %s without description", v.Field)
				}
			}
			found := false
			for _, f := range fields {
				found = found || f == c.field
			}
			if !found {
				t.Errorf("violations %v do not name %s", fields, c.field)
			}
		})
	}
	// Past the transport cap the server refuses before decoding.
	req := proto.Clone(base).(*rxguardv1.CheckOrdersRequest)
	req.Orders[0].ItemName = strings.Repeat("x", 5<<20)
	if _, err := ts.client.CheckOrders(context.Background(), req); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("5 MiB request: %v", err)
	}
	// The server is still healthy after all that.
	if _, err := ts.client.CheckOrders(context.Background(), base); err != nil {
		t.Errorf("valid request after bad ones: %v", err)
	}
}

func TestE2EHealthReflectionReadyz(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	h, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "rxguard.v1.GuardService"})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "rxguard.v1.GuardService") {
		t.Errorf("reflection lists %v", names)
	}
	resp, err := http.Get("http://" + ts.httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 || body["ready"] != true || !strings.HasPrefix(body["knowledge_version"].(string), "demo-") {
		t.Errorf("readyz %d %v", resp.StatusCode, body)
	}
}

func TestE2EExplainItem(t *testing.T) {
	ts := startServer(t, engine.Config{})
	resp, err := ts.client.ExplainItem(context.Background(), &rxguardv1.ExplainItemRequest{ItemCode: "003402000050000"})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, e := range resp.Entries {
		types[e.RuleType] = true
		if e.Source == "" || e.Summary == "" {
			t.Errorf("entry without source/summary: %+v", e)
		}
	}
	if resp.ItemName == "" || !resp.CodeWellFormed || !types["ITEM_COURSE"] || !types["ITEM_PERIOD_FREQUENCY"] {
		t.Errorf("手功能评定 explain: %+v", resp)
	}
	if _, err := ts.client.ExplainItem(context.Background(), &rxguardv1.ExplainItemRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty code: %v", err)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
)

// runLog runs the CLI with stdout and stderr apart (JSON Lines must be
// parsed from stdout alone).
func runLog(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"log"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

// logSidecar is an in-process sidecar assembled by newSidecar over a
// temporary data directory.
type logSidecar struct {
	addr, data string
	http       string // the HTTP listener's address ("" when off)
	conn       *grpc.ClientConn
	guard      rxguardv1.GuardServiceClient
	audit      rxguardv1.AuditServiceClient
	stop       func()
}

func startLogSidecar(t *testing.T) *logSidecar {
	t.Helper()
	cfg := defaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "off"
	return startSidecarConfig(t, cfg)
}

// startSidecarConfig starts a sidecar with cfg, assembled by newSidecar.
func startSidecarConfig(t *testing.T, cfg config) *logSidecar {
	t.Helper()
	cfg.DecisionLog.SidecarID = "log-test"
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	sc, err := newSidecar(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sc.run(ctx) }()
	s := &logSidecar{addr: sc.grpcLis.Addr().String(), data: cfg.DataDir}
	if sc.httpLis != nil {
		s.http = sc.httpLis.Addr().String()
	}
	if s.conn, err = grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	s.stop = sync.OnceFunc(func() {
		s.conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sidecar: %v", err)
		}
		sc.close()
	})
	t.Cleanup(s.stop)
	s.guard, s.audit = rxguardv1.NewGuardServiceClient(s.conn), rxguardv1.NewAuditServiceClient(s.conn)
	health := healthpb.NewHealthClient(s.conn)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.Status == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sidecar not serving: %v %v", r, err)
		}
	}
	return s
}

func exampleOrder(t *testing.T) *rxguardv1.CheckOrdersRequest {
	t.Helper()
	b, err := os.ReadFile("../../examples/male-aifu-nuangong.json")
	if err != nil {
		t.Fatal(err)
	}
	req := &rxguardv1.CheckOrdersRequest{}
	if err := protojson.Unmarshal(b, req); err != nil {
		t.Fatal(err)
	}
	return req
}

func findingWith(t *testing.T, resp *rxguardv1.CheckOrdersResponse, ruleType string) *rxguardv1.Finding {
	t.Helper()
	for _, f := range resp.Findings {
		if f.RuleType == ruleType {
			return f
		}
	}
	t.Fatalf("no %s finding in %v", ruleType, resp.Findings)
	return nil
}

// logFixture is the decisions TestLog makes.
type logFixture struct {
	// The example: BLOCK (DRUG_GENDER, not overridable), modified.
	blocked *rxguardv1.CheckOrdersResponse
	// An unregistered physician: BLOCK + WARN; the WARN continued with
	// DATA_ERROR, the BLOCK modified.
	dataError *rxguardv1.CheckOrdersResponse
	// A female patient: PASS.
	pass *rxguardv1.CheckOrdersResponse
	// Unregistered physician, department only on the physician: WARN
	// continued with DATA_ERROR, then changed to OTHER (not exported).
	revised *rxguardv1.CheckOrdersResponse
	// WARN continued with DATA_ERROR, a reason text that looks like a
	// spreadsheet formula.
	formula *rxguardv1.CheckOrdersResponse
	// WARN nobody answered.
	open *rxguardv1.CheckOrdersResponse
}

func makeDecisions(t *testing.T, s *logSidecar) logFixture {
	t.Helper()
	ctx := context.Background()
	check := func(mod func(*rxguardv1.CheckOrdersRequest)) *rxguardv1.CheckOrdersResponse {
		t.Helper()
		req := exampleOrder(t)
		mod(req)
		resp, err := s.guard.CheckOrders(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	respond := func(decision string, rs ...*rxguardv1.FindingResponse) {
		t.Helper()
		if _, err := s.guard.RecordResponse(ctx, &rxguardv1.RecordResponseRequest{DecisionId: decision, Responses: rs}); err != nil {
			t.Fatal(err)
		}
	}
	cont := func(f *rxguardv1.Finding, code, text string) *rxguardv1.FindingResponse {
		return &rxguardv1.FindingResponse{FindingId: f.FindingId, Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: code, ReasonText: text}
	}
	modify := func(f *rxguardv1.Finding) *rxguardv1.FindingResponse {
		return &rxguardv1.FindingResponse{FindingId: f.FindingId, Response: rxguardv1.Response_RESPONSE_MODIFY}
	}
	female := func(r *rxguardv1.CheckOrdersRequest) { r.Patient.Gender = rxguardv1.Gender_GENDER_FEMALE }

	var fx logFixture
	fx.blocked = check(func(*rxguardv1.CheckOrdersRequest) {})
	if fx.blocked.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
		t.Fatalf("example: %v", fx.blocked)
	}
	respond(fx.blocked.DecisionId, modify(findingWith(t, fx.blocked, "DRUG_GENDER")))

	fx.dataError = check(func(r *rxguardv1.CheckOrdersRequest) {
		r.Physician.Code, r.Physician.Name = "D379999999999", "未登记"
	})
	respond(fx.dataError.DecisionId, cont(findingWith(t, fx.dataError, "PHYSICIAN_QUALIFICATION"), "DATA_ERROR", "医师已备案，库未更新"),
		modify(findingWith(t, fx.dataError, "DRUG_GENDER")))

	fx.pass = check(func(r *rxguardv1.CheckOrdersRequest) { female(r); r.Encounter.DepartmentCode = "A05" })
	if fx.pass.Verdict != rxguardv1.Verdict_VERDICT_PASS {
		t.Fatalf("female patient: %v", fx.pass)
	}

	fx.revised = check(func(r *rxguardv1.CheckOrdersRequest) {
		female(r)
		r.Physician.Code, r.Physician.Name, r.Physician.DepartmentCode, r.Encounter.DepartmentCode = "D379999999998", "李四", "B01", ""
	})
	w := findingWith(t, fx.revised, "PHYSICIAN_QUALIFICATION")
	respond(fx.revised.DecisionId, cont(w, "DATA_ERROR", "以为库错了"))
	respond(fx.revised.DecisionId, cont(w, "OTHER", "已电话核实"))

	fx.formula = check(func(r *rxguardv1.CheckOrdersRequest) {
		female(r)
		r.Physician.Code, r.Physician.Name = "D379999999999", "未登记"
	})
	respond(fx.formula.DecisionId, cont(findingWith(t, fx.formula, "PHYSICIAN_QUALIFICATION"), "DATA_ERROR", "=HYPERLINK(\"x\")"))

	fx.open = check(func(r *rxguardv1.CheckOrdersRequest) {
		female(r)
		r.Physician.Code, r.Physician.Name = "D379999999997", "赵六"
	})
	if fx.open.Verdict != rxguardv1.Verdict_VERDICT_WARN {
		t.Fatalf("unregistered physician: %v", fx.open)
	}
	return fx
}

// allIDs is what AuditService lists for q, newest first.
func allIDs(t *testing.T, s *logSidecar, q *rxguardv1.QueryDecisionsRequest) []string {
	t.Helper()
	var ids []string
	for {
		r, err := s.audit.QueryDecisions(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range r.Decisions {
			ids = append(ids, d.DecisionId)
		}
		if r.NextPageToken == "" {
			return ids
		}
		q.PageToken = r.NextPageToken
	}
}

// idsIn lists the decision ids in a table's lines, in order.
func idsIn(out string, ids []string) []string {
	var got []string
	for _, line := range strings.Split(out, "\n") {
		for _, id := range ids {
			if strings.Contains(line, id) {
				got = append(got, id)
			}
		}
	}
	return got
}

func parseJSONLines(t *testing.T, out string) []*rxguardv1.Decision {
	t.Helper()
	var decs []*rxguardv1.Decision
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		d := &rxguardv1.Decision{}
		if err := protojson.Unmarshal(sc.Bytes(), d); err != nil {
			t.Fatalf("line %d does not parse: %v\n%s", len(decs)+1, err, sc.Text())
		}
		decs = append(decs, d)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return decs
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		t.Fatalf("CSV lacks the UTF-8 byte-order mark: %q", b[:min(len(b), 20)])
	}
	rows, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestLog(t *testing.T) {
	s := startLogSidecar(t)
	fx := makeDecisions(t, s)
	ctx := context.Background()
	day := func(d int) string { return time.Now().In(engine.Shanghai).AddDate(0, 0, d).Format(time.DateOnly) }
	from, to := day(-1), day(1)
	all := allIDs(t, s, &rxguardv1.QueryDecisionsRequest{})
	if len(all) != 6 {
		t.Fatalf("%d decisions stored, want 6", len(all))
	}

	t.Run("query", func(t *testing.T) {
		out, _, err := runLog(t, "query", "-server", s.addr)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		t.Logf("rxguard log query:\n%s", out)
		for _, want := range []string{"TIME", "DECISION", "VERDICT", "UNANSWERED", "D370800000001", "张明", "BLOCK", "PASS", "WARN", "A03", "A05", "B01"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
		if got := idsIn(out, all); !slices.Equal(got, all) {
			t.Errorf("table lists %v, want newest first %v:\n%s", got, all, out)
		}
		// The unanswered WARN's row says 1 unanswered; the answered ones 0.
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if strings.Contains(line, fx.open.DecisionId) && f[len(f)-1] != "1" || strings.Contains(line, fx.dataError.DecisionId) && f[len(f)-1] != "0" {
				t.Errorf("unanswered column: %q", line)
			}
		}

		for _, c := range []struct {
			args []string
			want []string
		}{
			{[]string{"-physician", "d379999999999 "}, []string{fx.formula.DecisionId, fx.dataError.DecisionId}},
			{[]string{"-department", "B01"}, []string{fx.revised.DecisionId}},
			{[]string{"-verdict", "pass"}, []string{fx.pass.DecisionId}},
			{[]string{"-verdict", "BLOCK", "-rule-type", "PHYSICIAN_QUALIFICATION"}, []string{fx.dataError.DecisionId}},
			{[]string{"-unanswered"}, []string{fx.open.DecisionId}},
			{[]string{"-patient", "P0001", "-from", from, "-to", to, "-rule-type", "DRUG_GENDER"}, []string{fx.dataError.DecisionId, fx.blocked.DecisionId}},
			{[]string{"-from", day(1)}, nil},
			{[]string{"-to", day(-1)}, nil},
		} {
			out, _, err := runLog(t, append([]string{"query", "-server", s.addr}, c.args...)...)
			if err != nil {
				t.Fatalf("%v: %v", c.args, err)
			}
			if got := idsIn(out, all); !slices.Equal(got, c.want) {
				t.Errorf("query %v: %v, want %v\n%s", c.args, got, c.want, out)
			}
			if c.want == nil && !strings.Contains(out, "no decisions match") {
				t.Errorf("query %v: %s", c.args, out)
			}
		}

		out, errOut, err := runLog(t, "query", "-server", s.addr, "-limit", "2")
		if err != nil || !slices.Equal(idsIn(out, all), all[:2]) || !strings.Contains(errOut, "more decisions match") {
			t.Errorf("-limit 2: %v\n%s%s", err, out, errOut)
		}

		out, _, err = runLog(t, "query", "-server", s.addr, "-json", "-limit", "5")
		if err != nil {
			t.Fatal(err)
		}
		decs := parseJSONLines(t, out)
		var ids []string
		for _, d := range decs {
			ids = append(ids, d.DecisionId)
		}
		if !slices.Equal(ids, all[:5]) {
			t.Errorf("-json lists %v, want %v", ids, all[:5])
		}
	})

	var serverExport []byte
	t.Run("export", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "decisions.jsonl")
		_, errOut, err := runLog(t, "export", "-server", s.addr, "-from", from, "-to", to, "-o", file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(errOut, "exported 6 decisions to "+file) {
			t.Errorf("stderr: %s", errOut)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("export is %v: it holds patient data, owner only", fi.Mode())
		}
		serverExport = b
		decs := parseJSONLines(t, string(b))
		if len(decs) != len(all) {
			t.Fatalf("%d lines, want %d", len(decs), len(all))
		}
		for i, d := range decs {
			if d.DecisionId != all[i] {
				t.Errorf("line %d is %s, want %s (newest first)", i+1, d.DecisionId, all[i])
			}
			got, err := s.audit.GetDecision(ctx, &rxguardv1.GetDecisionRequest{DecisionId: d.DecisionId})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(d, got.Decision) {
				t.Errorf("line %d does not round-trip to GetDecision:\n%v\n%v", i+1, d, got.Decision)
			}
		}
		// The responses are in the line (the revised decision has two).
		for _, d := range decs {
			if d.DecisionId == fx.revised.DecisionId && (len(d.Responses) != 2 || d.Responses[1].ReasonCode != "OTHER") {
				t.Errorf("revised decision's responses: %v", d.Responses)
			}
		}

		// Filters apply; standard output when there is no -o.
		out, _, err := runLog(t, "export", "-server", s.addr, "-from", from, "-to", to, "-verdict", "PASS")
		if err != nil {
			t.Fatal(err)
		}
		if decs := parseJSONLines(t, out); len(decs) != 1 || decs[0].DecisionId != fx.pass.DecisionId {
			t.Errorf("export -verdict PASS: %v", decs)
		}
	})

	var serverCSV []byte
	t.Run("export -reason", func(t *testing.T) {
		out, errOut, err := runLog(t, "export", "-server", s.addr, "-from", from, "-to", to, "-reason", "DATA_ERROR")
		if err != nil {
			t.Fatal(err)
		}
		serverCSV = []byte(out)
		t.Logf("rxguard log export -reason DATA_ERROR:\n%s", out)
		if !strings.Contains(errOut, "exported 2 findings continued with DATA_ERROR") {
			t.Errorf("stderr: %s", errOut)
		}
		rows := readCSV(t, serverCSV)
		if !slices.Equal(rows[0], reasonCSVHeader) {
			t.Errorf("header %v", rows[0])
		}
		if len(rows) != 3 {
			t.Fatalf("rows: %v", rows)
		}
		col := func(row []string, name string) string { return row[slices.Index(reasonCSVHeader, name)] }
		// Newest first: the formula one, then the first DATA_ERROR.
		r := rows[2]
		w := findingWith(t, fx.dataError, "PHYSICIAN_QUALIFICATION")
		for name, want := range map[string]string{
			"decision_id": fx.dataError.DecisionId, "finding_id": w.FindingId, "physician_code": "D379999999999",
			"department_code": "A03", "rule_type": "PHYSICIAN_QUALIFICATION", "rule_id": w.RuleId,
			"item_codes": "ZD03AAA0043010100166", "item_names": "艾附暖宫丸", "message": w.Message, "evidence": w.Evidence,
			"reason_code": "DATA_ERROR", "reason_text": "医师已备案，库未更新", "knowledge_version": fx.dataError.KnowledgeVersion,
		} {
			if got := col(r, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		for _, name := range []string{"time", "responded_time"} {
			if _, err := time.Parse(time.RFC3339, col(r, name)); err != nil || !strings.HasSuffix(col(r, name), "+08:00") {
				t.Errorf("%s = %q: want RFC 3339 in Beijing time", name, col(r, name))
			}
		}
		if col(rows[1], "decision_id") != fx.formula.DecisionId || col(rows[1], "reason_text") != `'=HYPERLINK("x")` {
			t.Errorf("formula row: %v", rows[1])
		}

		// Another code, case-insensitively; a rule type narrows the rows.
		out, _, err = runLog(t, "export", "-server", s.addr, "-from", from, "-to", to, "-reason", "other")
		if rows := readCSV(t, []byte(out)); err != nil || len(rows) != 2 || rows[1][0] != fx.revised.DecisionId {
			t.Errorf("-reason other: %v %v", err, rows)
		}
		out, _, err = runLog(t, "export", "-server", s.addr, "-from", from, "-to", to, "-reason", "DATA_ERROR", "-rule-type", "DRUG_GENDER")
		if rows := readCSV(t, []byte(out)); err != nil || len(rows) != 1 {
			t.Errorf("-rule-type DRUG_GENDER: %v %v", err, rows)
		}
	})

	var serverRules string
	t.Run("report", func(t *testing.T) {
		out, _, err := runLog(t, "report", "-server", s.addr, "-by", "physician", "-from", from, "-to", to)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rxguard log report -by physician:\n%s", out)
		row := func(out, key string) []string {
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 0 && f[0] == key {
					return f
				}
			}
			t.Errorf("no row %s in\n%s", key, out)
			return nil
		}
		// PHYSICIAN NAME STATUS POINTS DECISIONS PASS WARN BLOCK FINDINGS CONTINUED MODIFIED UNANSWERED
		if r := row(out, "D370800000001"); len(r) < 12 || r[1] != "张明" || strings.Join(r[4:12], " ") != "2 1 0 1 1 0 1 0" {
			t.Errorf("张明: %v\n%s", r, out)
		}
		if r := row(out, "D379999999999"); len(r) < 12 || strings.Join(r[4:12], " ") != "2 0 1 1 3 2 1 0" {
			t.Errorf("D379999999999: %v\n%s", r, out)
		}
		if !strings.Contains(out, "6 decisions, 4 physicians") {
			t.Errorf("physician report header:\n%s", out)
		}

		out, _, err = runLog(t, "report", "-server", s.addr, "-by", "department", "-from", from, "-to", to)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rxguard log report -by department:\n%s", out)
		// DEPARTMENT DECISIONS PASS WARN BLOCK FINDINGS CONTINUED MODIFIED UNANSWERED PHYSICIANS
		for dept, want := range map[string]string{"A03": "4 0 2 2 5 2 2 1 3", "A05": "1 1 0 0 0 0 0 0 1", "B01": "1 0 1 0 1 1 0 0 1"} {
			if r := row(out, dept); len(r) < 10 || strings.Join(r[1:10], " ") != want {
				t.Errorf("department %s: %v, want %s\n%s", dept, r, want, out)
			}
		}

		out, _, err = runLog(t, "report", "-server", s.addr, "-by", "rule", "-from", from, "-to", to)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rxguard log report -by rule:\n%s", out)
		serverRules = out
		// RULE TYPE FINDINGS BLOCK WARN INFO CONTINUED MODIFIED UNANSWERED DATA_ERROR
		for rt, want := range map[string]string{"PHYSICIAN_QUALIFICATION": "4 0 4 0 3 0 1 2", "DRUG_GENDER": "2 2 0 0 0 2 0 0"} {
			if r := row(out, rt); len(r) < 9 || strings.Join(r[1:9], " ") != want {
				t.Errorf("rule %s: %v, want %s\n%s", rt, r, want, out)
			}
		}

		out, _, err = runLog(t, "report", "-server", s.addr, "-by", "physician", "-from", from, "-to", to, "-json")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			var r rxguardv1.GetPhysicianReportResponse
			if err := protojson.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("report -json line: %v\n%s", err, line)
			}
			n++
		}
		if n != 4 {
			t.Errorf("report -json: %d lines", n)
		}

		// The default period is the current month (Beijing time).
		out, _, err = runLog(t, "report", "-server", s.addr, "-by", "rule")
		if err != nil || !strings.Contains(out, ": 6 decisions") {
			t.Errorf("report this month: %v\n%s", err, out)
		}
	})

	// The data directory is locked while the sidecar runs.
	if _, _, err := runLog(t, "query", "-data", s.data); err == nil || !strings.Contains(err.Error(), "the sidecar is running: use -server") {
		t.Errorf("-data on a running sidecar: %v", err)
	}

	// Stopped: the same exports from its data directory.
	s.stop()
	t.Run("data", func(t *testing.T) {
		if serverExport == nil || serverCSV == nil || serverRules == "" {
			t.Skip("the -server runs failed")
		}
		file := filepath.Join(t.TempDir(), "decisions.jsonl")
		if _, _, err := runLog(t, "export", "-data", s.data, "-from", from, "-to", to, "-o", file); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(file)
		fromData, fromServer := parseJSONLines(t, string(b)), parseJSONLines(t, string(serverExport))
		if len(fromData) != len(fromServer) {
			t.Fatalf("-data exported %d, -server %d", len(fromData), len(fromServer))
		}
		for i := range fromData {
			if !proto.Equal(fromData[i], fromServer[i]) {
				t.Errorf("line %d differs:\n%v\n%v", i+1, fromData[i], fromServer[i])
			}
		}
		out, _, err := runLog(t, "export", "-data", s.data, "-from", from, "-to", to, "-reason", "DATA_ERROR")
		if err != nil || out != string(serverCSV) {
			t.Errorf("-data CSV differs: %v\n%s\n%s", err, out, serverCSV)
		}
		out, _, err = runLog(t, "report", "-data", s.data, "-by", "rule", "-from", from, "-to", to)
		if err != nil || out != serverRules {
			t.Errorf("-data rule report differs: %v\n%s\n%s", err, out, serverRules)
		}
		out, _, err = runLog(t, "report", "-data", s.data, "-by", "department", "-from", from, "-to", to)
		if err != nil || !strings.Contains(out, "6 decisions, 3 departments") {
			t.Errorf("-data department report: %v\n%s", err, out)
		}
		out, _, err = runLog(t, "query", "-data", s.data, "-physician", "D379999999999")
		if got := idsIn(out, all); err != nil || !slices.Equal(got, []string{fx.formula.DecisionId, fx.dataError.DecisionId}) {
			t.Errorf("-data query: %v %v\n%s", err, got, out)
		}
		// Read-only: nothing new in the sidecar's directory.
		before, _ := os.ReadDir(filepath.Join(s.data, "decisions"))
		if _, _, err := runLog(t, "query", "-data", s.data); err != nil {
			t.Fatal(err)
		}
		after, _ := os.ReadDir(filepath.Join(s.data, "decisions"))
		if len(before) != len(after) {
			t.Errorf("-data changed the directory: %d entries, then %d", len(before), len(after))
		}
	})
}

func TestLogBadFlags(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "log needs a subcommand"},
		{[]string{"tail"}, "unknown log subcommand tail"},
		{[]string{"query", "-nope"}, "flag provided but not defined"},
		{[]string{"query", "-verdict", "MAYBE"}, "-verdict \"MAYBE\": want PASS, WARN or BLOCK"},
		{[]string{"query", "-from", "yesterday"}, "-from \"yesterday\": want RFC 3339"},
		{[]string{"query", "-to", "2026-13-01"}, "-to \"2026-13-01\": want RFC 3339"},
		{[]string{"query", "-from", "2026-12-01", "-to", "2026-11-01"}, "is not before -to"},
		{[]string{"query", "-from", "2026-11-01T10:00:00+08:00", "-to", "2026-11-01T10:00:00+08:00"}, "is not before -to"},
		{[]string{"query", "-limit", "0"}, "-limit 0: must be at least 1"},
		{[]string{"query", "-limit", "x"}, "invalid value"},
		{[]string{"query", "extra"}, "takes no arguments"},
		{[]string{"query", "-server", "127.0.0.1:1", "-data", data}, "either -server"},
		{[]string{"query", "-data", ""}, "-data needs a directory"},
		{[]string{"query", "-server", ""}, "-server needs an address"},
		{[]string{"query", "-timeout", "0s"}, "-timeout must be positive"},
		{[]string{"export"}, "needs -from and -to"},
		{[]string{"export", "-from", "2026-11-01"}, "needs -from and -to"},
		{[]string{"export", "-from", "2026-11-01", "-to", "2026-11-30", "-reason", "BECAUSE"}, "is not a reason code"},
		{[]string{"export", "-from", "2026-11-01", "-to", "2026-11-30", "-reason", ""}, "is not a reason code"},
		{[]string{"export", "-from", "2026-11-30", "-to", "2026-11-01"}, "is not before -to"},
		{[]string{"report"}, "needs -by"},
		{[]string{"report", "-by", "nurse"}, "-by \"nurse\""},
		{[]string{"report", "-by", "rule", "-from", "2026-12-01", "-to", "2026-11-01"}, "is not before -to"},
		{[]string{"report", "-by", "rule", "-from", "2999-01-01"}, "is not before the end of the report"},
	} {
		_, _, err := runLog(t, c.args...)
		var ue usageError
		if err == nil || !asUsage(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("log %v: %v, want a usage error with %q", c.args, err, c.want)
		}
	}

	// Not usage errors, but clear ones.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "-data", data}, "holds no decision log"},
		{[]string{"report", "-by", "physician", "-data", filepath.Join(data, "missing")}, "holds no decision log"},
		{[]string{"query", "-server", closed}, "no sidecar answering on " + closed},
		{[]string{"export", "-server", closed, "-from", "2026-11-01", "-to", "2026-11-30"}, "no sidecar answering"},
		{[]string{"export", "-server", closed, "-from", "2026-11-01", "-to", "2026-11-30", "-o", filepath.Join(data, "nodir", "x.jsonl")}, "-o "},
	} {
		_, _, err := runLog(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("log %v: %v, want an error with %q", c.args, err, c.want)
		}
	}

	// Neither -server nor -data, and nothing on the default address: a
	// usage error that names both (the source as the flags make it, with
	// a closed port for the default).
	src := &grpcSource{addr: closed, defaulted: true, timeout: 5 * time.Second}
	if src.conn, err = grpc.NewClient(closed, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	src.audit = rxguardv1.NewAuditServiceClient(src.conn)
	defer src.Close()
	err = src.each(context.Background(), logFilter{}, 10, func(*rxguardv1.Decision) error { return nil })
	var ue usageError
	if err == nil || !asUsage(err, &ue) || !strings.Contains(err.Error(), "-server ADDR") || !strings.Contains(err.Error(), "-data DIR") {
		t.Errorf("default server unreachable: %v", err)
	}
	// A failed export leaves no file behind: the temporary file is made
	// (the directory exists), the export fails (no sidecar), and abort
	// removes it.
	out := filepath.Join(data, "x.jsonl")
	if _, _, err := runLog(t, "export", "-server", closed, "-from", "2026-11-01", "-to", "2026-11-30", "-o", out); err == nil {
		t.Fatal("export from a closed port succeeded")
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("left in the output directory: %v", entries)
	}
}

func TestLogTableWidth(t *testing.T) {
	var b strings.Builder
	tb := &table{}
	tb.add("A", "NAME", "N")
	tb.add("x", "张明", "1")
	tb.add("yy", "Li", "22")
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	want := "A   NAME  N\nx   张明  1\nyy  Li    22\n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
}

package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// The decision record on the command line (事后监管): `rxguard log query`,
// `export` and `report`, against a running sidecar's AuditService (-server)
// or a stopped sidecar's data directory (-data).

const logUsage = "log needs a subcommand: query, export, report"

// cmdLog dispatches `rxguard log …`.
func cmdLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{logUsage}
	}
	switch args[0] {
	case "query":
		return cmdLogQuery(ctx, args[1:], stdout, stderr)
	case "export":
		return cmdLogExport(ctx, args[1:], stdout, stderr)
	case "report":
		return cmdLogReport(ctx, args[1:], stdout, stderr)
	}
	return usageError{"unknown log subcommand " + args[0] + "; " + logUsage}
}

func parseReasonCode(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	var list []string
	for _, r := range validate.ReasonCodes {
		if r.Code == c {
			return c, nil
		}
		list = append(list, r.Code+" "+r.Name)
	}
	return "", usageError{fmt.Sprintf("-reason %q is not a reason code (无效的理由代码); want one of: %s", s, strings.Join(list, ", "))}
}

// ---- flags ----

// sourceFlags say where the decisions are read: a running sidecar or a
// stopped one's data directory.
type sourceFlags struct {
	fs      *flag.FlagSet
	server  *string
	data    *string
	keyFile *string
	timeout *time.Duration
}

func addSourceFlags(fs *flag.FlagSet) *sourceFlags {
	return &sourceFlags{
		fs:      fs,
		server:  fs.String("server", server.DefaultGRPCAddr, "gRPC address of a running rxguard (its AuditService)"),
		data:    fs.String("data", "", "read a stopped sidecar's data directory instead of asking a running one (its data_dir, e.g. ./data)"),
		keyFile: fs.String("key-file", "", "with -data: the key the decision log is encrypted with (the sidecar's encryption.key_file)"),
		timeout: fs.Duration("timeout", 30*time.Second, "deadline for each call to the sidecar"),
	}
}

func (s *sourceFlags) set(name string) bool {
	found := false
	s.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// open returns the source the flags name.
func (s *sourceFlags) open(ctx context.Context) (logSource, error) {
	serverSet := s.set("server")
	if s.set("data") {
		if serverSet {
			return nil, usageError{"give either -server (a running sidecar) or -data (a stopped sidecar's data directory), not both"}
		}
		if *s.data == "" {
			return nil, usageError{"-data needs a directory"}
		}
		key, err := encryptionConfig{KeyFile: *s.keyFile}.key()
		if err != nil {
			return nil, fmt.Errorf("-key-file: %w", err)
		}
		return openDataSource(ctx, *s.data, key)
	}
	if s.set("key-file") {
		return nil, usageError{"-key-file goes with -data (a running sidecar, -server, reads its own store)"}
	}
	if *s.server == "" {
		return nil, usageError{"-server needs an address (host:port)"}
	}
	if *s.timeout <= 0 {
		return nil, usageError{"-timeout must be positive"}
	}
	conn, err := dialSidecar(*s.server, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)))
	if err != nil {
		return nil, usageError{fmt.Sprintf("-server %q: %v", *s.server, err)}
	}
	return &grpcSource{conn: conn, audit: rxguardv1.NewAuditServiceClient(conn), addr: *s.server,
		defaulted: !serverSet, timeout: *s.timeout}, nil
}

// filterFlags select decisions (QueryDecisionsRequest).
type filterFlags struct {
	from, to                                *string
	physician, department, patient, verdict *string
	ruleType                                *string
	unanswered                              *bool
}

func addRangeFlags(fs *flag.FlagSet, f *filterFlags) {
	f.from = fs.String("from", "", "from this time on: RFC 3339 (2026-11-01T08:00:00+08:00) or a date (2026-11-01, Beijing time)")
	f.to = fs.String("to", "", "before this time (RFC 3339), or through this date (2026-11-30 includes the 30th, Beijing time)")
}

func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{}
	addRangeFlags(fs, f)
	f.physician = fs.String("physician", "", "only this physician (national physician code)")
	f.department = fs.String("department", "", "only this department (the encounter's, else the physician's)")
	f.patient = fs.String("patient", "", "only this patient id")
	f.verdict = fs.String("verdict", "", "only this verdict: PASS, WARN or BLOCK")
	f.ruleType = fs.String("rule-type", "", "only decisions with a finding of this rule type (e.g. DRUG_GENDER)")
	f.unanswered = fs.Bool("unanswered", false, "only decisions with an overridable WARN/BLOCK finding nobody answered")
	return f
}

// logFilter is parsed filterFlags.
type logFilter struct {
	from, to                                 time.Time // zero: unbounded
	physician, department, patient, ruleType string
	verdict                                  rxguardv1.Verdict
	unanswered                               bool
}

func (ff *filterFlags) parse() (logFilter, error) {
	var f logFilter
	var err error
	if f.from, f.to, err = parseRange(*ff.from, *ff.to); err != nil {
		return f, err
	}
	if ff.physician == nil {
		return f, nil
	}
	f.physician = canonical(*ff.physician)
	f.department = canonical(*ff.department)
	f.patient = strings.TrimSpace(*ff.patient)
	f.ruleType = strings.TrimSpace(*ff.ruleType)
	f.unanswered = *ff.unanswered
	if f.verdict, err = parseVerdict(*ff.verdict); err != nil {
		return f, err
	}
	return f, nil
}

func canonical(code string) string {
	c, _ := knowledge.CanonicalCode(code)
	return c
}

func parseVerdict(s string) (rxguardv1.Verdict, error) {
	if s == "" {
		return rxguardv1.Verdict_VERDICT_UNSPECIFIED, nil
	}
	u := strings.ToUpper(strings.TrimSpace(s))
	switch strings.TrimPrefix(u, "VERDICT_") {
	case "PASS":
		return rxguardv1.Verdict_VERDICT_PASS, nil
	case "WARN":
		return rxguardv1.Verdict_VERDICT_WARN, nil
	case "BLOCK":
		return rxguardv1.Verdict_VERDICT_BLOCK, nil
	}
	return 0, usageError{fmt.Sprintf("-verdict %q: want PASS, WARN or BLOCK (结论应为 PASS、WARN 或 BLOCK)", s)}
}

// parseRange parses -from and -to: RFC 3339, or a date in Beijing time
// (-from at its start, -to through its end). from must be before to.
func parseRange(fromS, toS string) (from, to time.Time, err error) {
	if from, err = parseWhen("from", fromS, false); err != nil {
		return
	}
	if to, err = parseWhen("to", toS, true); err != nil {
		return
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		err = usageError{fmt.Sprintf("-from %s is not before -to %s (开始时间须早于结束时间)", fromS, toS)}
	}
	return
}

func parseWhen(name, s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseInLocation(time.DateOnly, s, engine.Shanghai); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("-%s %q: want RFC 3339 with an offset (2026-11-01T08:00:00+08:00) or a date (2026-11-01, Beijing time) (时间格式无效)", name, s)}
}

func formatRFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func (f logFilter) request() *rxguardv1.QueryDecisionsRequest {
	return &rxguardv1.QueryDecisionsRequest{
		From: formatRFC3339(f.from), To: formatRFC3339(f.to),
		PhysicianCode: f.physician, DepartmentCode: f.department, PatientId: f.patient,
		Verdict: f.verdict, RuleType: f.ruleType, UnansweredOnly: f.unanswered,
	}
}

func (f logFilter) query() decisionlog.Query {
	return decisionlog.Query{
		From: f.from, To: f.to,
		PhysicianCode: f.physician, DepartmentCode: f.department, PatientID: f.patient,
		Verdict: f.verdict, RuleType: f.ruleType, UnansweredOnly: f.unanswered,
	}
}

// noArgs refuses positional arguments (flags after one would be ignored).
func noArgs(fs *flag.FlagSet, cmd string) error {
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("log %s takes no arguments, only flags: unexpected %q", cmd, fs.Arg(0))}
	}
	return nil
}

// ---- sources ----

// logSource reads decisions: a running sidecar's AuditService or a stopped
// sidecar's decision log.
type logSource interface {
	// each calls fn with every decision matching f, newest first, reading
	// pages of about pageSize; it stops at fn's first error (errStop
	// ends it without error).
	each(ctx context.Context, f logFilter, pageSize int, fn func(*rxguardv1.Decision) error) error
	// export writes the decisions matching f as JSON Lines (protojson
	// Decision per line) and returns how many.
	export(ctx context.Context, f logFilter, w io.Writer) (int, error)
	physicianReport(ctx context.Context, code string, from, to time.Time) (*rxguardv1.GetPhysicianReportResponse, error)
	departmentReport(ctx context.Context, code string, from, to time.Time) (*rxguardv1.GetDepartmentReportResponse, error)
	Close() error
}

var errStop = errors.New("stop")

// maxRecvBytes bounds one reply from the sidecar. A page is shrunk (down
// to one decision) when a reply would be larger.
const maxRecvBytes = 64 << 20

type grpcSource struct {
	conn      *grpc.ClientConn
	audit     rxguardv1.AuditServiceClient
	addr      string
	defaulted bool // -server not given: the default address
	timeout   time.Duration
}

func (s *grpcSource) Close() error { return s.conn.Close() }

// rpcErr explains a failed call; no sidecar at the default address is a
// usage error (the user named neither -server nor -data).
func (s *grpcSource) rpcErr(err error) error {
	if status.Code(err) == codes.Unavailable && s.conn.GetState() != connectivity.Ready {
		if s.defaulted {
			return usageError{fmt.Sprintf("no sidecar answering on %s (没有正在运行的边车): name a running one with -server ADDR, "+
				"or read a stopped sidecar's data directory with -data DIR (%s)", s.addr, status.Convert(err).Message())}
		}
		return fmt.Errorf("no sidecar answering on %s (is `rxguard serve` running?): %s", s.addr, status.Convert(err).Message())
	}
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("the rxguard on %s has no AuditService (an older version?): %w", s.addr, describeError(err))
	}
	return describeError(err)
}

func (s *grpcSource) each(ctx context.Context, f logFilter, pageSize int, fn func(*rxguardv1.Decision) error) error {
	req := f.request()
	size := min(max(pageSize, 1), decisionlog.MaxPageSize)
	for {
		req.PageSize = int32(size)
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		resp, err := s.audit.QueryDecisions(cctx, req)
		cancel()
		if status.Code(err) == codes.ResourceExhausted && size > 1 {
			size = max(size/2, 1) // a page too large for one message
			continue
		}
		if err != nil {
			return s.rpcErr(err)
		}
		for _, d := range resp.Decisions {
			if err := fn(d); err != nil {
				if err == errStop {
					return nil
				}
				return err
			}
		}
		if resp.NextPageToken == "" {
			return nil
		}
		req.PageToken = resp.NextPageToken
	}
}

// export pages through QueryDecisions: memory holds one page.
func (s *grpcSource) export(ctx context.Context, f logFilter, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	var line []byte
	err := s.each(ctx, f, decisionlog.DefaultPageSize, func(d *rxguardv1.Decision) error {
		var err error
		if line, err = (protojson.MarshalOptions{}).MarshalAppend(line[:0], d); err != nil {
			return fmt.Errorf("export decision %s: %w", d.DecisionId, err)
		}
		if _, err := bw.Write(append(line, '\n')); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

func (s *grpcSource) physicianReport(ctx context.Context, code string, from, to time.Time) (*rxguardv1.GetPhysicianReportResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r, err := s.audit.GetPhysicianReport(cctx, &rxguardv1.GetPhysicianReportRequest{PhysicianCode: code, From: formatRFC3339(from), To: formatRFC3339(to)})
	if err != nil {
		return nil, s.rpcErr(err)
	}
	return r, nil
}

func (s *grpcSource) departmentReport(ctx context.Context, code string, from, to time.Time) (*rxguardv1.GetDepartmentReportResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r, err := s.audit.GetDepartmentReport(cctx, &rxguardv1.GetDepartmentReportRequest{DepartmentCode: code, From: formatRFC3339(from), To: formatRFC3339(to)})
	if err != nil {
		return nil, s.rpcErr(err)
	}
	return r, nil
}

// dataSource reads a stopped sidecar's decision log directly.
type dataSource struct {
	log *decisionlog.Log
}

// openDataSource opens DIR/decisions for reading. A running sidecar holds
// the store's directory lock: the open is refused and the user told to ask
// the sidecar instead.
//
// The store is opened read-only (decisionlog.Options.ReadOnly): it writes
// no new file into the sidecar's directory (an operator running this as
// another user must not leave files the sidecar cannot write).
func openDataSource(ctx context.Context, dir string, key []byte) (*dataSource, error) {
	ddir := filepath.Join(dir, "decisions")
	if _, err := os.Stat(filepath.Join(ddir, "MANIFEST")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "MANIFEST")); err2 == nil && filepath.Base(filepath.Clean(dir)) == "decisions" {
			ddir = dir // named the decisions directory itself
		} else if errors.Is(err, fs.ErrNotExist) {
			return nil, noDecisionLog(dir, ddir)
		} else {
			return nil, fmt.Errorf("cannot read the decision log in %s: %w", ddir, err)
		}
	}
	l, err := decisionlog.Open(ctx, decisionlog.Options{Dir: ddir, Logger: slog.New(slog.DiscardHandler), ReadOnly: true, EncryptionKey: key})
	switch {
	case err == nil:
		return &dataSource{log: l}, nil
	case errors.Is(err, badgerdb.ErrEncryptionKey):
		return nil, fmt.Errorf("cannot read the decision log in %s (-key-file names the sidecar's encryption.key_file): %w", ddir, err)
	case errors.Is(err, badgerdb.ErrInUse):
		return nil, fmt.Errorf("the sidecar is running: use -server (边车正在运行，请用 -server 连接): %s is locked by another rxguard process", ddir)
	case errors.Is(err, fs.ErrNotExist):
		return nil, noDecisionLog(dir, ddir) // removed since the check above
	}
	return nil, fmt.Errorf("cannot read the decision log in %s: %w", ddir, err)
}

func noDecisionLog(dir, ddir string) error {
	return fmt.Errorf("%s holds no decision log (no %s; 该目录没有决策记录): -data names a sidecar's data directory (its data_dir, default ./data)", dir, ddir)
}

func (s *dataSource) Close() error { return s.log.Close() }

func (s *dataSource) each(ctx context.Context, f logFilter, pageSize int, fn func(*rxguardv1.Decision) error) error {
	q := f.query()
	q.PageSize = min(max(pageSize, 1), decisionlog.MaxPageSize)
	for {
		decs, next, err := s.log.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, d := range decs {
			if err := fn(d); err != nil {
				if err == errStop {
					return nil
				}
				return err
			}
		}
		if next == "" {
			return nil
		}
		q.PageToken = next
	}
}

func (s *dataSource) export(ctx context.Context, f logFilter, w io.Writer) (int, error) {
	return s.log.Export(ctx, f.query(), w)
}

func (s *dataSource) physicianReport(ctx context.Context, code string, from, to time.Time) (*rxguardv1.GetPhysicianReportResponse, error) {
	return s.log.PhysicianReport(ctx, code, from, to)
}

func (s *dataSource) departmentReport(ctx context.Context, code string, from, to time.Time) (*rxguardv1.GetDepartmentReportResponse, error) {
	return s.log.DepartmentReport(ctx, code, from, to)
}

// ---- rxguard log query ----

func cmdLogQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := addSourceFlags(fs)
	ff := addFilterFlags(fs)
	limit := fs.Int("limit", 100, "at most this many decisions (newest first)")
	asJSON := fs.Bool("json", false, "print JSON Lines (one protojson Decision per line) instead of a table")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if err := noArgs(fs, "query"); err != nil {
		return err
	}
	if *limit < 1 {
		return usageError{fmt.Sprintf("-limit %d: must be at least 1 (for everything use `rxguard log export`)", *limit)}
	}
	f, err := ff.parse()
	if err != nil {
		return err
	}
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()

	bw := bufio.NewWriter(stdout)
	t := &table{}
	t.add("TIME", "DECISION", "PHYSICIAN", "NAME", "DEPT", "VERDICT", "FINDINGS", "UNANSWERED")
	n, more := 0, false
	var line []byte
	err = s.each(ctx, f, min(*limit+1, decisionlog.MaxPageSize), func(d *rxguardv1.Decision) error {
		if n == *limit {
			more = true
			return errStop
		}
		n++
		if *asJSON {
			var err error
			if line, err = (protojson.MarshalOptions{}).MarshalAppend(line[:0], d); err != nil {
				return err
			}
			_, err = bw.Write(append(line, '\n'))
			return err
		}
		req, resp := d.GetRequest(), d.GetResponse()
		t.add(displayTime(d.Time), d.DecisionId, canonical(req.GetPhysician().GetCode()), req.GetPhysician().GetName(),
			decisionlog.DepartmentOf(req), strings.TrimPrefix(resp.GetVerdict().String(), "VERDICT_"),
			strconv.Itoa(len(resp.GetFindings())), strconv.Itoa(unanswered(d)))
		return nil
	})
	if err != nil {
		return err
	}
	if !*asJSON {
		if n == 0 {
			fmt.Fprintln(bw, "no decisions match (没有符合条件的决策)")
		} else {
			t.write(bw)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(stderr, "more decisions match than the %d shown: raise -limit, narrow the filters, or use `rxguard log export`\n", *limit)
	}
	return nil
}

// displayTime is a stored RFC 3339 time in Beijing time, to the second.
func displayTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.In(engine.Shanghai).Format(time.DateTime)
}

// csvTime is a stored RFC 3339 time in Beijing time with its offset.
func csvTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.In(engine.Shanghai).Format(time.RFC3339)
}

// unanswered counts the findings that expect the physician's answer and
// have none — what -unanswered selects.
func unanswered(d *rxguardv1.Decision) int {
	latest := decisionlog.LatestResponses(d)
	n := 0
	for _, f := range d.GetResponse().GetFindings() {
		if decisionlog.NeedsAnswer(f) && latest[f.GetFindingId()] == nil {
			n++
		}
	}
	return n
}

// ---- rxguard log export ----

func cmdLogExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := addSourceFlags(fs)
	ff := addFilterFlags(fs)
	out := fs.String("o", "", "write to this file instead of standard output")
	reason := fs.String("reason", "", "instead of JSON Lines, a CSV (UTF-8 with BOM, for Excel) of the findings continued with this reason code, "+
		"e.g. DATA_ERROR (知识库或规则有误: feedback to the bureau)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if err := noArgs(fs, "export"); err != nil {
		return err
	}
	if *ff.from == "" || *ff.to == "" {
		return usageError{"log export needs -from and -to (导出须指定起止时间), e.g. -from 2026-11-01 -to 2026-11-30"}
	}
	f, err := ff.parse()
	if err != nil {
		return err
	}
	code := ""
	if src.set("reason") {
		if code, err = parseReasonCode(*reason); err != nil {
			return err
		}
	}
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()

	w, commit, abort, err := createOutput(*out, stdout)
	if err != nil {
		return err
	}
	what := "decisions"
	var n int
	if code != "" {
		what = "findings continued with " + code
		n, err = exportReasonCSV(ctx, s, f, code, w)
	} else {
		n, err = s.export(ctx, f, w)
	}
	if err != nil {
		abort()
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	if *out != "" && *out != "-" {
		fmt.Fprintf(stderr, "exported %d %s to %s\n", n, what, *out)
	} else {
		fmt.Fprintf(stderr, "exported %d %s\n", n, what)
	}
	return nil
}

// createOutput opens path for an export (stdout for "" or "-"). A file is
// written beside its final name and renamed into place by commit, so a
// failed export leaves no partial file; it is readable by its owner only
// (it holds patient data).
func createOutput(path string, stdout io.Writer) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("-o %s: %w", path, err)
	}
	abort = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	commit = func() error {
		if err := tmp.Sync(); err != nil {
			abort()
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := tmp.Close(); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	return tmp, commit, abort, nil
}

// reasonCSVHeader are the columns of `log export -reason`.
var reasonCSVHeader = []string{"decision_id", "finding_id", "time", "physician_code", "department_code", "rule_type", "rule_id",
	"item_codes", "item_names", "message", "evidence", "reason_code", "reason_text", "responded_time", "knowledge_version"}

// exportReasonCSV writes, for every decision matching f, the findings
// whose latest response is RESPONSE_CONTINUE with reason code: a CSV in
// UTF-8 with a byte-order mark (Excel then reads the Chinese right).
func exportReasonCSV(ctx context.Context, s logSource, f logFilter, code string, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("\ufeff")
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(reasonCSVHeader); err != nil {
		return 0, err
	}
	n := 0
	err := s.each(ctx, f, decisionlog.DefaultPageSize, func(d *rxguardv1.Decision) error {
		latest := decisionlog.LatestResponses(d)
		req, resp := d.GetRequest(), d.GetResponse()
		for _, fd := range resp.GetFindings() {
			r := latest[fd.GetFindingId()]
			if r == nil || r.GetResponse() != rxguardv1.Response_RESPONSE_CONTINUE || r.GetReasonCode() != code {
				continue
			}
			if f.ruleType != "" && fd.GetRuleType() != f.ruleType {
				continue
			}
			var codes, names []string
			for _, id := range fd.GetLineIds() {
				for _, o := range req.GetOrders() {
					if o.GetLineId() == id {
						codes = append(codes, canonical(o.GetItemCode()))
						names = append(names, o.GetItemName())
						break
					}
				}
			}
			row := []string{
				d.DecisionId, fd.GetFindingId(), csvTime(d.Time), canonical(req.GetPhysician().GetCode()), decisionlog.DepartmentOf(req),
				fd.GetRuleType(), fd.GetRuleId(), strings.Join(codes, ";"), strings.Join(names, ";"),
				fd.GetMessage(), fd.GetEvidence(), r.GetReasonCode(), r.GetReasonText(),
				csvTime(r.GetRespondedTime()), resp.GetKnowledgeVersion(),
			}
			// Every cell: codes and ids come from the HIS as well.
			for i := range row {
				row[i] = cell(row[i])
			}
			if err := cw.Write(row); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// cell keeps a value from being read as a formula by a spreadsheet (a
// physician's reason text is typed by hand, codes come from the HIS): a leading
// = + - @ gets an apostrophe, as Excel itself does.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ---- rxguard log report ----

func cmdLogReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := addSourceFlags(fs)
	ff := &filterFlags{}
	addRangeFlags(fs, ff)
	by := fs.String("by", "", "physician, department or rule")
	asJSON := fs.Bool("json", false, "print JSON Lines (one report per line) instead of a table")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if err := noArgs(fs, "report"); err != nil {
		return err
	}
	switch *by {
	case "physician", "department", "rule":
	case "":
		return usageError{"log report needs -by physician, department or rule"}
	default:
		return usageError{fmt.Sprintf("-by %q: want physician, department or rule", *by)}
	}
	f, err := ff.parse()
	if err != nil {
		return err
	}
	// The period defaults to the current calendar month (Beijing time),
	// as the report RPCs' does; an end left open is the month's end.
	now := time.Now().In(engine.Shanghai)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, engine.Shanghai)
	if f.from.IsZero() {
		f.from = first
	}
	if f.to.IsZero() {
		f.to = first.AddDate(0, 1, 0)
	}
	if !f.from.Before(f.to) {
		return usageError{fmt.Sprintf("-from %s is not before the end of the report, %s (开始时间须早于结束时间)", f.from.Format(time.RFC3339), f.to.Format(time.RFC3339))}
	}
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()

	bw := bufio.NewWriter(stdout)
	switch *by {
	case "physician":
		err = reportPhysicians(ctx, s, f, *asJSON, bw)
	case "department":
		err = reportDepartments(ctx, s, f, *asJSON, bw)
	case "rule":
		err = reportRules(ctx, s, f, *asJSON, bw)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func period(f logFilter) string {
	const layout = "2006-01-02 15:04"
	return fmt.Sprintf("[%s, %s) Beijing time", f.from.In(engine.Shanghai).Format(layout), f.to.In(engine.Shanghai).Format(layout))
}

// distinctCodes collects the physicians (or departments) of the decisions
// in f's period.
func distinctCodes(ctx context.Context, s logSource, f logFilter, code func(*rxguardv1.CheckOrdersRequest) string) (codes []string, decisions, without int, err error) {
	seen := map[string]bool{}
	err = s.each(ctx, f, 500, func(d *rxguardv1.Decision) error {
		decisions++
		c := code(d.GetRequest())
		if c == "" {
			without++
		} else if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
		return nil
	})
	slices.Sort(codes)
	return codes, decisions, without, err
}

// totals sums a report's rule types.
func totals(rts []*rxguardv1.RuleTypeCount) (findings, continued, modified, unanswered int64) {
	for _, r := range rts {
		findings += r.Findings
		continued += r.Continued
		modified += r.Modified
		unanswered += r.Unanswered
	}
	return
}

func verdictCounts(vs []*rxguardv1.VerdictCount) (pass, warn, block int64) {
	for _, v := range vs {
		switch v.Verdict {
		case rxguardv1.Verdict_VERDICT_PASS:
			pass = v.Decisions
		case rxguardv1.Verdict_VERDICT_WARN:
			warn = v.Decisions
		case rxguardv1.Verdict_VERDICT_BLOCK:
			block = v.Decisions
		}
	}
	return
}

func topItem(items []*rxguardv1.ItemCount) string {
	if len(items) == 0 {
		return ""
	}
	it := items[0]
	return strings.TrimSpace(fmt.Sprintf("%s %s ×%d", it.ItemCode, it.ItemName, it.Findings))
}

func n64(n int64) string { return strconv.FormatInt(n, 10) }

// writeJSONLine writes m as one line of protojson.
func writeJSONLine(w io.Writer, m proto.Message) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// reportPhysicians asks for each physician of the period's report (the
// same numbers the physician's own view and the dashboard show, with the
// qualification status when a sidecar answers).
func reportPhysicians(ctx context.Context, s logSource, f logFilter, asJSON bool, w io.Writer) error {
	codes, decisions, without, err := distinctCodes(ctx, s, f, func(r *rxguardv1.CheckOrdersRequest) string { return canonical(r.GetPhysician().GetCode()) })
	if err != nil {
		return err
	}
	reps := make([]*rxguardv1.GetPhysicianReportResponse, 0, len(codes))
	for _, c := range codes {
		r, err := s.physicianReport(ctx, c, f.from, f.to)
		if err != nil {
			return fmt.Errorf("report of physician %s: %w", c, err)
		}
		reps = append(reps, r)
	}
	slices.SortStableFunc(reps, func(a, b *rxguardv1.GetPhysicianReportResponse) int { return cmp.Compare(b.Decisions, a.Decisions) })
	if asJSON {
		for _, r := range reps {
			if err := writeJSONLine(w, r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(w, "decisions by physician (按医师), %s: %d decisions, %d physicians\n", period(f), decisions, len(reps))
	if without > 0 {
		fmt.Fprintf(w, "(%d decisions name no physician)\n", without)
	}
	if len(reps) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := &table{}
	t.add("PHYSICIAN", "NAME", "STATUS", "POINTS", "DECISIONS", "PASS", "WARN", "BLOCK", "FINDINGS", "CONTINUED", "MODIFIED", "UNANSWERED", "TOP ITEM")
	for _, r := range reps {
		state, points := "-", "-"
		if st := r.GetStatus(); st != nil {
			state = strings.TrimPrefix(st.State.String(), "QUALIFICATION_")
			if st.Until != "" {
				state += " until " + st.Until
			}
			points = strconv.Itoa(int(st.Points))
		}
		pass, warn, block := verdictCounts(r.ByVerdict)
		fi, co, mo, un := totals(r.ByRuleType)
		t.add(r.PhysicianCode, r.Name, state, points, n64(r.Decisions), n64(pass), n64(warn), n64(block),
			n64(fi), n64(co), n64(mo), n64(un), topItem(r.TopItems))
	}
	return t.write(w)
}

func reportDepartments(ctx context.Context, s logSource, f logFilter, asJSON bool, w io.Writer) error {
	codes, decisions, without, err := distinctCodes(ctx, s, f, decisionlog.DepartmentOf)
	if err != nil {
		return err
	}
	reps := make([]*rxguardv1.GetDepartmentReportResponse, 0, len(codes))
	for _, c := range codes {
		r, err := s.departmentReport(ctx, c, f.from, f.to)
		if err != nil {
			return fmt.Errorf("report of department %s: %w", c, err)
		}
		reps = append(reps, r)
	}
	slices.SortStableFunc(reps, func(a, b *rxguardv1.GetDepartmentReportResponse) int { return cmp.Compare(b.Decisions, a.Decisions) })
	if asJSON {
		for _, r := range reps {
			if err := writeJSONLine(w, r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(w, "decisions by department (按科室), %s: %d decisions, %d departments\n", period(f), decisions, len(reps))
	if without > 0 {
		fmt.Fprintf(w, "(%d decisions name no department)\n", without)
	}
	if len(reps) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := &table{}
	t.add("DEPARTMENT", "DECISIONS", "PASS", "WARN", "BLOCK", "FINDINGS", "CONTINUED", "MODIFIED", "UNANSWERED", "PHYSICIANS", "TOP ITEM")
	for _, r := range reps {
		pass, warn, block := verdictCounts(r.ByVerdict)
		fi, co, mo, un := totals(r.ByRuleType)
		t.add(r.DepartmentCode, n64(r.Decisions), n64(pass), n64(warn), n64(block), n64(fi), n64(co), n64(mo), n64(un),
			strconv.Itoa(len(r.Physicians)), topItem(r.TopItems))
	}
	return t.write(w)
}

// ruleCount is one row of `log report -by rule`.
type ruleCount struct {
	RuleType   string `json:"rule_type"`
	Findings   int64  `json:"findings"`
	Block      int64  `json:"block"`
	Warn       int64  `json:"warn"`
	Info       int64  `json:"info"`
	Continued  int64  `json:"continued"`
	Modified   int64  `json:"modified"`
	Unanswered int64  `json:"unanswered"`
	// DataError: continued with DATA_ERROR (the knowledge is wrong).
	DataError int64 `json:"data_error"`
}

// reportRules aggregates the period's findings by rule type, by each
// finding's latest response (as the report RPCs count them).
func reportRules(ctx context.Context, s logSource, f logFilter, asJSON bool, w io.Writer) error {
	counts := map[string]*ruleCount{}
	decisions := 0
	err := s.each(ctx, f, 500, func(d *rxguardv1.Decision) error {
		decisions++
		latest := decisionlog.LatestResponses(d)
		for _, fd := range d.GetResponse().GetFindings() {
			c := counts[fd.GetRuleType()]
			if c == nil {
				c = &ruleCount{RuleType: fd.GetRuleType()}
				counts[fd.GetRuleType()] = c
			}
			c.Findings++
			switch fd.GetAction() {
			case rxguardv1.Action_ACTION_BLOCK:
				c.Block++
			case rxguardv1.Action_ACTION_WARN:
				c.Warn++
			case rxguardv1.Action_ACTION_INFO:
				c.Info++
			}
			r := latest[fd.GetFindingId()]
			switch r.GetResponse() {
			case rxguardv1.Response_RESPONSE_CONTINUE:
				c.Continued++
				if r.GetReasonCode() == "DATA_ERROR" {
					c.DataError++
				}
			case rxguardv1.Response_RESPONSE_MODIFY:
				c.Modified++
			default:
				c.Unanswered++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rows := make([]*ruleCount, 0, len(counts))
	for _, c := range counts {
		rows = append(rows, c)
	}
	slices.SortFunc(rows, func(a, b *ruleCount) int {
		return cmp.Or(cmp.Compare(b.Findings, a.Findings), cmp.Compare(a.RuleType, b.RuleType))
	})
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(w, "findings by rule type (按规则类型), %s: %d decisions\n", period(f), decisions)
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := &table{}
	t.add("RULE TYPE", "FINDINGS", "BLOCK", "WARN", "INFO", "CONTINUED", "MODIFIED", "UNANSWERED", "DATA_ERROR")
	for _, r := range rows {
		t.add(r.RuleType, n64(r.Findings), n64(r.Block), n64(r.Warn), n64(r.Info), n64(r.Continued), n64(r.Modified),
			n64(r.Unanswered), n64(r.DataError))
	}
	return t.write(w)
}

// ---- tables ----

// table aligns columns by their width on a terminal, where a Chinese
// character takes two cells (text/tabwriter counts it as one).
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		b.Reset()
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " ")); err != nil {
			return err
		}
	}
	return nil
}

func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		if wide(r) {
			n += 2
		} else if r >= 0x20 || r == utf8.RuneError {
			n++
		}
	}
	return n
}

// wide: East Asian wide and fullwidth characters (Markus Kuhn's wcwidth
// ranges).
func wide(r rune) bool {
	return r >= 0x1100 && (r <= 0x115f || r == 0x2329 || r == 0x232a ||
		(r >= 0x2e80 && r <= 0xa4cf && r != 0x303f) || (r >= 0xac00 && r <= 0xd7a3) ||
		(r >= 0xf900 && r <= 0xfaff) || (r >= 0xfe30 && r <= 0xfe6f) || (r >= 0xff00 && r <= 0xff60) ||
		(r >= 0xffe0 && r <= 0xffe6) || (r >= 0x20000 && r <= 0x3fffd))
}

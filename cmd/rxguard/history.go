package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// sharedColumns is the regional sharing platform's export, in this order
// (docs/operations.md, "Results shared by other hospitals").
var sharedColumns = []string{"patient_id", "item_code", "item_name", "hospital_code", "time", "report_id"}

// maxSharedRows bounds one export file: a region's day of shared results
// for one hospital's patients is thousands of rows; a million is a
// mistaken file, and reading it whole would cost the machine the sidecar
// runs on.
const maxSharedRows = 1_000_000

// sharedLocalLayout is the platform's local-time format (Asia/Shanghai).
const sharedLocalLayout = "2006-01-02 15:04:05"

// sharedRow is one data row of an export, its time normalised to RFC 3339.
type sharedRow struct {
	line    int
	patient string
	result  *rxguardv1.SharedResult
}

// parseSharedCSV reads a platform export whole. Any bad row is an error
// naming its line, so a file is sent entirely or not at all. Each row is
// validated by the same validator the RecordSharedResults RPC applies (at
// now, the local clock), so a file that passes here passes there. An
// identical row repeated is kept once; the same patient, item and report
// with another time is an error (which time is right cannot be told).
func parseSharedCSV(r io.Reader, now time.Time) ([]sharedRow, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("line 1: the file is empty; expected the header " + strings.Join(sharedColumns, ","))
	}
	if err != nil {
		return nil, err // *csv.ParseError names the line
	}
	if err := checkSharedHeader(header); err != nil {
		return nil, err
	}
	type identity struct{ patient, item, report string }
	seen := map[identity]int{} // → index in rows
	var rows []sharedRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rows) == maxSharedRows {
			return nil, fmt.Errorf("line %d: more than %d rows; split the export into smaller files", line, maxSharedRows)
		}
		row, err := sharedRowOf(line, rec, now)
		if err != nil {
			return nil, err
		}
		code, _ := knowledge.CanonicalCode(row.result.ItemCode)
		id := identity{row.patient, code, validate.SharedReportID(row.result.ReportId)}
		if j, ok := seen[id]; ok {
			first := rows[j]
			if first.result.Time != row.result.Time {
				return nil, fmt.Errorf("line %d: patient %s item %s report %s is also on line %d with another time (%s, %s); correct the export",
					line, row.patient, code, id.report, first.line, first.result.Time, row.result.Time)
			}
			continue // the same result twice: recorded once
		}
		seen[id] = len(rows)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("the file has a header but no rows")
	}
	return rows, nil
}

func checkSharedHeader(header []string) error {
	got := make([]string, len(header))
	for i, h := range header {
		got[i] = strings.ToLower(strings.TrimSpace(h))
	}
	if strings.Join(got, ",") != strings.Join(sharedColumns, ",") {
		return fmt.Errorf("line 1: header is %q; expected exactly %s", strings.Join(header, ","), strings.Join(sharedColumns, ","))
	}
	return nil
}

// sharedRowOf turns one record into a result and validates it alone.
func sharedRowOf(line int, rec []string, now time.Time) (sharedRow, error) {
	at := strings.TrimSpace(rec[4])
	if t, err := time.ParseInLocation(sharedLocalLayout, at, engine.Shanghai); err == nil {
		at = t.Format(time.RFC3339)
	}
	row := sharedRow{line: line, patient: strings.TrimSpace(rec[0]), result: &rxguardv1.SharedResult{
		ItemCode: rec[1], ItemName: strings.TrimSpace(rec[2]), HospitalCode: rec[3], Time: at, ReportId: rec[5],
	}}
	req := &rxguardv1.RecordSharedResultsRequest{PatientId: row.patient, Results: []*rxguardv1.SharedResult{row.result}}
	if _, err := validate.RecordSharedResults(req, validate.DefaultLimits(), now); err != nil {
		var b strings.Builder
		fmt.Fprintf(&b, "line %d:", line)
		for _, v := range validate.Violations(err) {
			// "results[0].time" → "time": the line is the result.
			fmt.Fprintf(&b, " %s: %s;", strings.TrimPrefix(v.Field, "results[0]."), v.Description)
		}
		return sharedRow{}, errors.New(strings.TrimSuffix(b.String(), ";"))
	}
	return row, nil
}

// sharedBatches groups rows by patient (in order of first appearance) into
// requests of at most max results.
func sharedBatches(rows []sharedRow, max int) []*rxguardv1.RecordSharedResultsRequest {
	byPatient := map[string][]*rxguardv1.SharedResult{}
	var order []string
	for _, r := range rows {
		if _, ok := byPatient[r.patient]; !ok {
			order = append(order, r.patient)
		}
		byPatient[r.patient] = append(byPatient[r.patient], r.result)
	}
	var out []*rxguardv1.RecordSharedResultsRequest
	for _, p := range order {
		rs := byPatient[p]
		for len(rs) > 0 {
			n := min(len(rs), max)
			out = append(out, &rxguardv1.RecordSharedResultsRequest{PatientId: p, Results: rs[:n]})
			rs = rs[n:]
		}
	}
	return out
}

// cmdHistoryImport sends a platform export to a running sidecar's
// RecordSharedResults. It goes through the RPC rather than writing the
// history store directly: the sidecar keeps serving (Badger allows one
// writer, so a direct write would need it stopped), its cache sees the
// new results at once, and they pass the same validation as any client's.
// Every row is checked before anything is sent; sending is per patient, and
// if it fails part-way, running the import again is safe (a result already
// recorded is not stored twice).
func cmdHistoryImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("server", server.DefaultGRPCAddr, "address of a running rxguard")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for each call")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"history import needs exactly one CSV file (" + strings.Join(sharedColumns, ",") + ")"}
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	rows, err := parseSharedCSV(f, time.Now())
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w; nothing was sent", path, err)
	}
	conn, err := dialSidecar(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := rxguardv1.NewGuardServiceClient(conn)
	batches := sharedBatches(rows, validate.DefaultLimits().MaxHistory)
	recorded, sent := 0, 0
	for i, req := range batches {
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		resp, err := client.RecordSharedResults(cctx, req)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %d of %d results sent (%d new) before request %d of %d failed: %w; run the import again once the cause is fixed (results already recorded are not stored twice)",
				path, sent, len(rows), recorded, i+1, len(batches), describeError(err))
		}
		recorded += int(resp.Recorded)
		sent += len(req.Results)
	}
	patients := map[string]bool{}
	for _, r := range rows {
		patients[r.patient] = true
	}
	fmt.Fprintf(stdout, "%s: %d results of %d patients sent, %d new (%d already recorded)\n",
		path, len(rows), len(patients), recorded, len(rows)-recorded)
	return nil
}

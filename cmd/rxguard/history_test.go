package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/history"
	"github.com/rxguard/rxguard/server/validate"
)

const sharedHeader = "patient_id,item_code,item_name,hospital_code,time,report_id\n"

// sharedNow is the clock the parser tests validate at.
var sharedNow = time.Date(2026, 11, 22, 10, 0, 0, 0, engine.Shanghai)

func TestParseSharedCSV(t *testing.T) {
	rows, err := parseSharedCSV(strings.NewReader("\ufeff"+sharedHeader+
		"P1,002103000010000,CT平扫,H37080002,2026-11-20 09:30:00,RPT-1\n"+
		"P1, 002501010150000 ,血常规, h37080002 ,2026-11-20T09:30:00+08:00, RPT-2 \n"+
		"P2,002103000010000,,H37080003,2026-11-21T01:00:00Z,RPT-3\n"+
		"P1,002103000010000,CT平扫,H37080002,2026-11-20 09:30:00,RPT-1\n"), sharedNow) // repeat: kept once
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3 (the repeat kept once)", len(rows))
	}
	// Local platform time is Asia/Shanghai.
	if rows[0].result.Time != "2026-11-20T09:30:00+08:00" || rows[0].line != 2 || rows[2].line != 4 {
		t.Errorf("rows %+v %+v", rows[0], rows[2])
	}
	batches := sharedBatches(rows, 1)
	if len(batches) != 3 || batches[0].PatientId != "P1" || batches[1].PatientId != "P1" || batches[2].PatientId != "P2" {
		t.Errorf("batches %v", batches)
	}
	if b := sharedBatches(rows, 2000); len(b) != 2 || len(b[0].Results) != 2 {
		t.Errorf("batches %v", b)
	}
}

func TestParseSharedCSVErrors(t *testing.T) {
	ok := "P1,002103000010000,CT,H1,2026-11-20 09:30:00,R1\n"
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"empty", "", []string{"line 1", "empty"}},
		{"header only", sharedHeader, []string{"no rows"}},
		{"wrong header", "patient,item_code,item_name,hospital_code,time,report_id\n" + ok, []string{"line 1", "header"}},
		{"missing column", "patient_id,item_code,item_name,hospital_code,time\nP1,002103000010000,CT,H1,2026-11-20 09:30:00\n", []string{"line 1", "header"}},
		{"short row", sharedHeader + ok + "P1,002103000010000,CT\n", []string{"line 3", "wrong number of fields"}},
		{"bad time", sharedHeader + ok + "P1,002103000010000,CT,H1,20/11/2026,R2\n", []string{"line 3", "time"}},
		{"future time", sharedHeader + ok + "P1,002103000010000,CT,H1,2026-11-23 09:30:00,R2\n", []string{"line 3", "time"}},
		{"drug code", sharedHeader + ok + ok + "P1,XB01ACD9002A001010199902,阿司匹林,H1,2026-11-20 09:30:00,R2\n", []string{"line 4", "item_code"}},
		{"no patient", sharedHeader + ",002103000010000,CT,H1,2026-11-20 09:30:00,R2\n", []string{"line 2", "patient_id"}},
		{"no hospital", sharedHeader + "P1,002103000010000,CT,,2026-11-20 09:30:00,R2\n", []string{"line 2", "hospital_code"}},
		{"no report", sharedHeader + "P1,002103000010000,CT,H1,2026-11-20 09:30:00,\n", []string{"line 2", "report_id"}},
		{"same report other time", sharedHeader + ok + "P1,002103000010000,CT,H1,2026-11-20 10:30:00,R1\n", []string{"line 3", "line 2", "another time"}},
		{"bad quoting", sharedHeader + "P1,\"002103000010000,CT,H1,2026-11-20 09:30:00,R1\n", []string{"line 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSharedCSV(strings.NewReader(tc.file), sharedNow)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func FuzzParseSharedCSV(f *testing.F) {
	f.Add("\ufeff" + sharedHeader + "P1,002103000010000,CT,H1,2026-11-20 09:30:00,R1\nP1,002103000010000,CT,H1,2026-11-20T09:30:00+08:00,R1\n")
	f.Add(sharedHeader + "P1,\"0021\n03\",CT,H1,x,R1\n")
	f.Add("a,b\n1,2\n")
	f.Fuzz(func(t *testing.T, file string) {
		rows, err := parseSharedCSV(strings.NewReader(file), sharedNow)
		if err != nil {
			return
		}
		// What is accepted is exactly what the RPC accepts.
		for _, req := range sharedBatches(rows, validate.DefaultLimits().MaxHistory) {
			if _, err := validate.RecordSharedResults(req, validate.DefaultLimits(), sharedNow); err != nil {
				t.Fatalf("parser accepted what the RPC refuses: %v", err)
			}
		}
	})
}

// startHistorySidecar is a sidecar on loopback with a history store on disk.
func startHistorySidecar(t *testing.T) (addr string, hist *history.Store) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hist, err := history.Open(context.Background(), history.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hist.Close() })
	eng, _ := engine.New(engine.Config{})
	srv := server.New(server.Options{Engine: eng, Logger: log,
		Service: check.New(check.Options{Engine: eng, History: hist, Limits: validate.DefaultLimits(), Logger: log})})
	srv.SetReady()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String(), hist
}

func TestHistoryImportCommand(t *testing.T) {
	addr, hist := startHistorySidecar(t)
	now := time.Now().In(engine.Shanghai)
	at := func(d time.Duration) string { return now.Add(-d).Format(sharedLocalLayout) }
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A file with a bad row sends nothing.
	bad := write("bad.csv", sharedHeader+
		fmt.Sprintf("P1,002103000010000,CT,H37080002,%s,RPT-1\n", at(48*time.Hour))+
		fmt.Sprintf("P1,002103000010000,CT,H37080002,%s,\n", at(24*time.Hour)))
	out, err := runCmd(t, "history", "import", "-server", addr, bad)
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("bad file: %v\n%s", err, out)
	}
	if got, err := hist.Lookup(context.Background(), "P1", time.Time{}, now.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("bad file wrote %v %v", got, err)
	}

	good := write("good.csv", "\ufeff"+sharedHeader+
		fmt.Sprintf("P1,002103000010000,CT平扫,H37080002,%s,RPT-1\n", at(48*time.Hour))+
		fmt.Sprintf("P1,002501010150000,血常规,H37080002,%s,RPT-2\n", at(47*time.Hour))+
		fmt.Sprintf("P2,002103000010000,CT平扫,H37080003,%s,RPT-3\n", at(24*time.Hour)))
	out = mustRun(t, "history", "import", "-server", addr, good)
	if !strings.Contains(out, "3 results of 2 patients sent, 3 new") {
		t.Errorf("output %q", out)
	}
	got, err := hist.Lookup(context.Background(), "P1", time.Time{}, now.Add(time.Hour))
	if err != nil || len(got) != 2 {
		t.Fatalf("P1 history %v %v", got, err)
	}
	if e := got[0]; e.ItemCode != "002103000010000" || e.HospitalCode != "H37080002" || e.ReportID != "RPT-1" || e.Quantity != 1 ||
		e.LineID != check.SharedLinePrefix+"RPT-1" || e.Time.Unix() != now.Add(-48*time.Hour).Unix() {
		t.Errorf("entry %+v", e)
	}
	// Importing the same export again stores nothing.
	if out := mustRun(t, "history", "import", "-server", addr, good); !strings.Contains(out, "0 new (3 already recorded)") {
		t.Errorf("again: %q", out)
	}
	// No sidecar: the error says so and names the file's progress.
	if _, err := runCmd(t, "history", "import", "-server", "127.0.0.1:1", "-timeout", "2s", good); err == nil || !strings.Contains(err.Error(), "0 of 3 results sent") {
		t.Errorf("no sidecar: %v", err)
	}
}

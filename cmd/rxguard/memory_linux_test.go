package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/resident"
)

// The decisions a sidecar writes do not stay in its resident set: their
// pages are given back within about a second (releaseInterval), and
// every decision still reads back whole.
func TestSidecarGivesBackTheDecisionLogsPages(t *testing.T) {
	cfg := defaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	s := startSidecarConfig(t, cfg)
	decisions := resident.NewDirs(filepath.Join(s.data, "decisions"))
	status := func() resident.Status {
		t.Helper()
		resp, err := http.Get("http://" + s.http + "/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			Memory *resident.Status `json:"memory"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Memory == nil {
			t.Fatalf("/status: %v, memory %v", err, st.Memory)
		}
		return *st.Memory
	}

	// About 2 MB of decisions, written through the value log's map.
	req := exampleOrder(t)
	var answered []*rxguardv1.CheckOrdersResponse
	for i := range 600 {
		r := proto.Clone(req).(*rxguardv1.CheckOrdersRequest)
		r.Encounter.Id = fmt.Sprintf("MEM-%04d", i)
		resp, err := s.guard.CheckOrders(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		answered = append(answered, resp)
	}
	// Read back: every decision is recorded, which also means written.
	for _, want := range []*rxguardv1.CheckOrdersResponse{answered[0], answered[len(answered)-1]} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			got, err := s.audit.GetDecision(t.Context(), &rxguardv1.GetDecisionRequest{DecisionId: want.DecisionId})
			if err == nil {
				if !proto.Equal(got.Decision.Response, want) {
					t.Fatalf("decision %s reads back as %v", want.DecisionId, got.Decision.Response)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("decision %s not recorded: %v", want.DecisionId, err)
			}
		}
	}

	// Two releases after the last write: its pages are given back.
	n := status().Releases
	deadline := time.Now().Add(10 * time.Second)
	for status().Releases < n+2 {
		if time.Now().After(deadline) {
			t.Fatalf("the sidecar released its logs' pages %d times in 10 s", status().Releases-n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := decisions.Resident(); err != nil || got > 256<<10 {
		t.Errorf("the decision log's files hold %d bytes of the resident set after two releases (%v); want ≤ 256 KiB", got, err)
	}
	st := status()
	if !st.Supported || st.LastError != "" || st.AdvisedBytes == 0 || st.DroppedBytes == 0 || st.RSSAnonBytes == 0 || st.RSSFileBytes == 0 {
		t.Errorf("/status memory = %+v", st)
	}
	// The knowledge store's tables (the demo release's, read whole when it
	// was built and compiled) are dropped from the resident set too; the
	// checks are answered from the compiled index and answer as before.
	if tables, _ := filepath.Glob(filepath.Join(s.data, "kb", "*.sst")); len(tables) == 0 {
		t.Fatal("the knowledge store has no table file: the test shows nothing")
	}
	files, err := resident.FileRSS(0)
	if err != nil {
		t.Fatal(err)
	}
	for path, n := range files {
		if strings.HasSuffix(path, ".sst") && strings.HasPrefix(path, filepath.Join(s.data, "kb")) && n > 64<<10 {
			t.Errorf("knowledge table %s holds %d bytes of the resident set after two releases; want ≤ 64 KiB", path, n)
		}
	}
	r := proto.Clone(req).(*rxguardv1.CheckOrdersRequest)
	r.Encounter.Id = "MEM-AFTER"
	again, err := s.guard.CheckOrders(t.Context(), r)
	if err != nil || again.Verdict != answered[0].Verdict || len(again.Findings) != len(answered[0].Findings) || len(again.Findings) == 0 {
		t.Errorf("a check after the release answers %v (%v), before %v", again, err, answered[0])
	}
	out := mustRun(t, "status", "-http", s.http)
	if !regexp.MustCompile(`memory +[0-9.]+ [KMG]iB heap, [0-9.]+ [KMG]iB file pages`).MatchString(out) || strings.Contains(out, "logs' pages") {
		t.Errorf("rxguard status does not show the memory (or shows a release problem):\n%s", out)
	}
	// After the release the decisions still read back whole.
	for _, want := range answered[:50] {
		got, err := s.audit.GetDecision(t.Context(), &rxguardv1.GetDecisionRequest{DecisionId: want.DecisionId})
		if err != nil || !proto.Equal(got.Decision.Response, want) {
			t.Fatalf("decision %s after the release: %v", want.DecisionId, err)
		}
	}
}

package nhsa

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/validate"
)

var fuzzNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func seedFiles(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// mustNamePath fails unless err is a FieldError with a path.
func mustNamePath(t *testing.T, err error) {
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path == "" || fe.Reason == "" {
		t.Fatalf("refusal without a field path: %#v", err)
	}
}

// FuzzDecode3101: decoding and mapping never panic; what decodes maps to
// requests that either validate or are refused with field paths the
// adapter names, and whose findings translate to a reply.
func FuzzDecode3101(f *testing.F) {
	seedFiles(f, "3101-outpatient.json", "3101-inpatient-discharge.json", "3102-settlement.json")
	f.Add([]byte(`{"infno":"3101","input":{"data":{"syscode":1,"task_id":2,"patient_dtos":{"curr_mdtrt_id":3,"fsi_encounter_dtos":[{"mdtrt_id":3,"insutype":310,"fsi_order_dtos":[null,{"cnt":"1e400"}]}]}}}}`))
	f.Add([]byte(`{"infno":"3102","input":{"trigScen":{"syscode":"S","task_id":"T","trig_scen":"8","patient_dtos":[{"fsi_encounter_dtos":[{"insutype":"310","fsi_order_dtos":[{"rx_id":"1","hilist_code":"名称","hilist_name":"X1","drord_begn_date":"2026-13-45"}]}]}]}}}`))
	f.Add([]byte(`{"infno":"3101","input":{"data":[]}}`))
	f.Add([]byte(`nul`))
	tb, err := Config{}.tables()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		units, n, err := convert(body, tb)
		if err != nil {
			mustNamePath(t, err)
			return
		}
		if len(n.list) > maxNotes {
			t.Fatalf("%d notes", len(n.list))
		}
		for _, u := range units {
			if _, err := validate.CheckOrders(u.req, validate.DefaultLimits(), fuzzNow); err != nil {
				vs := validate.Violations(err)
				if len(vs) == 0 {
					t.Fatalf("refused without violations: %v", err)
				}
				for _, v := range vs {
					if p := u.origin.national(v.Field); p == "" || (p == "CheckOrdersRequest."+v.Field && v.Field != "request" && !strings.HasPrefix(v.Field, "previous_encounters")) {
						t.Errorf("violation %s: %s has no national path", v.Field, v.Description)
					}
				}
			}
			// Any finding translates, lines known or not.
			var ids []string
			for _, o := range u.req.Orders {
				ids = append(ids, o.LineId)
			}
			resp := &rxguardv1.CheckOrdersResponse{Findings: []*rxguardv1.Finding{
				{FindingId: "D-1", RuleType: "DRUG_GENDER", Action: rxguardv1.Action_ACTION_BLOCK, LineIds: append(ids, "no-such-line"), Message: strings.Repeat("长", 600)},
				{FindingId: "D-2", RuleType: "X", Source: "plugin:p"},
			}}
			rs := results(u, "T", resp)
			if len(rs) != 2 || len(rs[0].Details) != len(ids)+1 || rs[0].SevDeg != "1" || rs[1].SevDeg != "3" {
				t.Fatalf("results %v", rs)
			}
			if len([]rune(rs[0].VolaCont)) > maxText || rs[0].VolaAmt < 0 {
				t.Fatalf("vola_cont %d runes, vola_amt %d", len([]rune(rs[0].VolaCont)), rs[0].VolaAmt)
			}
		}
	})
}

// FuzzDecode3103: decoding and grouping never panic; what decodes groups
// into RecordResponses that either validate or are refused with paths of
// the warns.
func FuzzDecode3103(f *testing.F) {
	f.Add([]byte(`{"infno":"3103","inf_time":"2026-11-22 10:05:00","input":{"data":{"warn_type":1,"warns":[{"warn_rslt_id":"019ad0c4-7e00-7000-8000-000000000001-1","dspo_way":"1","dspo_way_rea":"病情需要"},{"warn_rslt_id":"019ad0c4-7e00-7000-8000-000000000001-2","dspo_way":2}]}}}`))
	f.Add([]byte(`{"infno":"3103","input":{"data":{"warn_type":"2","warns":{"warn_rslt_id":"a-1","dspo_way":"1","dspo_way_rea":"CLINICAL_NEED"}}}}`))
	f.Add([]byte(`{"infno":"3103","input":{"data":{"warn_type":"2","warns":[{"warn_rslt_id":"a-1","dspo_way":"1","dspo_way_rea":"x"},{"warn_rslt_id":"a-1","dspo_way":"2"}]}}}`))
	f.Add([]byte(`{"infno":"3103","input":{"data":{"warn_type":1,"warns":[null,7]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := decodeEnvelope(body)
		if err != nil {
			mustNamePath(t, err)
			return
		}
		fb, err := decodeFeedback(env)
		if err != nil {
			mustNamePath(t, err)
			return
		}
		groups, err := groupWarns(env, fb)
		if err != nil {
			mustNamePath(t, err)
			return
		}
		n := 0
		for _, g := range groups {
			n += len(g.req.Responses)
			if len(g.req.Responses) != len(g.warns) || len(g.warns) == 0 {
				t.Fatalf("group of %d responses, %d warns", len(g.req.Responses), len(g.warns))
			}
			for _, r := range g.req.Responses {
				if !strings.HasPrefix(r.FindingId, g.req.DecisionId+"-") {
					t.Fatalf("finding %s grouped under %s", r.FindingId, g.req.DecisionId)
				}
				if r.ReasonCode != "" && !validate.IsReasonCode(r.ReasonCode) {
					t.Fatalf("reason code %q", r.ReasonCode)
				}
			}
			if _, err := validate.RecordResponse(g.req, validate.DefaultLimits(), fuzzNow); err != nil {
				for _, v := range validate.Violations(err) {
					if p := g.national(v.Field); p == "" || (strings.HasPrefix(p, "RecordResponseRequest.") && v.Field != "request") {
						t.Errorf("violation %s has no national path", v.Field)
					}
				}
			}
		}
		if n != len(fb.Warns) {
			t.Fatalf("%d warns grouped into %d responses", len(fb.Warns), n)
		}
	})
}

package nhsa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.want.json from the current replies")

// Golden: national-shape 3101 and 3102 payloads → the reply, and the
// CheckOrdersRequests the check service decided, read back from the
// decision log (the mapping, pinned). Decision ids and reply times are
// masked; everything else is the committed expectation.
func TestGolden(t *testing.T) {
	s := startSidecar(t, nhsaConfigDefault())
	for _, name := range []string{"3101-outpatient", "3101-inpatient-discharge", "3101-admission", "3102-settlement"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			code, raw, reply := s.postRaw(t, "/nhsa/"+name[:4], body)
			if code != 200 || reply["infcode"] != float64(0) || reply["err_msg"] != "" {
				t.Fatalf("status %d reply %s", code, raw)
			}
			// Numbers as sent: vola_amt keeps its two decimals.
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var exact any
			if err := dec.Decode(&exact); err != nil {
				t.Fatal(err)
			}
			got := map[string]any{"reply": exact, "checked": s.checkedRequests(t, reply)}
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = maskIDs(t, b, reply)
			want := filepath.Join("testdata", name+".want.json")
			if *update {
				if err := os.WriteFile(want, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			w, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(w), bytes.TrimSpace(b)) {
				t.Errorf("reply differs from %s (run with -update after checking the change):\n%s", want, diffLines(string(w), string(b)))
			}
		})
	}
}

// checkedRequests reads each decision of a reply back from the decision
// log: the request as the check service received it.
func (s *sidecar) checkedRequests(t *testing.T, reply map[string]any) []any {
	t.Helper()
	var out []any
	for _, d := range decisions(reply) {
		got, err := s.audit.GetDecision(context.Background(), &rxguardv1.GetDecisionRequest{DecisionId: d})
		if err != nil {
			t.Fatalf("GetDecision %s: %v", d, err)
		}
		b, err := protojson.Marshal(got.Decision.Request)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil { // protojson's spacing is unstable on purpose
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func decisions(reply map[string]any) []string {
	var ids []string
	out, _ := reply["output"].(map[string]any)
	ds, _ := out["decisions"].([]any)
	for _, d := range ds {
		ids = append(ids, d.(map[string]any)["decision_id"].(string))
	}
	return ids
}

// maskIDs replaces decision ids by DECISION-1, -2, … in order, and the
// reply times by a placeholder.
func maskIDs(t *testing.T, b []byte, reply map[string]any) []byte {
	t.Helper()
	s := string(b)
	for i, id := range decisions(reply) {
		if len(id) != 36 {
			t.Errorf("decision id %q is not a UUID", id)
		}
		s = strings.ReplaceAll(s, id, fmt.Sprintf("DECISION-%d", i+1))
	}
	for _, k := range []string{"refmsg_time", "respond_time"} {
		if v, ok := reply[k].(string); ok && v != "" {
			s = strings.ReplaceAll(s, `"`+k+`": "`+v+`"`, `"`+k+`": "<time>"`)
		}
	}
	return []byte(s)
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, a, c)
			if b.Len() > 4000 {
				break
			}
		}
	}
	return b.String()
}

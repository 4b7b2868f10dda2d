package nhsa_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// Concurrent requests share the pooled body and reply buffers: each
// reply must still answer its own request (its msgid, its findings) and
// bad and good bodies must not bleed into each other.
func TestConcurrentRequestsKeepTheirOwnReplies(t *testing.T) {
	s := startSidecar(t, nhsaConfigDefault())
	good := tenLines()
	_, want := s.post(t, "/nhsa/3101", good)
	wantResults := len(want["output"].(map[string]any)["result"].([]any))
	if wantResults == 0 {
		t.Fatal("the ten-line order has no findings: the test would not notice mixed-up replies")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				msgid := fmt.Sprintf("M-%d-%d", g, i)
				body := bytes.Replace(good, []byte(`"msgid":"M1"`), []byte(`"msgid":"`+msgid+`"`), 1)
				if i%3 == 0 {
					body = []byte(`{"infno":"3101","msgid":"` + msgid + `","input":{"data":{"syscode":"S"}}}`)
				}
				code, _, r, err := s.tryPost("/nhsa/3101", body)
				if err != nil {
					t.Error(err)
					return
				}
				if r["inf_refmsgid"] != msgid {
					t.Errorf("%s answered as %v", msgid, r["inf_refmsgid"])
				}
				switch {
				case i%3 == 0 && (code != 400 || r["err_msg"] != "input.data.task_id: 任务ID必填 (task_id is required)"):
					t.Errorf("%s: %d %v", msgid, code, r["err_msg"])
				case i%3 != 0 && (code != 200 || len(r["output"].(map[string]any)["result"].([]any)) != wantResults):
					t.Errorf("%s: %d %v", msgid, code, r)
				}
			}
		})
	}
	wg.Wait()
}

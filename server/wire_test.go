package server

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/benchorder"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
)

// appended passes appends on to the decision log and keeps them.
type appended struct {
	check.DecisionLog
	entries chan decisionlog.Entry
}

func (a *appended) Append(ctx context.Context, e decisionlog.Entry) {
	a.entries <- e
	a.DecisionLog.Append(ctx, e)
}

// Over gRPC the decision record is given the request's bytes as the HIS
// sent them and the response's bytes as the HIS received them.
func TestCheckOrdersRecordsTheBytesThatCrossedTheWire(t *testing.T) {
	log := &appended{entries: make(chan decisionlog.Entry, 1)}
	ts := startServerWith(t, engine.Config{}, parts{wrapLog: func(l check.DecisionLog) check.DecisionLog {
		log.DecisionLog = l
		return log
	}})
	sent, err := proto.Marshal(benchorder.Order(10))
	if err != nil {
		t.Fatal(err)
	}
	var received []byte
	if err := ts.conn.Invoke(t.Context(), rxguardv1.GuardService_CheckOrders_FullMethodName, &sent, &received, grpc.ForceCodecV2(rawCodec{})); err != nil {
		t.Fatal(err)
	}
	e := <-log.entries
	if !bytes.Equal(e.RequestWire, sent) {
		t.Errorf("the record was given %d request bytes, the HIS sent %d (equal: %v)", len(e.RequestWire), len(sent), bytes.Equal(e.RequestWire, sent))
	}
	if len(received) == 0 || !bytes.Equal(e.ResponseWire, received) {
		t.Errorf("the record was given %d response bytes, the HIS received %d", len(e.ResponseWire), len(received))
	}
	var resp rxguardv1.CheckOrdersResponse
	if err := proto.Unmarshal(received, &resp); err != nil || !proto.Equal(&resp, e.Response) || resp.DecisionId != e.ID {
		t.Errorf("the response received (%v) is not the one recorded", err)
	}
}

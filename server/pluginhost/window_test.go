package pluginhost

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// The host↔plugin connection has a fixed flow-control window
// (sdk.GRPCDialOptions, sdk.NewGRPCServer) instead of one grown by
// bandwidth-delay estimation. A request and an answer larger than the
// window, and ones between grpc-go's default 64 KiB and the window, still
// cross it whole in both directions (the test plugin's finding names every
// line of the request).
func TestMessagesLargerThanTheWindow(t *testing.T) {
	cfg := okConfig("big", "BIG")
	cfg.Timeout = 20 * time.Second // megabytes through -race on a small machine
	m := startManager(t, cfg)
	for _, lines := range []int{1, 4_000, 60_000} { // ≈ 0.1 kB, 200 kB, 3 MB
		t.Run(fmt.Sprint(lines), func(t *testing.T) {
			req := request("big")
			req.Request.Orders = nil
			for i := range lines {
				req.Request.Orders = append(req.Request.Orders, &rxguardv1.OrderLine{
					LineId: fmt.Sprintf("line-%06d-with-a-longish-id", i), ItemCode: "XJ01CAA040A001010101445"})
			}
			fs := m.Evaluate(context.Background(), req)
			if !isReal(fs, "big", "BIG") || len(fs[0].LineIds) != lines {
				t.Fatalf("request of %d bytes: %d findings, %v", proto.Size(req), len(fs), m.Status()[0].LastError)
			}
			if got, want := fs[0].LineIds[lines-1], req.Request.Orders[lines-1].LineId; got != want {
				t.Fatalf("last line id %q, want %q", got, want)
			}
		})
	}
	if s := m.Status()[0]; s.Errors+s.Timeouts != 0 {
		t.Fatalf("errors: %+v", s)
	}
}

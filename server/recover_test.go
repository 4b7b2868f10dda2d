package server

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A panicking handler fails its own call with Internal and is counted; the
// process goes on.
func TestRecovererTurnsPanicIntoInternal(t *testing.T) {
	r := &recoverer{log: quietLog}
	info := &grpc.UnaryServerInfo{FullMethod: "/rxguard.v1.GuardService/CheckOrders"}
	_, err := r.unary(context.Background(), nil, info, func(context.Context, any) (any, error) {
		panic("boom")
	})
	if status.Code(err) != codes.Internal || r.panics.Load() != 1 {
		t.Fatalf("err %v, panics %d", err, r.panics.Load())
	}
	resp, err := r.unary(context.Background(), nil, info, func(context.Context, any) (any, error) { return "ok", nil })
	if err != nil || resp != "ok" || r.panics.Load() != 1 {
		t.Fatalf("a normal call after a panic: %v %v", resp, err)
	}
	err = r.stream(nil, nil, &grpc.StreamServerInfo{FullMethod: "/x/Y"}, func(any, grpc.ServerStream) error { panic("stream") })
	if status.Code(err) != codes.Internal || r.panics.Load() != 2 {
		t.Fatalf("stream: %v %d", err, r.panics.Load())
	}
}

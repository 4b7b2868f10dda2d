package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverer turns a panic in a handler into an Internal error for that one
// call, logged with its stack and counted, instead of a crash of the
// sidecar that every other caller would see. Bad input must never panic
// (every decoder is fuzzed); this is the second line.
type recoverer struct {
	log    *slog.Logger
	panics atomic.Uint64
}

func (r *recoverer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer r.recover(info.FullMethod, &err)
	return handler(ctx, req)
}

func (r *recoverer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer r.recover(info.FullMethod, &err)
	return handler(srv, ss)
}

func (r *recoverer) recover(method string, err *error) {
	if p := recover(); p != nil {
		r.panics.Add(1)
		r.log.Error("handler panicked; the call fails with Internal, the sidecar goes on", "method", method, "panic", p, "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "internal error in rxguard (logged); please report it to hospital IT")
	}
}

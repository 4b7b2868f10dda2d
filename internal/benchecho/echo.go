// Package benchecho is the echo baseline of rxguard's gRPC benchmarks: a
// service that decodes a CheckOrdersRequest and answers a pre-built
// CheckOrdersResponse, so a request and a response of the same size as a
// real check move through the same gRPC server, codec and interceptors
// without any rule work. It is the physical limit a check is measured
// against (docs/PERFORMANCE.md). It is never part of the product: only
// benchmarks and the benchecho build of rxguard (go build -tags benchecho)
// register it.
package benchecho

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// ServiceName is the echo service's gRPC name.
const ServiceName = "rxguard.bench.v1.Echo"

// Full method names, for grpc.ClientConn.Invoke.
const (
	EchoMethod  = "/" + ServiceName + "/Echo"
	PrimeMethod = "/" + ServiceName + "/Prime"
)

// Service answers Echo with the response given to Prime.
type Service struct {
	resp atomic.Pointer[rxguardv1.CheckOrdersResponse]
}

// Register adds s to a gRPC server (before it serves).
func Register(r grpc.ServiceRegistrar, s *Service) { r.RegisterService(&desc, s) }

// SetResponse sets the response Echo answers.
func (s *Service) SetResponse(resp *rxguardv1.CheckOrdersResponse) { s.resp.Store(resp) }

func (s *Service) echo(_ context.Context, _ *rxguardv1.CheckOrdersRequest) (*rxguardv1.CheckOrdersResponse, error) {
	r := s.resp.Load()
	if r == nil {
		return nil, status.Error(codes.FailedPrecondition, "benchecho: no response primed; call Prime with a CheckOrdersResponse first")
	}
	return r, nil
}

// Echo calls the echo service over conn.
func Echo(ctx context.Context, conn grpc.ClientConnInterface, req *rxguardv1.CheckOrdersRequest) (*rxguardv1.CheckOrdersResponse, error) {
	out := new(rxguardv1.CheckOrdersResponse)
	if err := conn.Invoke(ctx, EchoMethod, req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Prime sets the response the server's echo answers: the client sends the
// response of a real check, so both sides of the echo have the check's
// sizes.
func Prime(ctx context.Context, conn grpc.ClientConnInterface, resp *rxguardv1.CheckOrdersResponse) error {
	return conn.Invoke(ctx, PrimeMethod, resp, new(emptypb.Empty))
}

var desc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(rxguardv1.CheckOrdersRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			s := srv.(*Service)
			if ic == nil {
				return s.echo(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: EchoMethod}, func(ctx context.Context, req any) (any, error) {
				return s.echo(ctx, req.(*rxguardv1.CheckOrdersRequest))
			})
		}},
		{MethodName: "Prime", Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(rxguardv1.CheckOrdersResponse)
			if err := dec(in); err != nil {
				return nil, err
			}
			s := srv.(*Service)
			prime := func(_ context.Context, req any) (any, error) {
				s.SetResponse(req.(*rxguardv1.CheckOrdersResponse))
				return &emptypb.Empty{}, nil
			}
			if ic == nil {
				return prime(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: PrimeMethod}, prime)
		}},
	},
	Metadata: "internal/benchecho",
}

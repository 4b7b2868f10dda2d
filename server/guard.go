// Package server is the rxguard sidecar's transports: the gRPC GuardService
// and AuditService, health and reflection, and the HTTP endpoints. Every
// decision is the check service's (server/check); the handlers here only
// translate errors to their transport.
package server

import (
	"context"
	"slices"

	"google.golang.org/grpc"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/grpccodec"
)

// Guard implements rxguard.v1.GuardService over the check service.
type Guard struct {
	rxguardv1.UnimplementedGuardServiceServer
	svc *check.Service
}

// NewGuard returns the gRPC adapter of svc.
func NewGuard(svc *check.Service) *Guard { return &Guard{svc: svc} }

func (g *Guard) CheckOrders(ctx context.Context, req *rxguardv1.CheckOrdersRequest) (*rxguardv1.CheckOrdersResponse, error) {
	resp, err := g.svc.Check(ctx, req)
	return resp, grpcError(err)
}

// guardServiceDesc is GuardService's registration. When decisions are
// recorded, CheckOrders is served by checkOrdersWire: the request's bytes
// and the response's encoding go to the decision record as they crossed
// the wire, instead of the record encoding both messages again.
func guardServiceDesc(svc *check.Service) *grpc.ServiceDesc {
	d := rxguardv1.GuardService_ServiceDesc
	if svc == nil || !svc.Records() {
		return &d
	}
	d.Methods = slices.Clone(d.Methods)
	for i := range d.Methods {
		if d.Methods[i].MethodName == "CheckOrders" {
			d.Methods[i].Handler = checkOrdersWire
		}
	}
	return &d
}

// checkOrdersWire is the generated CheckOrders handler, except that the
// request is decoded into a grpccodec.Received (keeping its bytes) and the
// response returned as a grpccodec.Encoded (sent as it is). The
// interceptors see the request and pass it on unchanged, as the generated
// handler assumes too.
func checkOrdersWire(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := &grpccodec.Received{Msg: new(rxguardv1.CheckOrdersRequest)}
	if err := dec(in); err != nil {
		return nil, err
	}
	g := srv.(*Guard)
	handler := func(ctx context.Context, req any) (any, error) {
		resp, wire, err := g.svc.CheckWire(ctx, req.(*rxguardv1.CheckOrdersRequest), in.Wire)
		if err != nil {
			return nil, grpcError(err)
		}
		if wire == nil {
			return resp, nil
		}
		return &grpccodec.Encoded{Wire: wire}, nil
	}
	if interceptor == nil {
		return handler(ctx, in.Msg)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: rxguardv1.GuardService_CheckOrders_FullMethodName}
	return interceptor(ctx, in.Msg, info, handler)
}

func (g *Guard) ExplainItem(ctx context.Context, req *rxguardv1.ExplainItemRequest) (*rxguardv1.ExplainItemResponse, error) {
	resp, err := g.svc.Explain(ctx, req)
	return resp, grpcError(err)
}

func (g *Guard) GetPhysicianStatus(ctx context.Context, req *rxguardv1.GetPhysicianStatusRequest) (*rxguardv1.GetPhysicianStatusResponse, error) {
	resp, err := g.svc.PhysicianStatus(ctx, req)
	return resp, grpcError(err)
}

func (g *Guard) RecordSigned(ctx context.Context, req *rxguardv1.RecordSignedRequest) (*rxguardv1.RecordSignedResponse, error) {
	resp, err := g.svc.RecordSigned(ctx, req)
	return resp, grpcError(err)
}

// RecordSharedResults records results from the regional sharing platform
// (检查检验结果互认) as the patient's history; errors map as for RecordSigned.
func (g *Guard) RecordSharedResults(ctx context.Context, req *rxguardv1.RecordSharedResultsRequest) (*rxguardv1.RecordSharedResultsResponse, error) {
	resp, err := g.svc.RecordSharedResults(ctx, req)
	return resp, grpcError(err)
}

func (g *Guard) RecordResponse(ctx context.Context, req *rxguardv1.RecordResponseRequest) (*rxguardv1.RecordResponseResponse, error) {
	resp, err := g.svc.RecordResponse(ctx, req)
	return resp, grpcError(err)
}

// GetPhysicianReport is the physician's own view (the same report the
// AuditService gives the 医保办).
func (g *Guard) GetPhysicianReport(ctx context.Context, req *rxguardv1.GetPhysicianReportRequest) (*rxguardv1.GetPhysicianReportResponse, error) {
	resp, err := g.svc.PhysicianReport(ctx, req)
	return resp, grpcError(err)
}

// Audit implements rxguard.v1.AuditService over the check service.
type Audit struct {
	rxguardv1.UnimplementedAuditServiceServer
	svc *check.Service
}

func (a *Audit) GetDecision(ctx context.Context, req *rxguardv1.GetDecisionRequest) (*rxguardv1.GetDecisionResponse, error) {
	resp, err := a.svc.GetDecision(ctx, req)
	return resp, grpcError(err)
}

func (a *Audit) QueryDecisions(ctx context.Context, req *rxguardv1.QueryDecisionsRequest) (*rxguardv1.QueryDecisionsResponse, error) {
	resp, err := a.svc.QueryDecisions(ctx, req)
	return resp, grpcError(err)
}

func (a *Audit) GetPhysicianReport(ctx context.Context, req *rxguardv1.GetPhysicianReportRequest) (*rxguardv1.GetPhysicianReportResponse, error) {
	resp, err := a.svc.PhysicianReport(ctx, req)
	return resp, grpcError(err)
}

func (a *Audit) GetDepartmentReport(ctx context.Context, req *rxguardv1.GetDepartmentReportRequest) (*rxguardv1.GetDepartmentReportResponse, error) {
	resp, err := a.svc.DepartmentReport(ctx, req)
	return resp, grpcError(err)
}

package benchecho

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Echo refuses until primed, then answers exactly the primed response.
func TestEchoAnswersThePrimedResponse(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	Register(srv, &Service{})
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	req := &rxguardv1.CheckOrdersRequest{RequestId: "r", Orders: []*rxguardv1.OrderLine{{LineId: "1", ItemCode: "001109000010000"}}}
	if _, err := Echo(ctx, conn, req); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("unprimed echo: %v, want FailedPrecondition", err)
	}
	want := &rxguardv1.CheckOrdersResponse{RequestId: "r", Findings: []*rxguardv1.Finding{{RuleType: "DUPLICATE_CHARGE", Message: "重复收费"}}}
	if err := Prime(ctx, conn, want); err != nil {
		t.Fatal(err)
	}
	got, err := Echo(ctx, conn, req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("echo answered %v, want %v", got, want)
	}
}

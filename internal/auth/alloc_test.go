package auth

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc/peer"
)

// An allowed gRPC call costs the interceptor no allocation (it runs before
// every CheckOrders): the remote address is only formatted for a refusal.
func TestAllowedCallDoesNotAllocate(t *testing.T) {
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
	roles := MethodRoles{"/rxguard.v1.GuardService/CheckOrders": HIS, "/grpc.health.v1.Health/Check": Public}
	for _, tc := range []struct {
		name, method string
		a            *Authenticator
	}{
		{"auth off", "/rxguard.v1.GuardService/CheckOrders", nil},
		{"a public method with auth on", "/grpc.health.v1.Health/Check", New(Config{Listener: "grpc"})},
	} {
		if err := tc.a.grpcCheck(ctx, roles, tc.method); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := testing.AllocsPerRun(100, func() {
			_ = tc.a.grpcCheck(ctx, roles, tc.method)
		}); n != 0 {
			t.Errorf("%s: %v allocations per allowed call, want 0", tc.name, n)
		}
	}
}

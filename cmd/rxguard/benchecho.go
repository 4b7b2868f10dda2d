//go:build benchecho

package main

import (
	"google.golang.org/grpc"

	"github.com/rxguard/rxguard/internal/benchecho"
)

// The benchecho build (go build -tags benchecho; scripts/bench-scale.sh)
// serves the echo baseline on the sidecar's own gRPC server, so the wire
// benchmark compares CheckOrders with moving the same bytes through the
// same server in the same process.
func init() {
	benchServices = func(r grpc.ServiceRegistrar) { benchecho.Register(r, &benchecho.Service{}) }
}

package main

import "google.golang.org/grpc"

// benchServices registers benchmark-only gRPC services beside the product
// API; nil except in the benchecho build (benchecho.go), which adds the echo
// baseline of docs/PERFORMANCE.md.
var benchServices func(grpc.ServiceRegistrar)

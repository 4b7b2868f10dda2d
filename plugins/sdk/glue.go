// Package sdk is what a local-policy plugin author needs: implement Policy
// (or just an EvaluateFunc) and call Serve from main. It also holds the
// go-plugin glue the rxguard host uses to talk to plugins, so both sides
// share one handshake and one plugin map.
package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
)

// ProtocolVersion is the version of rxguard.plugin.v1 this SDK speaks. The
// go-plugin handshake refuses a plugin built for another version, with an
// error naming both versions.
const ProtocolVersion = 1

// Handshake is shared by host and plugins. The magic cookie only keeps a
// plugin binary from being run by hand by mistake; it is not security
// (the host pins each plugin's SHA-256 for that).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "RXGUARD_PLUGIN",
	MagicCookieValue: "rxguard-local-policy",
}

// PluginName is the key of the policy plugin in the go-plugin plugin map.
const PluginName = "policy"

// Policy is what a plugin implements.
type Policy interface {
	Describe(ctx context.Context) (*pluginv1.DescribeResponse, error)
	Evaluate(ctx context.Context, req *pluginv1.EvaluateRequest) (*pluginv1.EvaluateResponse, error)
}

// GRPCPlugin adapts a Policy to go-plugin's gRPC transport. The host uses
// it with a nil Impl (client side only).
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Policy
}

// GRPCServer registers the plugin's implementation (plugin side).
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPolicyPluginServiceServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a pluginv1.PolicyPluginServiceClient (host side).
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginv1.NewPolicyPluginServiceClient(c), nil
}

// PluginMap is the plugin set both sides declare.
func PluginMap(impl Policy) map[string]plugin.Plugin {
	return map[string]plugin.Plugin{PluginName: &GRPCPlugin{Impl: impl}}
}

type server struct {
	pluginv1.UnimplementedPolicyPluginServiceServer
	impl Policy
}

func (s *server) Describe(ctx context.Context, req *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	return s.impl.Describe(ctx)
}

func (s *server) Evaluate(ctx context.Context, req *pluginv1.EvaluateRequest) (*pluginv1.EvaluateResponse, error) {
	return s.impl.Evaluate(ctx, req)
}

// windowSize is the fixed HTTP/2 flow-control window, per stream and per
// connection, on both ends of the host↔plugin connection. Fixing it
// (instead of grpc-go's default 64 KiB grown by bandwidth-delay
// estimation) turns the estimator off: it sends a PING on nearly every
// message received and the peer answers it, two more frames, writes and
// wake-ups per call on each side of a connection that carries one small
// request (≈ 2.5 kB for 10 lines) and answer per check. At 1 MiB a request
// waits for a window update only above 1 MiB (the sidecar accepts up to
// 4 MiB); flow control still works, it just never grows the window.
const windowSize = 1 << 20

// NewGRPCServer is the plugin side's gRPC server (go-plugin's
// ServeConfig.GRPCServer): go-plugin's default with the fixed window.
func NewGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, grpc.InitialWindowSize(windowSize), grpc.InitialConnWindowSize(windowSize))...)
}

// GRPCDialOptions are the host side's options for the connection to a
// plugin (go-plugin's ClientConfig.GRPCDialOptions): the fixed window.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithInitialWindowSize(windowSize), grpc.WithInitialConnWindowSize(windowSize)}
}

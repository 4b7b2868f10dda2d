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

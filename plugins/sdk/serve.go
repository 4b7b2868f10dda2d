package sdk

import "github.com/hashicorp/go-plugin"

// Serve runs p as an rxguard plugin over go-plugin's gRPC transport and
// returns when the host tells the plugin to stop. Call it last in main:
//
//	func main() {
//		sdk.Serve(sdk.Simple("my-rule", "1.0.0", "what it checks", []string{"MY-RULE"}, evaluate))
//	}
//
// The binary refuses to run when started by hand (go-plugin's magic cookie):
// only the rxguard host, or sdktest, starts it. Anything the plugin writes to
// stderr (log.Printf, hclog) ends up in the host's log.
func Serve(p Policy) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginMap(p),
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

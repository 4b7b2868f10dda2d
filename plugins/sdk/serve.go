package sdk

import (
	"os"
	"runtime"

	"github.com/hashicorp/go-plugin"
)

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
//
// Serve runs the plugin on one processor (runtime.GOMAXPROCS(1)) unless
// the GOMAXPROCS environment variable says otherwise. A call is a few
// goroutine hand-offs (transport reader, handler, writer) around
// microseconds of rule work: on one P they stay on one thread, where with
// several each hand-off wakes another thread, which then spins looking for
// work on the cores the sidecar needs for the same check (measured: 15–25 %
// less CPU per call in the plugin, see BenchmarkPluginsAtScale). A plugin
// that does heavy work per call can set GOMAXPROCS in its environment.
func Serve(p Policy) {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginMap(p),
		GRPCServer:      NewGRPCServer,
	})
}

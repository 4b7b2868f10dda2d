// Command echo is the plugin sdktest's own tests start over the real
// go-plugin transport. It raises one INFO finding per order line, panics on a
// line whose item_code is "PANIC", answers "GOMAXPROCS <n>" (its own
// runtime.GOMAXPROCS) for a line whose item_code is "GOMAXPROCS", and with
// -protocol-version N (N != the SDK's) pretends to be built against another
// rxguard.plugin version.
package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"

	"github.com/hashicorp/go-plugin"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
)

func main() {
	version := flag.Uint("protocol-version", sdk.ProtocolVersion, "handshake protocol version to announce")
	prefix := flag.String("prefix", "echo", "message prefix")
	flag.Parse()

	policy := sdk.Simple("echo", "0.0.1", "test plugin", []string{"ECHO"},
		func(_ context.Context, req *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) {
			var out []*rxguardv1.Finding
			for _, l := range req.GetRequest().GetOrders() {
				switch l.GetItemCode() {
				case "PANIC":
					panic("asked to panic")
				case "GOMAXPROCS":
					out = append(out, sdk.Finding("ECHO", "TEST", rxguardv1.Action_ACTION_INFO, []string{l.GetLineId()},
						fmt.Sprintf("GOMAXPROCS %d", runtime.GOMAXPROCS(0)), "", ""))
					continue
				}
				out = append(out, sdk.Finding("ECHO", "TEST", rxguardv1.Action_ACTION_INFO, []string{l.GetLineId()},
					fmt.Sprintf("%s %s", *prefix, l.GetItemCode()), "", ""))
			}
			return out, nil
		})

	if *version == sdk.ProtocolVersion {
		sdk.Serve(policy)
		return
	}
	hs := sdk.Handshake
	hs.ProtocolVersion = *version
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         sdk.PluginMap(policy),
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

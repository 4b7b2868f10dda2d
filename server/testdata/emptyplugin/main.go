// Command emptyplugin is the floor under the example plugins in
// BenchmarkPluginsAtScale: a plugin built with the same SDK (sdk.Simple,
// sdk.Serve) that judges nothing and answers no findings at once, so a call
// to it is one empty round trip to a plugin process.
package main

import (
	"context"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
)

func main() {
	sdk.Serve(sdk.Simple("empty", "0.0.1", "benchmark floor: answers no findings", []string{"EMPTY"},
		func(context.Context, *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) { return nil, nil }))
}

package server

import (
	"context"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// PluginRunner evaluates a check with the hospital's local-policy plugins.
// It applies each plugin's deadline and failure policy itself and never
// fails: a plugin that cannot answer contributes its failure finding.
type PluginRunner interface {
	Evaluate(ctx context.Context, req *pluginv1.EvaluateRequest) []*rxguardv1.Finding
}

// WithPlugins makes every check also run the plugins, in parallel with the
// built-in rules.
func (g *Guard) WithPlugins(p PluginRunner) *Guard {
	g.plugins = p
	return g
}

// startPlugins runs the plugins on their own goroutine; the result channel
// delivers exactly once. nil when there are no plugins.
func (g *Guard) startPlugins(ctx context.Context, req *rxguardv1.CheckOrdersRequest, status *rxguardv1.PhysicianStatus) <-chan []*rxguardv1.Finding {
	if g.plugins == nil {
		return nil
	}
	version := ""
	if idx := g.engine.Index(); idx != nil {
		version = idx.Version()
	}
	out := make(chan []*rxguardv1.Finding, 1)
	go func() {
		out <- g.plugins.Evaluate(ctx, &pluginv1.EvaluateRequest{Request: req, PhysicianStatus: status, KnowledgeVersion: version})
	}()
	return out
}

// Package pluginhost runs the hospital's local-policy plugins: separate
// executables speaking rxguard.plugin.v1 over hashicorp/go-plugin (gRPC).
//
// For each configured plugin the host
//   - pins the executable: its SHA-256 is checked before every exec (by
//     this package at Start, and by go-plugin's SecureConfig right before
//     each exec, restarts included); a file that does not match is never run;
//   - ties the process to the host: on Linux it is started with
//     PR_SET_PDEATHSIG=SIGKILL from a thread that lives as long as the
//     Manager, so it dies with the host even if the host is SIGKILLed;
//   - supervises it: a goroutine per plugin notices a dead process (within
//     25 ms, or at once when a call fails with Unavailable) and starts a new
//     one with backoff (50 ms doubling to 1 s; back to 50 ms after a healthy
//     run);
//   - gives each process its own directory for go-plugin's Unix socket,
//     below one per-Manager directory in TMPDIR, and removes it when the
//     process has exited (a crashed plugin cannot remove its socket) and
//     the Manager's directory on Close;
//   - calls it on every check in parallel with the other plugins, each under
//     its own deadline, and when it cannot answer (down, error, deadline)
//     applies its failure policy: fail_open adds one INFO finding, fail_closed
//     one WARN finding (rule_type PLUGIN_UNAVAILABLE);
//   - keeps one PluginStatus per plugin for health, metrics and the status
//     page.
//
// The hot path takes no lock: the running process is an atomic pointer the
// supervisor swaps, counters are atomics.
package pluginhost

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Manager runs a fixed set of plugins. It is safe for concurrent use.
type Manager struct {
	plugins []*plug
	log     *slog.Logger
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	// sockRoot holds the plugins' socket directories; Close removes it.
	sockRoot string
}

// Start validates cfgs and starts every plugin. A config problem (empty or
// duplicate name, empty path, missing or malformed pin, negative timeout,
// unknown policy) is an error, joined from *ConfigError values, and nothing
// is started.
//
// A plugin whose executable is missing or does not match its pin is not
// executed: its state is not_started with the reason, the Manager starts
// anyway, and Evaluate applies the plugin's failure policy.
//
// Start returns once every plugin is running or its first start attempt
// has failed, or when ctx ends, whichever comes first; plugins still
// starting then come up in the background (Evaluate applies their failure
// policy until they do). ctx does not bound the plugins' lifetime: Close
// does. A nil log means slog.Default().
func Start(ctx context.Context, cfgs []Config, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	cfgs, pins, err := validate(cfgs)
	if err != nil {
		return nil, err
	}
	m := &Manager{log: log, stop: make(chan struct{}), sockRoot: newSocketRoot(log)}
	for i, c := range cfgs {
		if abs, err := filepath.Abs(c.Path); err == nil {
			c.Path = abs
		}
		p := newPlug(c, pins[i], log)
		p.sockRoot = m.sockRoot
		m.plugins = append(m.plugins, p)
	}
	settled := make(chan struct{}, len(m.plugins))
	for _, p := range m.plugins {
		m.wg.Go(func() {
			p.supervise(m.stop, func() { settled <- struct{}{} })
		})
	}
	for range m.plugins {
		select {
		case <-settled:
		case <-ctx.Done():
			log.Warn("plugins still starting; continuing in the background", "error", ctx.Err())
			return m, nil
		}
	}
	return m, nil
}

// Evaluate runs every plugin on req in parallel, each under its own
// deadline, and returns their findings, in configuration order. Findings
// carry Source "plugin:<name>", Overridable = action != BLOCK and an empty
// FindingId (the server numbers findings); a plugin's unspecified or
// unknown action becomes WARN. A plugin that cannot answer contributes the
// one finding of its failure policy. Evaluate returns within the largest
// plugin timeout (or when ctx ends) plus scheduling overhead, and never
// panics. A nil or closed Manager returns its failure findings or nothing.
func (m *Manager) Evaluate(ctx context.Context, req *pluginv1.EvaluateRequest) []*rxguardv1.Finding {
	if m == nil || len(m.plugins) == 0 {
		return nil
	}
	if req == nil {
		req = &pluginv1.EvaluateRequest{}
	}
	if len(m.plugins) == 1 {
		return m.plugins[0].run(ctx, req)
	}
	return m.parallel(ctx, req)
}

// parallel runs plugins 1..n-1 on their own goroutines and plugin 0 on
// this one. (Separate from Evaluate so the closure's captures do not move
// Evaluate's parameters to the heap on the paths that need no goroutine.)
func (m *Manager) parallel(ctx context.Context, req *pluginv1.EvaluateRequest) []*rxguardv1.Finding {
	results := make([][]*rxguardv1.Finding, len(m.plugins))
	var wg sync.WaitGroup
	for i := 1; i < len(m.plugins); i++ {
		wg.Go(func() { results[i] = m.plugins[i].run(ctx, req) })
	}
	results[0] = m.plugins[0].run(ctx, req)
	wg.Wait()
	n := 0
	for _, r := range results {
		n += len(r)
	}
	out := make([]*rxguardv1.Finding, 0, n)
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// Status returns one PluginStatus per plugin, in configuration order.
func (m *Manager) Status() []PluginStatus {
	if m == nil {
		return nil
	}
	out := make([]PluginStatus, len(m.plugins))
	for i, p := range m.plugins {
		out[i] = p.status()
	}
	return out
}

// Close stops supervision and kills every plugin process (gracefully
// first, SIGKILL after 2 s, or after killGrace when a plugin does not even
// answer the request to exit), waiting until they are gone, and removes the
// plugins' socket directory. It is safe to call more than once; Evaluate
// keeps working afterwards and applies the failure policies.
func (m *Manager) Close() error {
	if m == nil {
		return nil
	}
	m.once.Do(func() { close(m.stop) })
	m.wg.Wait()
	if m.sockRoot != "" {
		if err := os.RemoveAll(m.sockRoot); err != nil {
			m.log.Warn("cannot remove the plugin socket directory", "dir", m.sockRoot, "error", err.Error())
		}
	}
	return nil
}

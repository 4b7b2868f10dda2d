package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/server/pluginhost"
)

// Fixes a plugin sent that were dropped as invalid are counted per plugin
// on /metrics, beside its calls and errors.
func TestPluginCollectorCountsBadFixes(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newPluginCollector(func() []pluginhost.PluginStatus {
		return []pluginhost.PluginStatus{{Name: "high-cost", State: pluginhost.StateRunning, BadFixes: 6}}
	}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "rxguard_plugin_bad_fixes_total" {
			continue
		}
		m := f.GetMetric()
		if len(m) != 1 || m[0].GetCounter().GetValue() != 6 || m[0].GetLabel()[0].GetValue() != "high-cost" {
			t.Fatalf("rxguard_plugin_bad_fixes_total = %v, want 6 for high-cost", m)
		}
		return
	}
	t.Fatal("no rxguard_plugin_bad_fixes_total on the registry")
}

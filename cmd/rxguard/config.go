package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/pluginhost"
)

// config is the sidecar's configuration file (JSON). Flags given on the
// command line override it.
type config struct {
	GRPCAddr string         `json:"grpc_addr"`
	HTTPAddr string         `json:"http_addr"`
	DataDir  string         `json:"data_dir"`
	Engine   engine.Config  `json:"engine"`
	Plugins  []pluginConfig `json:"plugins,omitempty"`
}

// pluginConfig is one local-policy plugin in the configuration file.
type pluginConfig struct {
	Name      string   `json:"name"`
	Path      string   `json:"path"`
	SHA256    string   `json:"sha256"`
	Args      []string `json:"args,omitempty"`
	Timeout   string   `json:"timeout,omitempty"`    // Go duration, e.g. "20ms"
	OnFailure string   `json:"on_failure,omitempty"` // fail_open (default) or fail_closed
}

func (c config) pluginHostConfigs() ([]pluginhost.Config, error) {
	out := make([]pluginhost.Config, 0, len(c.Plugins))
	for i, p := range c.Plugins {
		var timeout time.Duration
		if p.Timeout != "" {
			d, err := time.ParseDuration(p.Timeout)
			if err != nil {
				return nil, fmt.Errorf("plugins[%d] (%s): timeout %q: %w", i, p.Name, p.Timeout, err)
			}
			timeout = d
		}
		out = append(out, pluginhost.Config{Name: p.Name, Path: p.Path, SHA256: p.SHA256, Args: p.Args,
			Timeout: timeout, OnFailure: pluginhost.Policy(p.OnFailure)})
	}
	return out, nil
}

func defaultConfig() config {
	return config{GRPCAddr: server.DefaultGRPCAddr, HTTPAddr: server.DefaultHTTPAddr, DataDir: "./data"}
}

func loadConfig(path string) (config, error) {
	c := defaultConfig()
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// storeFlags are the flags every command that opens the store shares.
func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "./data", "data directory holding the knowledge store")
}

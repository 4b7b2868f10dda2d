package main

import (
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/rxguard/rxguard/knowledge"
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
	Bureau   bureauConfig   `json:"bureau,omitzero"`
	// GRPC and HTTP bound the listeners' connections (conn_config.go).
	GRPC grpcConfig `json:"grpc,omitzero"`
	HTTP httpConfig `json:"http,omitzero"`
	// MinFreeBytes: below this much free space on a store's filesystem the
	// store refuses writes (disk.go); 0 means badgerdb.DefaultMinFreeBytes for the stores opened.
	MinFreeBytes int64 `json:"min_free_bytes,omitempty"`
	// DecisionLog is the decision record (sidecar.go).
	DecisionLog decisionLogConfig `json:"decision_log,omitzero"`
	// Security is TLS and credentials by role (security_config.go).
	Security securityConfig `json:"security,omitzero"`
}

// bureauConfig points the sidecar at the bureau. Without an address the
// sidecar serves its persisted (or embedded demo) release and never polls.
type bureauConfig struct {
	Address      string   `json:"address"`
	TrustedKeys  []string `json:"trusted_keys"`            // ed25519 public keys, base64 or hex
	PollInterval string   `json:"poll_interval,omitempty"` // Go duration; default 1m
	StaleAfter   string   `json:"stale_after,omitempty"`   // default max(3×poll, 15m)
	MaxBackoff   string   `json:"max_backoff,omitempty"`   // default 10m
	// MaxClockSkew: a release created further after this host's clock is
	// refused (sync and kb import-release); default 24h.
	MaxClockSkew string `json:"max_clock_skew,omitempty"`
	// TLS: CAFile verifies the bureau's certificate; empty means plaintext
	// (a bureau gateway on the hospital intranet).
	CAFile string `json:"ca_file,omitempty"`
	// CertFile and KeyFile are the sidecar's client certificate for a
	// bureau that requires mutual TLS (reloaded when they change).
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// positiveDuration parses a duration of the configuration: "" is 0 (the
// component's default), anything else must be a positive Go duration; the
// error names key.
func positiveDuration(key, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive Go duration (e.g. \"30s\", \"5ms\", \"24h\")", key, s)
	}
	return d, nil
}

func (b bureauConfig) durations() (poll, stale, backoff time.Duration, err error) {
	if poll, err = positiveDuration("bureau.poll_interval", b.PollInterval); err != nil {
		return
	}
	if stale, err = positiveDuration("bureau.stale_after", b.StaleAfter); err != nil {
		return
	}
	backoff, err = positiveDuration("bureau.max_backoff", b.MaxBackoff)
	return
}

// maxClockSkew is bureau.max_clock_skew (0: bureausync's default).
func (b bureauConfig) maxClockSkew() (time.Duration, error) {
	return positiveDuration("bureau.max_clock_skew", b.MaxClockSkew)
}

func parseTrustedKeys(keys []string) ([]ed25519.PublicKey, error) {
	out := make([]ed25519.PublicKey, 0, len(keys))
	for i, k := range keys {
		pk, err := knowledge.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("trusted key %d: %w", i+1, err)
		}
		out = append(out, pk)
	}
	return out, nil
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
	// Strict: an unknown key stops the start with its path (a silently
	// ignored rule setting is a clinical risk); then the values decode into
	// the types, whose errors name their field too.
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return c, fmt.Errorf("config %s is not valid JSON: %w", path, err)
	}
	if err := unknownKey(doc, reflect.TypeFor[config](), ""); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
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

package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rxguard/rxguard/internal/strictconf"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/cdshooks"
	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/nhsa"
	"github.com/rxguard/rxguard/server/pluginhost"
)

// config is the sidecar's configuration file: YAML (or JSON, which is
// YAML), decoded strictly by internal/strictconf (docs/operations.md,
// "Configuration file"). Flags given on the command line override it.
//
// Adding a section: add its field here, with the json tag that is its key,
// and give its type (in the package that owns it) a `Validate() error`
// reporting keys relative to the section (strictconf.Validator). validate
// calls it, and TestConfigSectionsValidateThemselves fails until it exists;
// TestExampleDocumentsEveryKey fails until example.yaml documents every
// key of it, with its default.
type config struct {
	GRPCAddr string        `json:"grpc_addr"`
	HTTPAddr string        `json:"http_addr"`
	DataDir  string        `json:"data_dir"`
	Engine   engine.Config `json:"engine"`
	Plugins  pluginsConfig `json:"plugins,omitempty"`
	Bureau   bureauConfig  `json:"bureau,omitzero"`
	// GRPC and HTTP bound the listeners' connections (conn_config.go).
	GRPC grpcConfig `json:"grpc,omitzero"`
	HTTP httpConfig `json:"http,omitzero"`
	// MinFreeBytes: below this much free space on a store's filesystem the
	// store refuses writes (disk.go); 0 means badgerdb.DefaultMinFreeBytes for the stores opened.
	MinFreeBytes int64 `json:"min_free_bytes,omitempty"`
	// DecisionLog is the decision record (sidecar.go).
	DecisionLog decisionLogConfig `json:"decision_log,omitzero"`
	// CDSHooks is the HL7 CDS Hooks endpoint (docs/cds-hooks.md).
	CDSHooks cdshooks.Config `json:"cds_hooks,omitzero"`
	// NHSA is the national 3101/3102/3103 endpoints (server/nhsa).
	NHSA nhsa.Config `json:"nhsa,omitzero"`
	// Encryption encrypts the patient history and the decision log at
	// rest (encryption.go).
	Encryption encryptionConfig `json:"encryption,omitzero"`
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
// error starts with key.
func positiveDuration(key, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive Go duration (e.g. \"30s\", \"5ms\", \"24h\")", key, s)
	}
	return d, nil
}

// Validate checks the section's durations and keys (strictconf.Validator).
// An address without a trusted key is refused here, not only when sync
// starts, so `config check` finds it.
func (b bureauConfig) Validate() error {
	var errs []error
	for key, v := range map[string]string{"poll_interval": b.PollInterval, "stale_after": b.StaleAfter,
		"max_backoff": b.MaxBackoff, "max_clock_skew": b.MaxClockSkew} {
		if _, err := positiveDuration(key, v); err != nil {
			errs = append(errs, err)
		}
	}
	for i, k := range b.TrustedKeys {
		if _, err := knowledge.ParsePublicKey(k); err != nil {
			errs = append(errs, fmt.Errorf("trusted_keys[%d]: %w", i, err))
		}
	}
	if b.Address != "" && len(b.TrustedKeys) == 0 {
		errs = append(errs, errors.New("trusted_keys: empty, but address is set: bureau sync needs at least one trusted publisher key (or -trusted-key)"))
	}
	return errors.Join(errs...)
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

// pluginsConfig is the "plugins" section: the local-policy plugins.
type pluginsConfig []pluginConfig

// pluginFieldKey maps pluginhost.ConfigError's field names to the keys.
var pluginFieldKey = map[string]string{"Name": "name", "Path": "path", "SHA256": "sha256",
	"Timeout": "timeout", "OnFailure": "on_failure"}

// Validate reports what pluginhost.Start would refuse, by key
// (strictconf.Validator).
func (ps pluginsConfig) Validate() error {
	// Both: a bad timeout does not hide a missing pin.
	cfgs, err := ps.hostConfigs()
	out := flatten(err)
	for _, e := range flatten(pluginhost.Validate(cfgs)) {
		var ce *pluginhost.ConfigError
		if errors.As(e, &ce) {
			out = append(out, fmt.Errorf("[%d].%s: %s", ce.Index, pluginFieldKey[ce.Field], ce.Problem))
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// flatten lists the leaves of an errors.Join tree.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
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
	cfgs, err := c.Plugins.hostConfigs()
	if err != nil {
		return nil, strictconf.Within("plugins", err)
	}
	return cfgs, nil
}

// hostConfigs parses the timeouts; errors name "[i].timeout".
func (ps pluginsConfig) hostConfigs() ([]pluginhost.Config, error) {
	out := make([]pluginhost.Config, 0, len(ps))
	var errs []error
	for i, p := range ps {
		timeout, err := positiveDuration(fmt.Sprintf("[%d].timeout", i), p.Timeout)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, pluginhost.Config{Name: p.Name, Path: p.Path, SHA256: p.SHA256, Args: p.Args,
			Timeout: timeout, OnFailure: pluginhost.Policy(p.OnFailure)})
	}
	return out, errors.Join(errs...)
}

func defaultConfig() config {
	return config{GRPCAddr: server.DefaultGRPCAddr, HTTPAddr: server.DefaultHTTPAddr, DataDir: "./data"}
}

// loadConfig reads the file at path ("" means none: every default) and
// checks it: the file must be valid on its own (`config check` and `serve`
// agree). `serve` checks again after applying its flags.
func loadConfig(path string) (config, error) {
	c, f, err := decodeConfig(path)
	if err != nil {
		return c, err
	}
	return c, c.check(f)
}

// configFile is what decoding a file left for check: where its keys are
// and the keys that did not decode.
type configFile struct {
	path string // "": no file
	pos  *strictconf.Positions
	errs strictconf.Errors
}

// decodeConfig reads and strictly decodes the file at path over the
// defaults. A file that cannot be read or parsed is an error; keys that
// do not decode are kept in the configFile, so check reports them with
// every invalid value (all problems of a file at once).
func decodeConfig(path string) (config, *configFile, error) {
	c := defaultConfig()
	f := &configFile{path: path}
	if path == "" {
		return c, f, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, nil, fmt.Errorf("read config: %w (rxguard config example prints a complete one)", err)
	}
	// Strict: an unknown key stops the start with its path (a silently
	// ignored rule setting is a clinical risk), and so does a value of the
	// wrong type or an unset ${VAR}.
	pos, err := strictconf.Decode(b, &c, strictconf.Options{})
	if err != nil {
		var errs strictconf.Errors
		if pos == nil || !errors.As(err, &errs) {
			return c, nil, fmt.Errorf("config %s: %w", path, err)
		}
		f.errs = errs
	}
	f.pos = pos
	return c, f, nil
}

// check validates c and reports the file's decoding errors with it; errors
// carry the line of their key and name the file.
func (c *config) check(f *configFile) error {
	errs := append(strictconf.Errors(nil), f.errs...)
	for _, e := range c.validate() {
		// A key that did not decode kept its default: what its
		// validation says would be about the default, not the file.
		if !slices.ContainsFunc(f.errs, func(d *strictconf.Error) bool { return related(d.Path, e.Path) }) {
			errs = append(errs, e)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	errs = f.pos.Annotate(errs)
	if f.path == "" {
		return fmt.Errorf("configuration: %w", errs)
	}
	return fmt.Errorf("config %s: %w", f.path, errs)
}

// related: one path is the other or below it.
func related(a, b string) bool {
	below := func(p, anc string) bool {
		return p == anc || strings.HasPrefix(p, anc+".") || strings.HasPrefix(p, anc+"[")
	}
	return a != "" && b != "" && (below(a, b) || below(b, a))
}

// validate reports every invalid value by its key: the top-level keys here,
// then each section's own Validate.
func (c *config) validate() strictconf.Errors {
	var errs strictconf.Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &strictconf.Error{Path: key, Msg: fmt.Sprintf(format, args...)})
	}
	addr := func(key, v string, offOK bool) {
		if offOK && v == "off" {
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			hint := ""
			if offOK {
				hint = ` or "off"`
			}
			bad(key, "%q is not host:port (e.g. \"127.0.0.1:7600\")%s", v, hint)
		}
	}
	addr("grpc_addr", c.GRPCAddr, false)
	addr("http_addr", c.HTTPAddr, true)
	if c.DataDir == "" {
		bad("data_dir", "empty: name the directory that holds the stores")
	}
	if c.MinFreeBytes < 0 {
		bad("min_free_bytes", "%d is negative (0: the default for the stores opened)", c.MinFreeBytes)
	}
	return append(errs, strictconf.ValidateSections(c)...)
}

// storeFlags are the flags every command that opens the store shares.
func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "./data", "data directory holding the knowledge store")
}

// maxQueueSize bounds decision_log.queue_size: the queue is allocated at
// start, and past this a burst waits on memory rather than on the disk.
const maxQueueSize = 1 << 20

// Validate checks the decision record's section (strictconf.Validator);
// the bounds are decisionlog.Open's, so a value it would refuse is refused
// before the start.
func (c decisionLogConfig) Validate() error {
	var errs []error
	if _, err := decisionlog.ParseDurability(c.Durability); err != nil {
		errs = append(errs, fmt.Errorf("durability: %q is not one of async, sync", c.Durability))
	}
	if _, err := positiveDuration("retention", c.Retention); err != nil {
		errs = append(errs, err)
	}
	bounded := func(key, v string, limit time.Duration, why string) {
		switch d, err := positiveDuration(key, v); {
		case err != nil:
			errs = append(errs, err)
		case d > limit:
			errs = append(errs, fmt.Errorf("%s: %s is longer than %v (%s)", key, v, limit, why))
		}
	}
	bounded("commit_interval", c.CommitInterval, decisionlog.MaxCommitInterval, "it bounds what a kill loses")
	bounded("sync_interval", c.SyncInterval, decisionlog.MaxSyncInterval, "it bounds what a power loss loses")
	if c.QueueSize < 0 || c.QueueSize > maxQueueSize {
		errs = append(errs, fmt.Errorf("queue_size: %d must be between 1 and %d (0: the default, %d)", c.QueueSize, maxQueueSize, decisionlog.DefaultQueueSize))
	}
	return errors.Join(errs...)
}

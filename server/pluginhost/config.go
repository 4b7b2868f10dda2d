package pluginhost

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Policy says what a check gets when a plugin cannot answer (not running,
// error, deadline passed).
type Policy string

const (
	// FailOpen skips the plugin and adds one INFO finding
	// (rule_type PLUGIN_UNAVAILABLE): the order is not held up.
	FailOpen Policy = "fail_open"
	// FailClosed adds one WARN finding: the physician sees that the local
	// policy could not be checked and continues only with a reason.
	FailClosed Policy = "fail_closed"
)

// DefaultTimeout is the per-call deadline of a plugin whose Config.Timeout
// is zero.
const DefaultTimeout = 20 * time.Millisecond

// Config is one plugin as the operator configured it.
type Config struct {
	// Name as configured; findings carry source "plugin:<Name>". Letters,
	// digits, '.', '_' and '-', at most 64, starting with a letter or digit
	// (it also becomes a metrics label).
	Name string
	// Path of the executable. A relative path is made absolute against the
	// working directory at Start, so restarts do not depend on it later.
	Path string
	// SHA256 is the hex SHA-256 of the executable; required. The file is
	// hashed before every exec, and a file that does not match is never run.
	// The file is then exec'd by path, so it and its directory must not be
	// writable by the rxguard service user (or anyone but root).
	SHA256 string
	// Args are passed to the plugin (e.g. -table /etc/rxguard/abx.csv).
	Args []string
	// Timeout bounds each Evaluate call; 0 means DefaultTimeout.
	Timeout time.Duration
	// OnFailure is the failure policy; "" means FailOpen.
	OnFailure Policy
}

// ConfigError is one problem with one configured plugin. Start joins all of
// them (errors.Join); find them with errors.As.
type ConfigError struct {
	Index   int    // position in the slice given to Start
	Name    string // as configured, possibly empty
	Field   string // "Name", "Path", "SHA256", "Timeout", "OnFailure"
	Problem string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("plugin %d (%q): %s: %s", e.Index, e.Name, e.Field, e.Problem)
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports every problem of cfgs that Start would refuse, as
// ConfigErrors joined, without starting anything (`rxguard config check`).
// It does not look at the files: they are checked when they are run.
func Validate(cfgs []Config) error {
	_, _, err := validate(cfgs)
	return err
}

// validate checks every config, fills defaults into a copy and returns the
// decoded pins. It reports every problem, not only the first.
func validate(cfgs []Config) ([]Config, [][]byte, error) {
	out := make([]Config, len(cfgs))
	pins := make([][]byte, len(cfgs))
	var errs []error
	bad := func(i int, field, format string, args ...any) {
		errs = append(errs, &ConfigError{Index: i, Name: cfgs[i].Name, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	seen := make(map[string]int, len(cfgs))
	for i, c := range cfgs {
		switch {
		case c.Name == "":
			bad(i, "Name", "empty")
		case !validName.MatchString(c.Name):
			bad(i, "Name", "want letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)")
		default:
			if j, dup := seen[c.Name]; dup {
				bad(i, "Name", "duplicate of plugin %d", j)
			}
			seen[c.Name] = i
		}
		if c.Path == "" {
			bad(i, "Path", "empty")
		}
		switch sum, err := hex.DecodeString(c.SHA256); {
		case c.SHA256 == "":
			bad(i, "SHA256", "empty: every plugin must be pinned (sha256sum <file>)")
		case err != nil || len(sum) != 32:
			bad(i, "SHA256", "want 64 hex digits, got %q", c.SHA256)
		default:
			pins[i] = sum
		}
		if c.Timeout < 0 {
			bad(i, "Timeout", "negative (%v)", c.Timeout)
		} else if c.Timeout == 0 {
			c.Timeout = DefaultTimeout
		}
		switch c.OnFailure {
		case "":
			c.OnFailure = FailOpen
		case FailOpen, FailClosed:
		default:
			bad(i, "OnFailure", "want %q or %q, got %q", FailOpen, FailClosed, c.OnFailure)
		}
		c.Args = append([]string(nil), c.Args...)
		out[i] = c
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return out, pins, nil
}

package pluginhost

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	pin := strings.Repeat("0f", 32)
	ok := Config{Name: "abx-tier", Path: "/opt/rxguard/plugins/abx", SHA256: pin}
	with := func(f func(*Config)) []Config {
		c := ok
		f(&c)
		return []Config{c}
	}
	tests := []struct {
		name  string
		cfgs  []Config
		field string // "" = valid
	}{
		{"valid", []Config{ok}, ""},
		{"no plugins", nil, ""},
		{"uppercase pin", with(func(c *Config) { c.SHA256 = strings.ToUpper(pin) }), ""},
		{"fail_closed", with(func(c *Config) { c.OnFailure = FailClosed }), ""},
		{"empty name", with(func(c *Config) { c.Name = "" }), "Name"},
		{"bad name", with(func(c *Config) { c.Name = "abx tier" }), "Name"},
		{"long name", with(func(c *Config) { c.Name = strings.Repeat("a", 65) }), "Name"},
		{"duplicate name", []Config{ok, ok}, "Name"},
		{"empty path", with(func(c *Config) { c.Path = "" }), "Path"},
		{"empty pin", with(func(c *Config) { c.SHA256 = "" }), "SHA256"},
		{"short pin", with(func(c *Config) { c.SHA256 = pin[:62] }), "SHA256"},
		{"non-hex pin", with(func(c *Config) { c.SHA256 = strings.Repeat("zz", 32) }), "SHA256"},
		{"negative timeout", with(func(c *Config) { c.Timeout = -time.Millisecond }), "Timeout"},
		{"bad policy", with(func(c *Config) { c.OnFailure = "fail_safe" }), "OnFailure"},
		{"policy case", with(func(c *Config) { c.OnFailure = "FAIL_OPEN" }), "OnFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pins, err := validate(tt.cfgs)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(got) != len(tt.cfgs) || len(pins) != len(tt.cfgs) {
					t.Fatalf("got %d configs, %d pins", len(got), len(pins))
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError on %s", err, tt.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got, _, err := validate([]Config{{Name: "a", Path: "p", SHA256: strings.Repeat("00", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Timeout != DefaultTimeout || got[0].OnFailure != FailOpen {
		t.Errorf("defaults = %v, %q; want %v, %q", got[0].Timeout, got[0].OnFailure, DefaultTimeout, FailOpen)
	}
}

// Every problem is reported, and Start starts nothing.
func TestStartRejectsInvalidConfig(t *testing.T) {
	m, err := Start(context.Background(), []Config{
		{Name: "", Path: "", SHA256: "x", OnFailure: "maybe"},
		okConfig("fine", "F"),
	}, quietLogger())
	if err == nil || m != nil {
		_ = m.Close()
		t.Fatalf("Start = %v, %v; want an error", m, err)
	}
	for _, field := range []string{"Name", "Path", "SHA256", "OnFailure"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not mention %s", err, field)
		}
	}
}

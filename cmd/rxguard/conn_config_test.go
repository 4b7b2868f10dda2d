package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/server"
)

func loadConfigText(t *testing.T, text string) config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rxguard.json")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The "grpc" and "http" sections override single limits; the others keep
// their defaults.
func TestConnLimitsConfig(t *testing.T) {
	c := loadConfigText(t, `{
  "grpc": {"max_connections": 16, "max_concurrent_streams": 32, "keepalive_min_time": "30s",
           "keepalive_permit_without_stream": false, "max_connection_age": "1h"},
  "http": {"max_connections": 8, "read_timeout": "5s", "max_header_bytes": 16384, "max_body_bytes": 1048576}
}`)
	got, err := c.connLimits()
	if err != nil {
		t.Fatal(err)
	}
	want := server.DefaultConnLimits()
	want.GRPC.MaxConnections = 16
	want.GRPC.MaxConcurrentStreams = 32
	want.GRPC.KeepaliveMinTime = 30 * time.Second
	want.GRPC.KeepalivePermitWithoutStream = false
	want.GRPC.MaxConnectionAge = time.Hour
	want.HTTP.MaxConnections = 8
	want.HTTP.ReadTimeout = 5 * time.Second
	want.HTTP.MaxHeaderBytes = 16384
	want.HTTP.MaxBodyBytes = 1 << 20
	if got != want {
		t.Errorf("limits\n got %+v\nwant %+v", got, want)
	}

	if got, err := defaultConfig().connLimits(); err != nil || got != server.DefaultConnLimits() {
		t.Errorf("no sections: %+v, %v; want the defaults", got, err)
	}
}

// Every bad value is reported by its key, and serve refuses to start.
func TestConnLimitsConfigErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rxguard.json")
	if err := os.WriteFile(path, []byte(`{
  "grpc": {"max_connections": -1, "handshake_timeout": "soon", "keepalive_time": "-1s"},
  "http": {"idle_timeout": "0s", "max_header_bytes": 2097152}
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, f, err := decodeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.connLimits(); err == nil {
		t.Fatal("connLimits: no error")
	}
	err = c.check(f)
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"grpc.max_connections", "grpc.handshake_timeout", "grpc.keepalive_time", "http.idle_timeout", "http.max_header_bytes"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}

	path = filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(`{"http": {"read_timeout": "forever"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "serve", "-config", path, "-data", t.TempDir(), "-grpc", "127.0.0.1:0", "-http", "off")
	if err == nil || !strings.Contains(err.Error()+out, "http.read_timeout") {
		t.Errorf("serve with a bad limit: %v\n%s", err, out)
	}
}

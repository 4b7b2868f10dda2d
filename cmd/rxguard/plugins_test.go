//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
)

// childrenOf lists the pids whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain spaces.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// The real `rxguard serve` with two plugins configured: however it ends —
// SIGTERM or SIGKILL — no plugin process outlives it.
func TestServeLeavesNoOrphanPlugins(t *testing.T) {
	rxguard := sdktest.Build(t, "github.com/rxguard/rxguard/cmd/rxguard")
	plugin := sdktest.Build(t, "github.com/rxguard/rxguard/plugins/examples/high-cost")
	b, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	pin := hex.EncodeToString(sum[:])

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := json.Marshal(map[string]any{
				"grpc_addr": "127.0.0.1:0", "http_addr": "off", "data_dir": filepath.Join(dir, "data"),
				"plugins": []map[string]any{
					{"name": "high-cost-a", "path": plugin, "sha256": pin},
					{"name": "high-cost-b", "path": plugin, "sha256": pin, "args": []string{"-threshold", "20000"}},
				},
			})
			cfgPath := filepath.Join(dir, "rxguard.json")
			os.WriteFile(cfgPath, cfg, 0o644)
			cmd := exec.Command(rxguard, "serve", "-config", cfgPath)
			cmd.Env = append(os.Environ(), "TMPDIR="+dir) // a SIGKILLed rxguard cannot remove its plugins' sockets
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()

			var plugins []int
			for deadline := time.Now().Add(20 * time.Second); len(plugins) < 2; {
				if time.Now().After(deadline) {
					t.Fatalf("plugins not started by rxguard (children %v)", plugins)
				}
				time.Sleep(50 * time.Millisecond)
				plugins = childrenOf(cmd.Process.Pid)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			for deadline := time.Now().Add(3 * time.Second); ; {
				var left []int
				for _, p := range plugins {
					if alive(p) {
						left = append(left, p)
					}
				}
				if len(left) == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("plugin processes %v outlived rxguard after %v", left, sig)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

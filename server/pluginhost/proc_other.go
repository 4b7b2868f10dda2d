//go:build !linux

package pluginhost

import "syscall"

// procAttr: parent-death signals are Linux-only; elsewhere plugins are
// stopped by Close (and go-plugin's own exit on a closed connection).
func procAttr() *syscall.SysProcAttr { return nil }

func lockSpawnThread() {}

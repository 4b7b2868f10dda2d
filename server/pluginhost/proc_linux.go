//go:build linux

package pluginhost

import (
	"runtime"
	"syscall"
)

// procAttr makes the kernel SIGKILL a plugin when its parent goes away, so
// plugins die with the host even when the host is SIGKILLed or crashes and
// Close never runs.
//
// The "parent" of PR_SET_PDEATHSIG is the OS *thread* that forked, not the
// process: if that thread exits, the plugin is killed although the host
// lives on. Go may fork from any thread, and a thread ends when a goroutine
// locked to it returns. So every plugin's processes are forked by that
// plugin's supervisor goroutine, which calls lockSpawnThread first and
// stays locked, and alive, until the Manager is closed (see supervise).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// lockSpawnThread pins the calling goroutine to its OS thread for the rest
// of its life. It is never undone: when the goroutine returns, the runtime
// ends the thread, and the kernel kills any plugin it forked that is still
// running (by then Close has killed them anyway).
func lockSpawnThread() { runtime.LockOSThread() }

package pluginhost

import (
	"log/slog"
	"os"

	"github.com/hashicorp/go-plugin"
)

// Plugin sockets. A go-plugin plugin listens on a Unix socket it creates
// with os.CreateTemp(dir, "plugin") where dir is PLUGIN_UNIX_SOCKET_DIR, or
// os.TempDir() when that is unset, and removes it only when it exits
// gracefully. A plugin that crashes or is SIGKILLed (a restart, or Kill's
// fallback after 2 s) leaves the socket behind; go-plugin's client removes
// a socket directory only for its RunnerFunc path, not for plain commands.
// So the host gives every plugin process its own directory under one
// per-Manager directory in TMPDIR, removes it once the process has exited,
// and removes the Manager's directory on Close.

// maxSocketPath is the longest Unix socket path every supported OS accepts
// (sun_path: 108 bytes on Linux, 104 on macOS and the BSDs, including the
// terminating NUL).
const maxSocketPath = 103

// socketSuffix is as long as what goes below the Manager's directory: a
// process directory from os.MkdirTemp(root, "") and go-plugin's
// os.CreateTemp(dir, "plugin") name (random parts of up to 10 digits).
// With the Manager's directory ("rxguard-" and 10 digits) TMPDIR may be
// up to 56 bytes long.
const socketSuffix = "/1234567890/plugin1234567890"

// newSocketRoot creates the Manager's socket directory, or returns "" when
// it cannot (plugins then put their sockets in TMPDIR as go-plugin does by
// default, and a crash leaves them there).
func newSocketRoot(log *slog.Logger) string {
	root, err := os.MkdirTemp("", "rxguard-")
	if err != nil {
		log.Warn("cannot create the plugin socket directory; plugins put their sockets in TMPDIR", "error", err.Error())
		return ""
	}
	if len(root)+len(socketSuffix) > maxSocketPath {
		_ = os.Remove(root)
		log.Warn("TMPDIR is too long for Unix socket paths below it; plugins put their sockets in TMPDIR itself", "dir", root)
		return ""
	}
	return root
}

// newSocketDir creates the directory of one plugin process below root and
// returns it with the environment that points the plugin at it, or "" and
// nil when there is no root (or the directory cannot be made).
func (p *plug) newSocketDir() (string, []string) {
	if p.sockRoot == "" {
		return "", nil
	}
	dir, err := os.MkdirTemp(p.sockRoot, "")
	if err != nil {
		p.log.Warn("cannot create the plugin's socket directory; it puts its socket in TMPDIR", "error", err.Error())
		return "", nil
	}
	// Ours comes last so it wins over one inherited from the host's own
	// environment (exec keeps the last value of a repeated key).
	return dir, append(os.Environ(), plugin.EnvUnixSocketDir+"="+dir)
}

// removeSocketDir removes a process's socket directory once the process
// has exited (go-plugin's Client.Kill returns after it has).
func (p *plug) removeSocketDir(dir string) {
	if dir == "" {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		p.log.Warn("cannot remove the plugin's socket directory", "dir", dir, "error", err.Error())
	}
}

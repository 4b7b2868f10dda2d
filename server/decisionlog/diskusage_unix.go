//go:build unix

package decisionlog

import (
	"io/fs"
	"syscall"
)

// allocated is the disk space a file takes: Badger's logs are created
// sparse at twice their size, so their length says little.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}

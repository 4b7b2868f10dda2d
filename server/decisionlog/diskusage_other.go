//go:build !unix

package decisionlog

import "io/fs"

// allocated is the disk space a file takes (its length where the
// allocation cannot be read).
func allocated(info fs.FileInfo) int64 { return info.Size() }

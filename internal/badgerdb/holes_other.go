//go:build !linux

package badgerdb

import "os"

// dataEnd cannot find holes here; it reports the whole file as data.
func dataEnd(_ *os.File, size int64) int64 { return size }

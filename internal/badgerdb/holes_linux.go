package badgerdb

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// lseek whence values on Linux (not in package syscall).
const (
	seekData = 3
	seekHole = 4
)

// dataEnd returns the end of the last range of f that holds data: what
// follows is a hole, unbacked by any block. It returns size when the
// filesystem cannot tell (lseek with SEEK_DATA/SEEK_HOLE unsupported).
func dataEnd(f *os.File, size int64) int64 {
	end := int64(0)
	for off := int64(0); off < size; {
		data, err := f.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // no data at or after off
		}
		if err != nil {
			return size
		}
		hole, err := f.Seek(data, seekHole)
		if err != nil {
			return size
		}
		end, off = hole, hole
	}
	_, _ = f.Seek(0, io.SeekStart)
	return min(end, size)
}

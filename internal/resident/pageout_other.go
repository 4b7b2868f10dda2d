//go:build !linux

package resident

const supported = false

func pageout(addr, n uint64) error { return ErrUnsupported }

func dontneed(addr, n uint64) error { return ErrUnsupported }

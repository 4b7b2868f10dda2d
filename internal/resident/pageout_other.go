//go:build !linux

package resident

const supported = false

func pageout(addr, n uint64) error { return ErrUnsupported }

func rss() (anon, file uint64) { return 0, 0 }

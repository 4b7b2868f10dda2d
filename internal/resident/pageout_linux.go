//go:build linux

package resident

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

const supported = true

// pageout advises MADV_PAGEOUT for [addr, addr+n). The addresses are
// passed as integers: the range is not Go memory, and may have been
// unmapped meanwhile (ENOMEM).
func pageout(addr, n uint64) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(n), unix.MADV_PAGEOUT); e != 0 {
		return e
	}
	return nil
}

// rss reads RssAnon and RssFile of /proc/self/status, in bytes (0 when
// unreadable).
func rss() (anon, file uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	field := func(name string) uint64 {
		i := bytes.Index(b, []byte("\n"+name+":"))
		if i < 0 {
			return 0
		}
		rest := b[i+len(name)+2:]
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return field("RssAnon"), field("RssFile")
}

//go:build linux

package resident

import "golang.org/x/sys/unix"

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

// dontneed advises MADV_DONTNEED for [addr, addr+n): the pages leave this
// process's page tables and stay in the page cache. Only for a range the
// caller knows is still the file's map (Hold): advice on memory mapped
// there since would zero it.
func dontneed(addr, n uint64) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(n), unix.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}

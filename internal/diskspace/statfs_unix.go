//go:build linux || darwin || freebsd

package diskspace

import "syscall"

// available is statfs(2)'s f_bavail × f_bsize: the bytes an unprivileged
// writer may still use. rxguard may run as root, which could dig into the
// blocks reserved for root, but the threshold is kept against what every
// writer can use: the reserve belongs to the system.
func available(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	// Bavail is signed on FreeBSD and goes negative once root eats into
	// the reserve: that is no space, not 2^64 bytes.
	if int64(st.Bavail) < 0 {
		return 0, nil
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

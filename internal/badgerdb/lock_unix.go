//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package badgerdb

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes the same lock Badger takes (flock on the directory), so
// that it fails while another process has the store open. Badger takes it
// again in badger.Open; flock locks are per open file, so this one must be
// released first.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another process (another rxguard?): %w (%w)", dir, ErrInUse, err)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

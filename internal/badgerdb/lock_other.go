//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package badgerdb

// lockDir is unsupported here; removeEmptyLogFiles then leaves the
// directory alone rather than risk racing a running process.
func lockDir(string) (func(), error) {
	return nil, errLockUnsupported
}

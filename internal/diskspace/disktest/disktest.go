//go:build linux

// Package disktest gives tests a real, small filesystem they can fill:
// a tmpfs mounted for the test (root only; CI runs as root).
package disktest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new directory and unmounts it at
// cleanup. Without root the test fails — the full-disk tests must not stop
// running silently — unless the developer says so explicitly with
// RXGUARD_SKIP_ROOT_TESTS=1 (CI runs as root and never sets it).
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("RXGUARD_SKIP_ROOT_TESTS") == "1" {
			t.Skip("RXGUARD_SKIP_ROOT_TESTS=1: skipping a test that mounts a tmpfs (needs root)")
		}
		t.Fatal("this test mounts a tmpfs and needs root (CI runs as root); run as root, or set RXGUARD_SKIP_ROOT_TESTS=1 to skip it knowingly")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Fatalf("mount a %d-byte tmpfs on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still holds a file open (a process the test
			// started): detach, the kernel frees it when released.
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

// Fill writes a file in dir until the filesystem answers ENOSPC, so that
// nothing at all is left, and returns its path.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, chunk)
		for i := range buf {
			buf[i] = 0xa5
		}
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				break
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bavail != 0 {
		t.Fatalf("filled %s, yet %d blocks are still available", dir, st.Bavail)
	}
	return path
}

// Free removes what Fill wrote.
func Free(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

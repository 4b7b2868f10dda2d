//go:build unix

package keyfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.key")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr error
		errHas  string
	}{
		{"0600", hexKey + "\n", 0o600, nil, ""},
		{"0400", hexKey, 0o400, nil, ""},
		{"group readable", hexKey, 0o640, ErrPermissions, "chmod 600"},
		{"world readable", hexKey, 0o644, ErrPermissions, "mode 0644"},
		{"group writable", hexKey, 0o620, ErrPermissions, "chmod 600"},
		{"short key", hexKey[:40], 0o600, ErrFormat, "40 characters"},
		{"huge file", strings.Repeat("a", 1<<20), 0o600, ErrFormat, "want exactly 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.content, tc.mode)
			key, err := Read(p)
			if tc.wantErr == nil {
				if err != nil || len(key) != Size {
					t.Fatalf("Read = %x, %v", key, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Read error = %v, want %v naming %s and containing %q", err, tc.wantErr, p, tc.errHas)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "none.key")
		if _, err := Read(p); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "rxguard encryption keygen") {
			t.Fatalf("Read(missing) = %v, want ErrNotExist and how to create one", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		d := t.TempDir()
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(d); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Read(dir) = %v", err)
		}
	})
	t.Run("empty path", func(t *testing.T) {
		if _, err := Read(""); err == nil {
			t.Fatal("Read(\"\") succeeded")
		}
	})
}

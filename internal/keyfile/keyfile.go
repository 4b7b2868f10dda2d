// Package keyfile reads and writes the key that encrypts rxguard's
// patient-data stores at rest (the patient history and the decision log;
// Badger's "encryption key", which encrypts the data keys Badger rotates
// itself).
//
// The file holds exactly 64 hexadecimal characters (32 bytes: AES-256),
// optionally followed by one newline. Hex rather than raw bytes so that the
// key can be printed, compared and kept in escrow on paper or in a password
// safe; one format only, so that a file that is not a key (a PEM file, a
// truncated copy, a key with stray spaces) is refused instead of half
// understood. `openssl rand -hex 32 > FILE` writes the same format as
// `rxguard encryption keygen`.
package keyfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Size is the key length in bytes: AES-256.
const Size = 32

// maxFileBytes bounds what Read reads: a key file is 65 bytes; anything much
// larger is another file named by mistake.
const maxFileBytes = 4 << 10

// ErrFormat: the file is not a key in the format above.
var ErrFormat = errors.New("not an rxguard encryption key")

// ErrPermissions: the key file is accessible to group or others.
var ErrPermissions = errors.New("key file accessible to group or others")

// Parse decodes the content of a key file: 64 hex characters, optionally
// followed by "\n" (or "\r\n"). Anything else is ErrFormat, saying what is
// wrong and never echoing the content (it may be a key).
func Parse(b []byte) ([]byte, error) {
	s := b
	if len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
		if len(s) > 0 && s[len(s)-1] == '\r' {
			s = s[:len(s)-1]
		}
	}
	if len(s) != 2*Size {
		return nil, fmt.Errorf("%w: %d characters, want exactly %d hexadecimal characters (%d bytes, AES-256), optionally followed by a newline",
			ErrFormat, len(s), 2*Size, Size)
	}
	for i, c := range s {
		if !isHex(c) {
			return nil, fmt.Errorf("%w: character %d is not hexadecimal (0-9, a-f): the file must hold only the %d hex characters of the key",
				ErrFormat, i+1, 2*Size)
		}
	}
	key := make([]byte, Size)
	if _, err := hex.Decode(key, s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err) // unreachable after the loop; kept so a change cannot make it silent
	}
	return key, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Read reads the key file at path. It refuses a file that group or others
// can read or write (the key opens every patient's history) with an error
// that says to chmod 600 it, and a file that is not a key. On Windows,
// where Unix permission bits mean nothing, the permission check is left to
// the file's ACL.
func Read(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no key file named")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open key file: %w (create one with `rxguard encryption keygen -o %s`)", err, path)
	}
	defer f.Close()
	// Stat the opened file, not the path: what is checked is what is read.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file (%s)", path, info.Mode().Type())
	}
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; it must be readable by the rxguard user only: chmod 600 %s",
			ErrPermissions, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	key, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// Generate writes a new random key to path, readable by its owner only
// (0600). It never replaces an existing file: overwriting a key makes
// everything encrypted with it unreadable.
func Generate(path string) error {
	key := make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	return write(path, key)
}

func write(path string, key []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("key file %s already exists: not replaced (a replaced key cannot open what it encrypted); choose another path", path)
	}
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close key file %s: %w", path, cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	// The umask can only remove bits from 0600; Chmod makes the mode
	// exactly 0600 whatever it is.
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("chmod 600 key file %s: %w", path, err)
	}
	if _, err := f.Write(append(hex.AppendEncode(nil, key), '\n')); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync key file %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes the new file's directory entry durable; best effort (not
// every platform can sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

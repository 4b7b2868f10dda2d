package history

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rxguard/rxguard/internal/badgerdb"
)

var (
	testKey  = bytes.Repeat([]byte{0x5c}, 32)
	otherKey = bytes.Repeat([]byte{0xc5}, 32)
)

// filesContaining lists the files under dir that hold needle in the clear.
func filesContaining(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestEncryptedAtRest: with a key no file of the store holds a patient id
// or an item code in the clear, neither while the store is open (memtable
// log) nor after Close (tables); without one the same grep finds them, so
// the grep can fail. The store reopens with its key only.
func TestEncryptedAtRest(t *testing.T) {
	const patient = "PAT-7f3a9c21-ENC"
	const item = "XJ01DDA044A001010101990"
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	now := newClock(at)
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"unencrypted", nil}, {"encrypted", testKey}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openAt(t, dir, Options{EncryptionKey: tc.key, Now: now.Now})
			var want []Entry
			for i := range 200 {
				e := entry(item, at.Add(-time.Duration(i)*time.Hour))
				e.LineID = "L" + strings.Repeat("x", i%7)
				want = append(want, e)
			}
			record(t, s, patient, want...)
			open := [][]string{filesContaining(t, dir, []byte(patient)), filesContaining(t, dir, []byte(item))}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			closed := [][]string{filesContaining(t, dir, []byte(patient)), filesContaining(t, dir, []byte(item))}
			for i, hits := range append(open, closed...) {
				switch {
				case tc.key == nil && len(hits) == 0:
					t.Errorf("grep %d found nothing in an unencrypted store: the test cannot see plaintext", i)
				case tc.key != nil && len(hits) > 0:
					t.Errorf("grep %d: plaintext patient data in %v of an encrypted store", i, hits)
				}
			}
			s = openAt(t, dir, Options{EncryptionKey: tc.key, Now: now.Now})
			got := lookup(t, s, patient, at.Add(-300*time.Hour))
			if len(got) != len(want) {
				t.Fatalf("reopened: %d entries, want %d", len(got), len(want))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenRefusesTheWrongKey(t *testing.T) {
	plainDir, encDir := t.TempDir(), t.TempDir()
	for dir, key := range map[string][]byte{plainDir: nil, encDir: testKey} {
		s := openAt(t, dir, Options{EncryptionKey: key})
		record(t, s, "P1", entry("A", time.Now()))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, dir string
		key       []byte
		errHas    string
	}{
		{"encrypted, no key", encDir, nil, "no key was given"},
		{"encrypted, wrong key", encDir, otherKey, "another key"},
		{"unencrypted, a key", plainDir, testKey, "is not encrypted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), Options{Dir: tc.dir, EncryptionKey: tc.key, Logger: quietLogger()})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, badgerdb.ErrEncryptionKey) || !strings.Contains(err.Error(), "history store "+tc.dir) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("Open error = %v\nwant ErrEncryptionKey naming the history store %s and saying %q", err, tc.dir, tc.errHas)
			}
		})
	}
}

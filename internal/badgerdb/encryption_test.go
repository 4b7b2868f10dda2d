package badgerdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

var (
	keyA = bytes.Repeat([]byte{0xa1}, 32)
	keyB = bytes.Repeat([]byte{0xb2}, 32)
)

func encConfig(dir string, key []byte) Config {
	return Config{Dir: dir, IndexCacheBytes: 1 << 20, Logger: quiet(), EncryptionKey: key}
}

// createStore writes n keys into a new store in dir with key and closes it.
func createStore(t *testing.T, dir string, key []byte, n int) {
	t.Helper()
	db, err := Open(encConfig(dir, key))
	if err != nil {
		t.Fatalf("create store (key %v): %v", key != nil, err)
	}
	writeKeys(t, db, n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// listing is every file's name and size in dir: what a refused open must
// leave unchanged.
func listing(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(e.Name(), " ", info.Size(), " ", info.ModTime().UnixNano()))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func TestOpenChecksTheEncryptionKey(t *testing.T) {
	tests := []struct {
		name         string
		created, use []byte
		errHas       string // "" = opens
	}{
		{"unencrypted, no key", nil, nil, ""},
		{"encrypted, its key", keyA, keyA, ""},
		{"encrypted, no key", keyA, nil, "is encrypted at rest and no key was given"},
		{"encrypted, another key", keyA, keyB, "is encrypted with another key"},
		{"unencrypted, a key", nil, keyA, "is not encrypted, but an encryption key was given"},
		{"encrypted, a 16-byte key", keyA, keyA[:16], "is encrypted with another key"},
	}
	for _, tc := range tests {
		for _, ro := range []bool{false, true} {
			name := tc.name
			if ro {
				name += ", read-only"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				createStore(t, dir, tc.created, 50)
				before := listing(t, dir)
				c := encConfig(dir, tc.use)
				c.ReadOnly = ro
				db, err := Open(c)
				if tc.errHas == "" {
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					readKeys(t, db, 50)
					db.Close()
					return
				}
				if err == nil {
					db.Close()
					t.Fatal("Open succeeded with a key that does not match the store")
				}
				if !errors.Is(err, ErrEncryptionKey) || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("Open error = %v\nwant ErrEncryptionKey naming %s and saying %q", err, dir, tc.errHas)
				}
				if after := listing(t, dir); after != before {
					t.Fatalf("a refused open changed the store's directory:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// TestBadgerKeyMismatchIsWrapped covers the fallback: a key registry
// checkKey cannot read (torn) lets Badger's own error through, wrapped.
func TestBadgerKeyMismatchIsWrapped(t *testing.T) {
	err := keyMismatch("/data/history", errors.New("while opening: "+badger.ErrEncryptionKeyMismatch.Error()))
	if !errors.Is(err, ErrEncryptionKey) || !strings.Contains(err.Error(), "/data/history") {
		t.Fatalf("keyMismatch = %v", err)
	}
	other := errors.New("disk on fire")
	if keyMismatch("/d", other) != other {
		t.Fatal("keyMismatch wrapped an unrelated error")
	}
}

func TestEncryptedStoreNeedsIndexCache(t *testing.T) {
	c := encConfig(t.TempDir(), keyA)
	c.IndexCacheBytes = 0
	if db, err := Open(c); err == nil {
		db.Close()
		t.Fatal("an encrypted store opened without an index cache")
	}
	// Badger panics at open without a block cache when encrypted: Options
	// adds one for stores that have none.
	if o := Options(encConfig("x", keyA)); o.BlockCacheSize != EncryptedBlockCacheBytes {
		t.Fatalf("BlockCacheSize = %d, want %d", o.BlockCacheSize, EncryptedBlockCacheBytes)
	}
	if o := Options(encConfig("x", nil)); o.BlockCacheSize != 0 || len(o.EncryptionKey) != 0 {
		t.Fatalf("unencrypted options changed: block cache %d, key %d bytes", o.BlockCacheSize, len(o.EncryptionKey))
	}
}

func TestRekey(t *testing.T) {
	tests := []struct {
		name     string
		from, to []byte
	}{
		{"new key", keyA, keyB},
		{"encrypt an unencrypted store", nil, keyA},
		{"decrypt", keyA, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "history")
			db, err := Open(encConfig(dir, tc.from))
			if err != nil {
				t.Fatal(err)
			}
			writeKeys(t, db, 300)
			// A key with a TTL keeps it; a deleted key stays deleted.
			exp := time.Now().Add(time.Hour)
			if err := db.Update(func(txn *badger.Txn) error {
				if err := txn.SetEntry(badger.NewEntry([]byte("ttl"), []byte("v")).WithTTL(time.Until(exp))); err != nil {
					return err
				}
				return txn.Delete([]byte("k0007"))
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()

			res, err := Rekey(context.Background(), encConfig(dir, tc.from), tc.to)
			if err != nil {
				t.Fatalf("Rekey: %v", err)
			}
			if res.Keys != 300 || res.Old != dir+OldKeySuffix || res.Resumed {
				t.Fatalf("Rekey = %+v, want 300 keys (299 + ttl) and the old store at %s", res, dir+OldKeySuffix)
			}
			db, err = Open(encConfig(dir, tc.to))
			if err != nil {
				t.Fatalf("open the rotated store with the new key: %v", err)
			}
			if err := db.View(func(txn *badger.Txn) error {
				if _, err := txn.Get([]byte("k0007")); !errors.Is(err, badger.ErrKeyNotFound) {
					t.Errorf("deleted key after Rekey: %v", err)
				}
				it, err := txn.Get([]byte("ttl"))
				if err != nil {
					return err
				}
				if got := time.Unix(int64(it.ExpiresAt()), 0); got.Sub(exp).Abs() > 2*time.Second {
					t.Errorf("TTL after Rekey: expires %v, want %v", got, exp)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if !bytes.Equal(tc.from, tc.to) {
				if db, err := Open(encConfig(dir, tc.from)); !errors.Is(err, ErrEncryptionKey) {
					if db != nil {
						db.Close()
					}
					t.Fatalf("the old key still opens the rotated store: %v", err)
				}
			}
			// The store under the old key is kept, readable with it.
			old, err := Open(encConfig(dir+OldKeySuffix, tc.from))
			if err != nil {
				t.Fatalf("open the old store with the old key: %v", err)
			}
			old.Close()
			// A second rotation refuses until the old store is removed.
			if _, err := Rekey(context.Background(), encConfig(dir, tc.to), tc.from); err == nil || !strings.Contains(err.Error(), "remove it") {
				t.Fatalf("Rekey with %s present = %v", dir+OldKeySuffix, err)
			}
		})
	}
}

func TestRekeyRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong old key", func(t *testing.T) {
		dir := t.TempDir()
		createStore(t, dir, keyA, 10)
		if _, err := Rekey(ctx, encConfig(dir, keyB), keyA); !errors.Is(err, ErrEncryptionKey) {
			t.Fatalf("Rekey with the wrong old key = %v", err)
		}
		if exists(dir+rekeyTmpSuffix) || exists(dir+OldKeySuffix) {
			t.Fatal("a refused Rekey left directories behind")
		}
	})
	t.Run("in use", func(t *testing.T) {
		dir := t.TempDir()
		db, err := Open(encConfig(dir, keyA))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := Rekey(ctx, encConfig(dir, keyA), keyB); !errors.Is(err, ErrInUse) {
			t.Fatalf("Rekey of a store open for writing = %v, want ErrInUse", err)
		}
	})
	t.Run("no store", func(t *testing.T) {
		if _, err := Rekey(ctx, encConfig(filepath.Join(t.TempDir(), "none"), keyA), keyB); err == nil || !strings.Contains(err.Error(), "no store") {
			t.Fatalf("Rekey of nothing = %v", err)
		}
	})
}

func TestRekeyResumes(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "decisions")
	createStore(t, dir, keyA, 20)
	// A leftover incomplete copy is removed and the rotation redone.
	if err := os.MkdirAll(dir+rekeyTmpSuffix, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir+rekeyTmpSuffix, "junk"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Rekey(ctx, encConfig(dir, keyA), keyB); err != nil {
		t.Fatalf("Rekey over a leftover copy: %v", err)
	}
	// Interrupted between its last two renames: the store is aside, the
	// verified copy not yet in place.
	if err := os.Rename(dir, dir+RekeyDoneSuffix); err != nil {
		t.Fatal(err)
	}
	res, err := Rekey(ctx, encConfig(dir, keyA), keyB)
	if err != nil || !res.Resumed {
		t.Fatalf("Rekey after an interruption = %+v, %v; want it finished", res, err)
	}
	db, err := Open(encConfig(dir, keyB))
	if err != nil {
		t.Fatalf("open after the resumed rotation: %v", err)
	}
	readKeys(t, db, 20)
	db.Close()
}

// FuzzCheckKey feeds checkKey arbitrary key registries: it never panics,
// and refuses only with ErrEncryptionKey.
func FuzzCheckKey(f *testing.F) {
	plain := append(make([]byte, 16), keyRegistrySanity...)
	f.Add(plain, false)
	f.Add(plain, true)
	f.Add([]byte{}, true)
	f.Add(bytes.Repeat([]byte{0x42}, 64), true)
	f.Add(bytes.Repeat([]byte{0x42}, 64), false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, registry []byte, withKey bool) {
		if err := os.WriteFile(filepath.Join(dir, badger.KeyRegistryFileName), registry, 0o600); err != nil {
			t.Fatal(err)
		}
		var key []byte
		if withKey {
			key = keyA
		}
		err := checkKey(dir, key)
		if err != nil && !errors.Is(err, ErrEncryptionKey) {
			t.Fatalf("checkKey = %v, want nil or ErrEncryptionKey", err)
		}
		// A registry shorter than its header is Badger's to report.
		if len(registry) < 16+len(keyRegistrySanity) && err != nil {
			t.Fatalf("checkKey refused a torn registry itself: %v", err)
		}
		if bytes.Equal(registry, plain) && (err == nil) == withKey {
			t.Fatalf("unencrypted registry, key %v: checkKey = %v", withKey, err)
		}
	})
}

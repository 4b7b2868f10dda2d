package badgerdb

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Encryption at rest (Config.EncryptionKey). Badger encrypts with AES in CTR
// mode: the key given (the master key, from the operator's key file)
// encrypts only Badger's data keys, kept in the store's KEYREGISTRY file;
// the data keys encrypt every table block, table index, memtable log and
// value-log entry. Badger makes a new data key every DataKeyRotation; the
// master key itself is never changed in place (Rekey copies a store under a
// new one).

// DataKeyRotation is how often Badger starts a new data key (its default).
// Older data keys stay in the key registry for the tables they encrypted.
const DataKeyRotation = 10 * 24 * time.Hour

// EncryptedBlockCacheBytes is the block cache a store without one gets
// when it is encrypted: Badger requires one then (it decrypts a block into
// the heap on every read, and the cache keeps recent ones there), and
// panics at open without it. Sized like the decision log's: the history
// lookup of one patient reads a handful of 4 KiB blocks.
const EncryptedBlockCacheBytes = 8 << 20

// ErrEncryptionKey: the key given does not open the store — it is
// encrypted and no key was given, it is encrypted with another key, or it
// is not encrypted and a key was given. Nothing was written.
var ErrEncryptionKey = errors.New("encryption key does not match the store")

// keyRegistrySanity is what Badger v4 writes after the key registry's IV,
// encrypted with the master key when there is one (key_registry.go,
// sanityText): how a store tells whether it is encrypted, and with which
// key, before anything is opened.
var keyRegistrySanity = []byte("Hello Badger")

// checkKey compares key with the store in dir before Badger opens it, so
// that the three mismatches get errors that say what to do (Badger's own is
// "Encryption key mismatch" for all three). A store without a key registry
// yet (a new one) matches any key.
func checkKey(dir string, key []byte) error {
	f, err := os.Open(filepath.Join(dir, badger.KeyRegistryFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the key registry of %s: %w", dir, err)
	}
	defer f.Close()
	head := make([]byte, aes.BlockSize+len(keyRegistrySanity))
	if _, err := io.ReadFull(f, head); err != nil {
		return nil // a torn registry: Badger's own open reports it
	}
	iv, sanity := head[:aes.BlockSize], head[aes.BlockSize:]
	encrypted := !bytes.Equal(sanity, keyRegistrySanity)
	switch {
	case !encrypted && len(key) == 0:
		return nil
	case !encrypted:
		return fmt.Errorf("%w: %s is not encrypted, but an encryption key was given: to encrypt the existing data, stop rxguard and run "+
			"`rxguard encryption rotate -new-key-file KEYFILE -data DATA_DIR` (it copies the store encrypted); "+
			"to keep it unencrypted, remove encryption.key_file from the configuration", ErrEncryptionKey, dir)
	case len(key) == 0:
		return fmt.Errorf("%w: %s is encrypted at rest and no key was given: give the key file it was written with "+
			"(encryption.key_file in the configuration; -key-file for rxguard log and encryption commands)", ErrEncryptionKey, dir)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("%w: %s: the key is %d bytes, want 16, 24 or 32: %w", ErrEncryptionKey, dir, len(key), err)
	}
	plain := make([]byte, len(sanity))
	cipher.NewCTR(block, iv).XORKeyStream(plain, sanity)
	if !bytes.Equal(plain, keyRegistrySanity) {
		return fmt.Errorf("%w: %s is encrypted with another key than the one given: give the key file it was written with "+
			"(without it the data cannot be read by anyone; see docs/operations.md, \"Encryption at rest\")", ErrEncryptionKey, dir)
	}
	return nil
}

// keyMismatch wraps Badger's own key error, should checkKey have let one
// through (Badger flattens its errors into text).
func keyMismatch(dir string, err error) error {
	if err == nil || errors.Is(err, ErrEncryptionKey) || !strings.Contains(err.Error(), badger.ErrEncryptionKeyMismatch.Error()) {
		return err
	}
	return fmt.Errorf("%w: %s: give the key file the store was written with: %w", ErrEncryptionKey, dir, err)
}

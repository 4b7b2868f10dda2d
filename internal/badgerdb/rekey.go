package badgerdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// Suffixes of the directories Rekey works in, beside the store's.
const (
	rekeyTmpSuffix = ".rekey-tmp" // being written; removed by the next Rekey
	// RekeyDoneSuffix names a complete, verified copy not yet in place.
	RekeyDoneSuffix = ".rekeyed"
	// OldKeySuffix names the store as it was before Rekey put the copy in
	// its place: still readable with the old key, for the operator to
	// remove once rxguard runs with the new one.
	OldKeySuffix = ".old-key"
)

// RekeyResult says what Rekey did.
type RekeyResult struct {
	Keys int    // keys copied and verified
	Old  string // where the store under the old key now is
	// Resumed: an interrupted rotation was finished (its copy put in
	// place); nothing was copied this time.
	Resumed bool
}

// Rekey re-encrypts the store in c.Dir (opened with c.EncryptionKey, nil
// for an unencrypted store) under newKey (nil: unencrypted). Badger cannot
// change a store's master key in place, so Rekey copies it: it streams a
// backup of the store (db.Backup: every version of every key, with its
// TTL) into a new store beside it (DIR.rekey-tmp) opened with c's tuning
// and newKey (db.Load), compares the two key by key, then renames the copy
// to DIR.rekeyed, the store to DIR.old-key and the copy to DIR. The store
// is opened read-only, so a running rxguard (which holds it for writing)
// makes Rekey fail with ErrInUse, and the store itself is never written.
//
// Each step can be interrupted: DIR.rekey-tmp is incomplete and the next
// Rekey removes it; DIR.rekeyed is complete, and the next Rekey puts it in
// place if DIR is missing (the interruption came between the two renames)
// or removes it and copies again if DIR is there (DIR may have changed
// since). A DIR.old-key left from an earlier rotation must be removed
// first.
func Rekey(ctx context.Context, c Config, newKey []byte) (RekeyResult, error) {
	dir := filepath.Clean(c.Dir)
	tmp, done, old := dir+rekeyTmpSuffix, dir+RekeyDoneSuffix, dir+OldKeySuffix
	res := RekeyResult{Old: old}
	if exists(done) && !exists(dir) && exists(old) {
		// Interrupted between moving the store aside and moving the
		// verified copy in: finish.
		if err := os.Rename(done, dir); err != nil {
			return res, fmt.Errorf("put the re-encrypted copy %s in place of %s: %w", done, dir, err)
		}
		syncDir(filepath.Dir(dir))
		res.Resumed = true
		return res, nil
	}
	if exists(old) {
		return res, fmt.Errorf("%s is there from an earlier rotation: remove it (once rxguard runs with the current key) and run this again", old)
	}
	if exists(done) {
		if !exists(dir) {
			return res, fmt.Errorf("%s is missing but a re-encrypted copy %s is there: move it to %s if it is the store you want, then start rxguard with the new key", dir, done, dir)
		}
		// The store may have changed since the copy: copy again.
		if err := os.RemoveAll(done); err != nil {
			return res, fmt.Errorf("remove %s, a copy from an interrupted rotation: %w", done, err)
		}
	}
	if err := os.RemoveAll(tmp); err != nil {
		return res, fmt.Errorf("remove %s, left by an interrupted rotation: %w", tmp, err)
	}
	if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err != nil {
		return res, fmt.Errorf("no store to re-encrypt in %s: %w", dir, err)
	}

	src := c
	src.Dir, src.ReadOnly = dir, true
	from, err := Open(src)
	if err != nil {
		return res, fmt.Errorf("open %s with the old key: %w", dir, err)
	}
	defer func() {
		if from != nil {
			from.Close()
		}
	}()
	dst := c
	dst.Dir, dst.ReadOnly, dst.EncryptionKey = tmp, false, newKey
	to, err := Open(dst)
	if err != nil {
		return res, fmt.Errorf("create the re-encrypted copy %s: %w", tmp, err)
	}
	if res.Keys, err = copyStore(ctx, from, to); err != nil {
		to.Close()
		_ = os.RemoveAll(tmp)
		return res, fmt.Errorf("copy %s into %s: %w", dir, tmp, err)
	}
	if err := to.Sync(); err != nil {
		to.Close()
		return res, fmt.Errorf("sync the re-encrypted copy %s: %w", tmp, err)
	}
	if err := to.Close(); err != nil {
		return res, fmt.Errorf("close the re-encrypted copy %s: %w", tmp, err)
	}
	if err := from.Close(); err != nil {
		return res, fmt.Errorf("close %s: %w", dir, err)
	}
	from = nil
	// Reopen the copy as rxguard will, with the new key only, and compare
	// again: what is renamed into place is what a start will read.
	if err := verifyReopened(ctx, src, dst); err != nil {
		return res, err
	}
	for _, mv := range [][2]string{{tmp, done}, {dir, old}, {done, dir}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			return res, fmt.Errorf("rename %s to %s: %w (run the rotation again to finish it)", mv[0], mv[1], err)
		}
		syncDir(filepath.Dir(dir))
	}
	return res, nil
}

// copyStore streams a backup of from into to and compares them.
func copyStore(ctx context.Context, from, to *badger.DB) (int, error) {
	pr, pw := io.Pipe()
	backupErr := make(chan error, 1)
	go func() {
		_, err := from.Backup(pw, 0)
		pw.CloseWithError(err)
		backupErr <- err
	}()
	// Load stops at the end of the stream, or at the first error the
	// backup closed the pipe with.
	loadErr := to.Load(pr, 16)
	pr.CloseWithError(loadErr) // unblocks a backup still writing
	if err := errors.Join(<-backupErr, loadErr); err != nil {
		return 0, err
	}
	return compareStores(ctx, from, to)
}

// verifyReopened opens both stores read-only, src with its key and dst
// with the new key, and compares them.
func verifyReopened(ctx context.Context, src, dst Config) error {
	dst.ReadOnly = true
	from, err := Open(src)
	if err != nil {
		return fmt.Errorf("reopen %s to verify the copy: %w", src.Dir, err)
	}
	defer from.Close()
	to, err := Open(dst)
	if err != nil {
		return fmt.Errorf("reopen the re-encrypted copy %s with the new key: %w", dst.Dir, err)
	}
	defer to.Close()
	if _, err := compareStores(ctx, from, to); err != nil {
		return fmt.Errorf("verify the re-encrypted copy %s: %w", dst.Dir, err)
	}
	return nil
}

// compareStores walks both stores in key order and reports the first
// difference in a key, a value, a TTL or user metadata: what a reader sees.
func compareStores(ctx context.Context, a, b *badger.DB) (int, error) {
	ta, tb := a.NewTransaction(false), b.NewTransaction(false)
	defer ta.Discard()
	defer tb.Discard()
	ia, ib := ta.NewIterator(badger.DefaultIteratorOptions), tb.NewIterator(badger.DefaultIteratorOptions)
	defer ia.Close()
	defer ib.Close()
	n := 0
	ib.Rewind()
	for ia.Rewind(); ia.Valid(); ia.Next() {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		x := ia.Item()
		if !ib.Valid() {
			return n, fmt.Errorf("key %q is missing from the copy", x.Key())
		}
		y := ib.Item()
		if !bytes.Equal(x.Key(), y.Key()) {
			return n, fmt.Errorf("key %q of the store, %q in the copy", x.Key(), y.Key())
		}
		if x.ExpiresAt() != y.ExpiresAt() || x.UserMeta() != y.UserMeta() {
			return n, fmt.Errorf("key %q: TTL or metadata differ in the copy", x.Key())
		}
		va, err := x.ValueCopy(nil)
		if err != nil {
			return n, fmt.Errorf("read key %q: %w", x.Key(), err)
		}
		vb, err := y.ValueCopy(nil)
		if err != nil {
			return n, fmt.Errorf("read key %q of the copy: %w", y.Key(), err)
		}
		if !bytes.Equal(va, vb) {
			return n, fmt.Errorf("key %q: the value differs in the copy", x.Key())
		}
		n++
		ib.Next()
	}
	if ib.Valid() {
		return n, fmt.Errorf("the copy has key %q the store does not", ib.Item().Key())
	}
	return n, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// syncDir makes renames in dir durable; best effort (not every platform
// can sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

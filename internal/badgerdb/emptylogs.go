package badgerdb

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

var errLockUnsupported = errors.New("directory locking not supported on this platform")

// removeEmptyLogFiles works around Badger issue #2207 (still open in
// v4.9.6; upstream fix proposed in PR #2331). Badger creates a memtable WAL
// (.mem) or value-log (.vlog) file and only then sizes it; a kill between
// the two leaves a 0-byte file, and every later badger.Open fails with
// "while opening memtables ... Create a new file". The crash test hits this
// within a few dozen kills. A 0-byte log file holds nothing, so deleting it
// loses nothing.
//
// It runs while holding the directory lock Badger itself uses, so it cannot
// delete a file that a running rxguard has just created.
func removeEmptyLogFiles(dir string, log *slog.Logger) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil // a new store; Badger creates the directory
	}
	unlock, err := lockDir(dir)
	if errors.Is(err, errLockUnsupported) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !(strings.HasSuffix(name, ".mem") || strings.HasSuffix(name, ".vlog")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("stat %s: %w", filepath.Join(dir, name), err)
		}
		if info.Size() != 0 {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove empty Badger log file %s left by a crash: %w", path, err)
		}
		log.Warn("removed empty Badger log file left by a crash", "file", path)
	}
	return nil
}

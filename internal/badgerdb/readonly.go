package badgerdb

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// maxLogTruncations bounds Open's read-only retries: each one truncates one
// memtable log (Badger keeps NumMemtables of them; a crash loop may have
// left a few more).
const maxLogTruncations = 16

// logHeaderSize is Badger's vlogHeaderSize: a log file's key id and IV,
// before its first entry.
const logHeaderSize = 20

// truncateNeeded is how Badger v4.9.6 reports a memtable log whose size is
// past its last complete transaction (memtable.go, UpdateSkipList, wrapped
// by openMemTables): every log a kill leaves behind, because Badger
// extends a new log to twice the memtable size before writing it. Badger's
// errors are flattened into text (y.Wrap), so the text is all there is.
var truncateNeeded = regexp.MustCompile(`while opening fid: (\d+)(?: err)?: while updating skiplist(?: err)?: end offset: (\d+) < size: (\d+)`)

// trimLogHoles runs before a read-only open. Badger extends a new memtable
// log to twice the memtable size and fills it through its memory map, so
// the log of a store a crash left behind ends in a long hole. Opened
// read-only, Badger reads the log until its entries end, a page into the
// hole; on tmpfs even a read of a hole allocates a page, and on a full one
// that is SIGBUS. Cutting the trailing hole off first changes nothing Badger
// can read (a hole reads as zeros, which end the log). A value-log file
// that is all hole (a crash between its creation and its header) is cut to
// nothing, and removeEmptyLogFiles then removes it.
func trimLogHoles(dir string, log *slog.Logger) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
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
		mem, vlog := strings.HasSuffix(name, ".mem"), strings.HasSuffix(name, ".vlog")
		if !e.Type().IsRegular() || !mem && !vlog {
			continue
		}
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("stat %s: %w", path, err)
		}
		end := dataEnd(f, info.Size())
		f.Close()
		if end >= info.Size() || vlog && end > 0 {
			continue
		}
		if err := os.Truncate(path, end); err != nil {
			return fmt.Errorf("cut the trailing hole of Badger log file %s: %w", path, err)
		}
		log.Info("cut the unwritten tail of a Badger log file left by a crash before opening read-only", "file", path, "from_bytes", info.Size(), "to_bytes", end)
	}
	return nil
}

// truncateLogTail is what lets a store a crash left behind open read-only.
// Opened for writing, Badger replays each memtable log and truncates it
// after its last complete transaction; opened read-only it may not, and
// fails with ErrTruncateNeeded instead. This does that truncation for it,
// to the offset Badger itself computed, so the read-only open sees exactly
// what a read-write open would. Shrinking a file needs no free space.
//
// It reports whether it truncated a log (then Open tries again); any other
// error is returned as openErr. It holds the directory lock while it works,
// so it cannot touch a store another process has open.
func truncateLogTail(dir string, openErr error, log *slog.Logger) (bool, error) {
	msg := openErr.Error()
	m := truncateNeeded.FindStringSubmatch(msg)
	if m == nil || !strings.Contains(msg, badger.ErrTruncateNeeded.Error()) {
		return false, openErr
	}
	fid, err1 := strconv.ParseUint(m[1], 10, 32)
	end, err2 := strconv.ParseInt(m[2], 10, 64)
	size, err3 := strconv.ParseInt(m[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || end < 0 || end >= size {
		return false, openErr
	}
	path := filepath.Join(dir, fmt.Sprintf("%05d.mem", fid))
	unlock, err := lockDir(dir)
	if errors.Is(err, errLockUnsupported) {
		return false, openErr
	}
	if err != nil {
		return false, err
	}
	defer unlock()
	info, err := os.Stat(path)
	if err != nil || info.Size() != size {
		return false, openErr // not the file Badger described: leave it alone
	}
	if end == logHeaderSize {
		// No transaction at all. Opened for writing, Badger truncates it
		// to its header and then deletes it as an empty memtable; read-only
		// it would try the same on a read-only descriptor and fail.
		if err := os.Remove(path); err != nil {
			return false, fmt.Errorf("remove empty memtable log %s (%w) to open the store read-only: %w", path, openErr, err)
		}
		log.Warn("removed a memtable log left by a crash that holds no transaction, as Badger does when it opens for writing, to open the store read-only",
			"file", path, "bytes", size)
		return true, nil
	}
	if err := os.Truncate(path, end); err != nil {
		return false, fmt.Errorf("truncate the unused tail of memtable log %s (%w) to open it read-only: %w", path, openErr, err)
	}
	log.Warn("truncated a memtable log left by a crash after its last complete transaction, as Badger does when it opens for writing, to open the store read-only",
		"file", path, "from_bytes", size, "to_bytes", end)
	return true, nil
}

package badgerdb

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/internal/diskspace"
)

// WriteReserve is what one store opened with Options can write through
// Badger's memory maps on its own, after rxguard's last admitted write:
// a page of one of these past the end of the free space is SIGBUS.
//
//   - every memtable's log, which Badger maps at twice the memtable size
//     (2 × 2 × 8 MiB);
//   - the level-0 tables a memtable flush and a level-0 compaction write
//     before they delete what they replace (8 stall tables × 8 MiB);
//   - the value-log file being written (32 MiB; rxguard's values live in
//     the LSM tree, so in practice it holds nothing).
//
// That is 128 MiB; it is derived from Options so that it follows them.
func WriteReserve() uint64 {
	o := Options(Config{Dir: "reserve", Logger: slog.New(slog.DiscardHandler)})
	return uint64(2*o.MemTableSize*int64(o.NumMemtables) + o.MemTableSize*int64(o.NumLevelZeroTablesStall) + o.ValueLogFileSize)
}

// DefaultMinFreeBytes is the default threshold of a store's guard when
// stores stores share its filesystem (rxguard's data directory holds the
// knowledge store, the history store and the decision log, unless the
// operator mounts them apart): the write reserve of each (384 MiB for
// three). The decision log's tuning changes blocks and compression, not
// the memtable, level-0 or value-log sizes the reserve is made of.
func DefaultMinFreeBytes(stores int) uint64 { return uint64(max(stores, 1)) * WriteReserve() }

// OpenGuarded opens a store's database for writing if g finds at least its
// threshold free. Otherwise it writes nothing to the disk:
//
//   - an existing store opens read-only (ModeReadOnly): Badger v4.9.6 then
//     creates no memtable, value log, discard-stats or key-registry file,
//     writes no pid file (a shared lock), starts no compactor or flusher
//     and does not compact on close;
//   - where there is no store yet (no MANIFEST) an empty in-memory database
//     stands in (ModeNotCreated), so reads find nothing.
//
// Either way g refuses writes until the store is reopened for writing
// (the caller does that from g.OnRoom). A nil g always opens read-write.
func OpenGuarded(c Config, g *diskspace.Guard) (*badger.DB, diskspace.Mode, error) {
	if c.InMemory || g.Check() {
		db, err := Open(c)
		if err == nil {
			g.SetMode(diskspace.ModeReadWrite)
		}
		return db, diskspace.ModeReadWrite, err
	}
	st := g.Status()
	if _, err := os.Stat(filepath.Join(c.Dir, badger.ManifestFilename)); errors.Is(err, fs.ErrNotExist) {
		db, err := OpenStandIn(c.Logger)
		if err != nil {
			return nil, diskspace.ModeNotCreated, err
		}
		g.SetMode(diskspace.ModeNotCreated)
		c.Logger.Warn("disk nearly full: the store is not created until there is room; nothing is stored meanwhile",
			"free_bytes", st.FreeBytes, "min_free_bytes", st.MinFreeBytes)
		return db, diskspace.ModeNotCreated, nil
	}
	ro := c
	ro.ReadOnly = true
	db, err := Open(ro)
	if err != nil {
		return nil, diskspace.ModeReadOnly, fmt.Errorf("disk nearly full (%s free, %s kept free), and opening read-only failed: %w",
			diskspace.Bytes(st.FreeBytes), diskspace.Bytes(st.MinFreeBytes), err)
	}
	g.SetMode(diskspace.ModeReadOnly)
	c.Logger.Warn("disk nearly full: opened the store read-only; it is reopened for writing when there is room",
		"free_bytes", st.FreeBytes, "min_free_bytes", st.MinFreeBytes)
	return db, diskspace.ModeReadOnly, nil
}

// OpenStandIn opens the empty in-memory database that stands in for a
// store that cannot be created (small memtables: it holds nothing).
func OpenStandIn(log *slog.Logger) (*badger.DB, error) {
	return badger.Open(Options(Config{InMemory: true, Logger: log}).WithMemTableSize(1 << 20))
}

// Close closes db, except a read-write one while g finds the disk nearly
// full: Badger's Close flushes the memtable and compacts level 0 into new
// tables, and on a full disk that is SIGBUS, not an error. Such a database
// is left the way a kill leaves it, which the stores are built for: every
// commit is already synced to its log and is replayed at the next open.
// The process is expected to exit; the directory lock goes with it.
func Close(db *badger.DB, g *diskspace.Guard, log *slog.Logger) error {
	if g != nil && g.Mode() == diskspace.ModeReadWrite && !db.Opts().InMemory && !g.Check() {
		st := g.Status()
		log.Warn("disk nearly full at close: leaving the store unclosed rather than let Badger flush into a full disk; the next start replays its log",
			"free_bytes", st.FreeBytes, "min_free_bytes", st.MinFreeBytes)
		return nil
	}
	return db.Close()
}

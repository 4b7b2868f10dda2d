// Package badgerdb opens Badger the way an rxguard sidecar needs it: small
// memory, durable commits, Badger's messages in slog, and the crash
// workaround below. knowledge/store, server/history and server/decisionlog
// use it.
package badgerdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// ErrInUse: another process (another rxguard) has the store open.
var ErrInUse = errors.New("store in use by another process")

// Config is what differs between rxguard's stores.
type Config struct {
	Dir      string
	InMemory bool // tests only
	// IndexCacheBytes bounds table indexes and bloom filters resident on
	// the heap (Badger's 0 means unbounded).
	IndexCacheBytes int64
	Logger          *slog.Logger
	// ReadOnly opens an existing store without creating or writing any
	// file (see OpenGuarded).
	ReadOnly bool
	// Tune, if set, adjusts the options Options returns (a store's own
	// compression, block size, durability): the store then still opens
	// through Open and OpenGuarded, with their crash repairs.
	Tune func(badger.Options) badger.Options
	// EncryptionKey, if set (16, 24 or 32 bytes; rxguard's key files hold
	// 32), encrypts the store at rest (encryption.go). A store must always
	// be opened with the key it was created with: Open refuses any other,
	// and a missing one, with ErrEncryptionKey. An encrypted store needs
	// IndexCacheBytes > 0.
	EncryptionKey []byte
}

// Open removes zero-byte log files a kill may have left (badger#2207) and
// opens the database with Options.
func Open(c Config) (*badger.DB, error) {
	if len(c.EncryptionKey) > 0 && c.IndexCacheBytes <= 0 {
		// Without an index cache Badger keeps every table's decrypted
		// index on the heap, unbounded: a programming error, not the
		// operator's.
		return nil, errors.New("badgerdb: an encrypted store needs Config.IndexCacheBytes > 0")
	}
	if !c.InMemory {
		// Before any repair below touches the directory: a store opened
		// with the wrong key is left exactly as it is.
		if err := checkKey(c.Dir, c.EncryptionKey); err != nil {
			return nil, err
		}
	}
	if !c.InMemory && c.ReadOnly {
		if err := trimLogHoles(c.Dir, c.Logger); err != nil {
			return nil, err
		}
	}
	if !c.InMemory {
		if err := removeEmptyLogFiles(c.Dir, c.Logger); err != nil {
			return nil, err
		}
	}
	db, err := badger.Open(Options(c))
	for tries := 0; err != nil && c.ReadOnly && tries < maxLogTruncations; tries++ {
		var cut bool
		if cut, err = truncateLogTail(c.Dir, err, c.Logger); !cut {
			break
		}
		db, err = badger.Open(Options(c))
	}
	if err != nil && errors.Is(keyMismatch(c.Dir, err), ErrEncryptionKey) {
		return nil, keyMismatch(c.Dir, err)
	}
	if err != nil {
		// Badger's own lock error is text only; it is the same condition
		// as lockDir's, so callers test one error.
		if strings.Contains(err.Error(), "Cannot acquire directory lock") || strings.Contains(err.Error(), "Another process is using this Badger database") {
			err = fmt.Errorf("%w: %w", ErrInUse, err)
		}
		return nil, fmt.Errorf("%w (check that the directory exists or can be created, is writable by rxguard, and is not used by another rxguard process)", err)
	}
	return db, nil
}

// Options tunes Badger for a sidecar sharing a host with the HIS. Badger's
// defaults target a database server: 5×64 MiB memtables and a 256 MiB block
// cache alone can take several hundred MiB of RSS. rxguard's stores are
// small (a knowledge release is some tens of MiB; a year of signed orders a
// few hundred MiB at most) and written in modest batches. c.Tune, if set,
// adjusts the result.
func Options(c Config) badger.Options {
	o := sidecarOptions(c)
	if c.Tune != nil {
		o = c.Tune(o)
	}
	if len(o.EncryptionKey) > 0 && o.BlockCacheSize == 0 {
		o = o.WithBlockCacheSize(EncryptedBlockCacheBytes)
	}
	return o
}

// sidecarOptions are Options before c.Tune.
func sidecarOptions(c Config) badger.Options {
	dir := c.Dir
	if c.InMemory {
		dir = ""
	}
	return badger.DefaultOptions(dir).
		WithInMemory(c.InMemory).
		WithReadOnly(c.ReadOnly).
		WithLogger(slogLogger{c.Logger.With("subsystem", "badger")}).
		// A write returns only after its commit reached the disk: a
		// release switch, or signed orders the HIS will not resend, must
		// survive a power loss.
		WithSyncWrites(true).
		// 8 MiB instead of 64 MiB bounds memory per memtable; it also caps
		// one transaction at ~1.2 MiB (15%), which is why releases are
		// written in several transactions.
		WithMemTableSize(8 << 20).
		// One memtable taking writes, one being flushed.
		WithNumMemtables(2).
		// Compact L0 early: fewer overlapping tables per read (the history
		// lookup merges every L0 table overlapping a patient). The stall
		// level stays well above it so a bulk load does not stall.
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		// No block compression, hence no block cache (default: Snappy and
		// 256 MiB). Uncompressed blocks are read straight from the mmapped
		// tables and cached by the kernel's reclaimable page cache;
		// compressed blocks would be decompressed into Go heap on every
		// read and compaction. Measured with four 50k-record releases
		// written back to back: Badger's live heap peaked at ~105 MiB
		// instead of ~205 MiB and settled at ~13 MiB instead of ~29 MiB,
		// for ~15% more disk.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(c.IndexCacheBytes).
		// Encrypted at rest when a key is given (encryption.go); Badger
		// then needs a block cache, which Options adds.
		WithEncryptionKey(c.EncryptionKey).
		WithEncryptionKeyRotationDuration(DataKeyRotation).
		// Values up to 64 KiB (all of rxguard's: a few hundred bytes at
		// most) live in the LSM tree beside their keys: a read is one
		// lookup, and deleted or expired space is reclaimed by ordinary
		// compaction rather than value-log GC.
		WithValueThreshold(64 << 10).
		// 32 MiB value-log files instead of 1 GiB: less to mmap and
		// preallocate for a log that holds nothing in practice.
		WithValueLogFileSize(32 << 20).
		// The minimum Badger accepts besides 0 (no compaction at all, and
		// then expired keys would never leave the disk).
		WithNumCompactors(2).
		// Flush L0 on a clean shutdown so the next start replays nothing.
		WithCompactL0OnClose(true)
}

// slogLogger forwards Badger's warnings and errors to slog. Info and debug
// are dropped before formatting: Badger is chatty at those levels.
type slogLogger struct{ l *slog.Logger }

func (b slogLogger) Errorf(format string, args ...any)   { b.log(slog.LevelError, format, args) }
func (b slogLogger) Warningf(format string, args ...any) { b.log(slog.LevelWarn, format, args) }
func (b slogLogger) Infof(string, ...any)                {}
func (b slogLogger) Debugf(string, ...any)               {}

func (b slogLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

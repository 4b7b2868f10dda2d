package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
)

// blockCacheBytes holds decompressed blocks. Badger requires a block cache
// with compression on; a page of a query reads some hundred blocks.
const blockCacheBytes = 8 << 20

// blockSize is the size of a table block, the unit Badger compresses:
// 64 KiB instead of 4 KiB. A decision is ~3 KB of protobuf, so a 4 KiB
// block compresses little more than one decision on its own; 64 KiB blocks
// let ZSTD find what neighbouring decisions repeat (rule messages,
// evidence, item names). Measured with BenchmarkAppendThroughput (10-line
// requests, 5 findings, 2.9 KB encoded): 1,530 → 254 bytes on disk per
// decision, and twice the write throughput, since Badger builds (and
// compacts) 16 times fewer blocks. A read decompresses one block (~0.1 ms);
// a page of 100 decisions of a physician among 1,000,000 stays well under
// its 50 ms budget (BenchmarkQueryByPhysician). (Measured while decision
// records lived in the LSM tree; now its blocks hold the index keys,
// responses and signed lines, and the records are in the value log.)
const blockSize = 64 << 10

// valueThreshold: values of at least this many bytes go to the value log:
// the decision records (S2-compressed, some kB), not the responses, signed
// lines and index keys. In the LSM tree a 10 kB decision was recompressed
// (ZSTD) at every memtable flush and compaction and filled an 8 MiB
// memtable every ~800 decisions, on the core the checks run on; in the
// value log it is written once. Its space is freed by value-log GC
// (reclaim.go).
const valueThreshold = 1 << 10

// valueLogFileSize is badgerdb's (the write reserve counts one file of
// it); a variable so that tests can fill several files with little data.
var valueLogFileSize = badgerdb.Options(badgerdb.Config{Dir: "size", Logger: slog.New(slog.DiscardHandler)}).ValueLogFileSize

// indexCacheBytes bounds table indexes and bloom filters on the heap:
// years of decisions are some GiB of tables.
const indexCacheBytes = 16 << 20

// tune is what this store changes in badgerdb's sidecar tuning. It is
// applied through badgerdb.Config.Tune, so the store opens through
// badgerdb.Open and OpenGuarded with their crash repairs (badger#2207),
// read-write and read-only alike:
//
//   - Values of valueThreshold bytes or more in the value log (below).
//   - ZSTD block compression (level 1, Badger's recommendation) in 64 KiB
//     blocks (blockSize). Decisions are repetitive protobuf (the same
//     codes, names and messages again and again). Badger then needs a
//     block cache, kept small.
//   - No conflict detection: one goroutine (the writer) does every write,
//     so there is nothing to detect, and the oracle need not remember
//     every committed key.
//   - No SyncWrites: a commit returns once it is in the memtable's log, a
//     shared memory map of the file (the page cache, which outlives a
//     kill -9 of the process), without waiting for an fsync. The log syncs
//     the store itself (sync.go): after every group commit in Sync
//     durability, before RecordResponses, LinkSigned and Flush return, and
//     every SyncInterval in Async durability. With SyncWrites every group
//     commit waited for its fsync while the next decisions waited in the
//     queue, so a kill lost what arrived during the fsync too.
func tune(o badger.Options) badger.Options {
	return o.
		WithCompression(options.ZSTD).
		WithZSTDCompressionLevel(1).
		WithBlockCacheSize(blockCacheBytes).
		WithBlockSize(blockSize).
		WithDetectConflicts(false).
		WithSyncWrites(false).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize)
}

// storeConfig is the badgerdb configuration of the store in dir. Encrypted
// (key set), Badger needs the index cache and the block cache tune already
// sets.
func storeConfig(dir string, logger *slog.Logger, key []byte) badgerdb.Config {
	return badgerdb.Config{Dir: dir, IndexCacheBytes: indexCacheBytes, Logger: logger, Tune: tune, EncryptionKey: key}
}

// Rekey re-encrypts the stopped decision log in dir from oldKey to newKey
// (either nil: unencrypted) as badgerdb.Rekey does: a verified copy
// replaces it and the store as it was is kept at dir+badgerdb.OldKeySuffix.
func Rekey(ctx context.Context, dir string, oldKey, newKey []byte, logger *slog.Logger) (badgerdb.RekeyResult, error) {
	if logger == nil {
		logger = slog.Default()
	}
	res, err := badgerdb.Rekey(ctx, storeConfig(dir, logger.With("component", "server/decisionlog", "dir", dir), oldKey), newKey)
	if err != nil {
		return res, fmt.Errorf("re-encrypt decision log %s: %w", dir, err)
	}
	return res, nil
}

// openStore opens the store as the disk allows: read-write when g finds
// room (or there is no guard), else as badgerdb.OpenGuarded does (an
// existing store read-only, a missing one not at all). It returns the
// database (nil when there is none to read), whether it takes writes, and
// the error that kept it from opening read-write.
func openStore(cfg badgerdb.Config, g *diskspace.Guard) (db *badger.DB, writable bool, err error) {
	db, mode, err := badgerdb.OpenGuarded(cfg, g)
	switch {
	case err != nil:
		return nil, false, err
	case mode == diskspace.ModeReadWrite:
		return db, true, nil
	case mode == diskspace.ModeNotCreated:
		// An empty in-memory stand-in; reads say "unavailable" instead.
		_ = db.Close()
		return nil, false, g.Err()
	}
	return db, false, g.Err()
}

// openReadOnly opens an existing store for Options.ReadOnly: no file is
// created, and a store that is missing or cannot be opened (another
// process holds it for writing) is an error.
func openReadOnly(cfg badgerdb.Config) (*badger.DB, error) {
	if _, err := os.Stat(filepath.Join(cfg.Dir, badger.ManifestFilename)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open decision log %s read-only: there is no decision log there (no %s): %w", cfg.Dir, badger.ManifestFilename, err)
		}
		return nil, fmt.Errorf("open decision log %s read-only: %w", cfg.Dir, err)
	}
	cfg.ReadOnly = true
	db, err := badgerdb.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("open decision log %s read-only: %w", cfg.Dir, err)
	}
	return db, nil
}

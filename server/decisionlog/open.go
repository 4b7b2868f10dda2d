package decisionlog

import (
	"fmt"

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
// its 50 ms budget (BenchmarkQueryByPhysician).
const blockSize = 64 << 10

// indexCacheBytes bounds table indexes and bloom filters on the heap:
// years of decisions are some GiB of tables.
const indexCacheBytes = 16 << 20

// badgerOptions is badgerdb's sidecar tuning with what this store changes:
//
//   - ZSTD block compression (level 1, Badger's recommendation) in 64 KiB
//     blocks (blockSize). Decisions are repetitive protobuf (the same
//     codes, names and messages again and again). Badger then needs a
//     block cache, kept small.
//   - No conflict detection: one goroutine (the writer) does every write,
//     so there is nothing to detect, and the oracle need not remember
//     every committed key.
func badgerOptions(cfg badgerdb.Config) badger.Options {
	return badgerdb.Options(cfg).
		WithCompression(options.ZSTD).
		WithZSTDCompressionLevel(1).
		WithBlockCacheSize(blockCacheBytes).
		WithBlockSize(blockSize).
		WithDetectConflicts(false)
}

// openReadWrite opens the store for writing with badgerOptions.
//
// badgerdb.Open cannot take other Options yet, and it is what repairs the
// zero-byte log files a kill can leave (badger#2207). So: open with this
// store's options; if that fails, let badgerdb.Open repair and open (with
// its own options), close it, and open again. The fallback runs only after
// a crash left something to repair; the memtable the repairing open
// replays is flushed uncompressed, and later compactions compress it.
func openReadWrite(cfg badgerdb.Config) (*badger.DB, error) {
	db, err := badger.Open(badgerOptions(cfg))
	if err == nil {
		return db, nil
	}
	repaired, err2 := badgerdb.Open(cfg)
	if err2 != nil {
		return nil, err2
	}
	if err := repaired.Close(); err != nil {
		return nil, fmt.Errorf("close the store after repairing it: %w", err)
	}
	if db, err = badger.Open(badgerOptions(cfg)); err != nil {
		return nil, fmt.Errorf("%w (check that the directory exists or can be created, is writable by rxguard, and is not used by another rxguard process)", err)
	}
	return db, nil
}

// openStore opens the store as the disk allows: read-write when g finds
// room (or there is no guard), else as badgerdb.OpenGuarded does (an
// existing store read-only, a missing one not at all). It returns the
// database (nil when there is none to read), whether it takes writes, and
// the error that kept it from opening read-write.
func openStore(cfg badgerdb.Config, g *diskspace.Guard) (db *badger.DB, writable bool, err error) {
	if g.Check() {
		db, err := openReadWrite(cfg)
		if err != nil {
			return nil, false, err
		}
		g.SetMode(diskspace.ModeReadWrite)
		return db, true, nil
	}
	db, mode, err := badgerdb.OpenGuarded(cfg, g)
	switch {
	case err != nil:
		return nil, false, err
	case mode == diskspace.ModeReadWrite:
		// Room came back between the two measurements: reopen with this
		// store's options.
		if err := db.Close(); err != nil {
			return nil, false, err
		}
		if db, err = openReadWrite(cfg); err != nil {
			return nil, false, err
		}
		return db, true, nil
	case mode == diskspace.ModeNotCreated:
		// An empty in-memory stand-in; reads say "unavailable" instead.
		_ = db.Close()
		return nil, false, g.Err()
	}
	return db, false, g.Err()
}

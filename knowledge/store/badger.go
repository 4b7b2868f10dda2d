package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerOptions tunes Badger for a sidecar sharing a host with the HIS.
// Badger's defaults target a database server: 5×64 MiB memtables and a
// 256 MiB block cache alone can take several hundred MiB of RSS. The data
// here is small (a release is some tens of MiB, at most three are kept),
// written rarely and read in full at start-up and on activation; the hot
// path serves from the compiled in-memory index, not from Badger.
func badgerOptions(opts Options, logger *slog.Logger) badger.Options {
	var o badger.Options
	if opts.InMemory {
		o = badger.DefaultOptions("").WithInMemory(true)
	} else {
		o = badger.DefaultOptions(opts.Dir)
	}
	return o.
		// Badger logs routine compaction and replay at info; the sidecar
		// log should only see what an operator may need to act on.
		WithLogger(badgerLogger{l: logger}).
		// PutRelease and Activate return only after their commit reached
		// the disk: a switch the caller was told happened must survive a
		// power loss, and the manifest-last rule relies on ordered,
		// durable commits.
		WithSyncWrites(true).
		// 8 MiB instead of 64 MiB: bounds memory per memtable. It also caps
		// one transaction at ~1.2 MiB (15%), which is why releases are
		// written in several transactions.
		WithMemTableSize(8 << 20).
		// One memtable taking writes, one being flushed; writes are rare
		// bulk loads, so deeper queues buy nothing but RSS.
		WithNumMemtables(2).
		// Compact L0 early: fewer overlapping tables to consult per read and
		// fewer table indexes resident. The stall level is kept well above
		// it so a bulk load of a large release does not stall on L0.
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		// No block compression, hence no block cache (default: Snappy and
		// 256 MiB). Uncompressed blocks are read straight from the mmapped
		// tables, so caching is the kernel's page cache, which the kernel
		// can reclaim; compressed blocks would be decompressed into Go heap
		// on every read and on every compaction. Measured with four
		// 50k-record releases written back to back: Badger's live heap
		// peaked at ~105 MiB instead of ~205 MiB and settled at ~13 MiB
		// instead of ~29 MiB. The cost is disk: 56 instead of 49 MiB for
		// the tests' random payloads; real JSON compresses better, so
		// expect a larger factor, on a store of some tens of MiB.
		// Nothing on the request path reads Badger, so a block cache
		// would buy nothing there either.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		// Bound table indexes and bloom filters instead of keeping all of
		// them resident on the heap (IndexCacheSize 0 means unbounded).
		WithIndexCacheSize(4 << 20).
		// Values up to 64 KiB (every record in practice: a few hundred
		// bytes) live in the LSM tree beside their keys. A read is one
		// lookup, and space of removed releases is reclaimed by ordinary
		// compaction; only unusually large values go to the value log.
		WithValueThreshold(64 << 10).
		// 32 MiB value-log files instead of 1 GiB: smaller files to mmap
		// and preallocate, and value-log GC can reclaim space in smaller
		// steps.
		WithValueLogFileSize(32 << 20).
		// The minimum Badger accepts besides 0 (no compaction at all);
		// the default of 4 goroutines is for write-heavy servers.
		WithNumCompactors(2).
		// Flush L0 on a clean shutdown so the next start opens a compact
		// tree quickly and replays nothing.
		WithCompactL0OnClose(true)
}

// badgerLogger forwards Badger's warnings and errors to slog. Info and debug
// are dropped before formatting: Badger is chatty at those levels.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(format string, args ...any) { b.log(slog.LevelError, format, args) }
func (b badgerLogger) Warningf(format string, args ...any) {
	b.log(slog.LevelWarn, format, args)
}
func (b badgerLogger) Infof(string, ...any)  {}
func (b badgerLogger) Debugf(string, ...any) {}

func (b badgerLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

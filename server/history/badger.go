package history

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerOptions tunes Badger for a sidecar sharing a host with the HIS, as
// knowledge/store does: Badger's defaults (5×64 MiB memtables, a 256 MiB
// block cache) target a database server. Unlike the knowledge store, this
// one is read on the CheckOrders hot path (one short prefix scan per check)
// and written by every RecordSigned (a handful of ~100-byte keys).
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
		// Record returns only after its commit reached the disk: the HIS
		// was told the signed orders are recorded and will not resend them,
		// so losing them to a power cut would silently weaken later checks.
		WithSyncWrites(true).
		// 8 MiB memtables bound memory; a RecordSigned batch is a few KiB,
		// far below the ~1.2 MiB (15%) transaction cap this implies.
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		// Compact L0 early: every Lookup merges all L0 tables that overlap
		// the patient's range, so fewer L0 tables is fewer iterators per
		// check. Stalls stay well above it.
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		// No compression, hence no block cache: uncompressed blocks are read
		// straight from the mmapped tables and cached by the kernel's page
		// cache (reclaimable), while compressed blocks would be decompressed
		// into Go heap on every Lookup that touches them.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		// Bounded, but sized so a year of a busy hospital's signed lines
		// (some million keys: a few MiB of table index and bloom filters)
		// stays resident; an evicted index is re-read on the hot path.
		WithIndexCacheSize(16 << 20).
		// Values are ~40 bytes; keep every one of them in the LSM tree
		// beside its key so Lookup never reads the value log, and expired
		// entries are reclaimed by ordinary compaction (no value-log GC).
		WithValueThreshold(64 << 10).
		// Small value-log files: the value log holds nothing in practice.
		WithValueLogFileSize(32 << 20).
		// The minimum Badger accepts besides 0 (no compaction at all, and
		// then TTL-expired keys would never leave the disk).
		WithNumCompactors(2).
		// Flush L0 on a clean shutdown so the next start replays nothing.
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

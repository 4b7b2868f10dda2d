package decisionlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Syncing the store to disk.
//
// The store opens Badger without SyncWrites (open.go's tune), so a commit
// is in Badger's memtable log (a MAP_SHARED mapping of a .mem file, i.e.
// the page cache) and its value log when Commit returns: it survives a
// kill -9 of the process, not yet a power loss. syncStore makes it
// survive a power loss too. What Badger v4.9.6 leaves unsynced without
// SyncWrites, and what syncs it:
//
//   - the active memtable's log: DB.Sync msyncs it (db.go, DB.Sync;
//     memtable.go, SyncWAL);
//   - the value-log file being written: DB.Sync syncs it (value.go,
//     valueLog.sync, which syncs only without SyncWrites). A value-log file
//     is synced when Badger rotates it (logFile.doneWriting truncates it,
//     and ristretto's MmapFile.Truncate msyncs first), and a new one's
//     directory entry when it is created (z.OpenMmapFile → SyncDir), so the
//     current file is the only one that can hold unsynced values;
//   - the logs of memtables that are full but not yet flushed to a level-0
//     table: nothing. DB.Sync syncs only the active memtable's log;
//     ensureRoomForWrite hands a full memtable to the flusher without a
//     sync, and until its table is written (msynced, table.CreateTable;
//     the MANIFEST change synced) and its log deleted, its unsynced tail
//     lives only in the page cache. syncMemtableLogs fsyncs every .mem
//     file for them (an fsync of the file flushes the pages dirtied
//     through any shared mapping of it, as msync does: on Linux both are
//     vfs_fsync_range).
//
// Sync durability: the writer syncs (DB.Sync) after every group commit
// and every call (RecordResponses, LinkSigned, Flush), before it answers
// them and before its next write, so a memtable is synced before it fills
// and the flushing ones need nothing.
//
// Async durability: the writer never waits for an fsync. The syncer, a
// goroutine of its own, syncs every memtable log (.mem file) and then
// DB.Sync every SyncInterval, and whenever calls wait: the writer runs a
// call's commit and hands the call to the syncer, which answers it after
// the next sync, so an acknowledged response or signed link, and the
// decision it answers, are on the disk while the writer goes on
// committing. One sync answers every call waiting.
//
// A sync covers every commit that returned before it: with nothing
// committed since the last sync there is nothing to do.

// syncState is what syncStore knows about the store's sync.
type syncState struct {
	// mu serialises syncs; it guards synced and full.
	mu sync.Mutex
	// synced is the Badger commits (Log.commits) the last successful sync
	// covered.
	synced uint64
	// full: the last sync failed, so the next one syncs every memtable log
	// whatever the durability.
	full bool
	// broken: the last sync failed (Status is degraded until a commit
	// succeeds after a successful sync).
	broken atomic.Bool

	// The Async syncer: calls waiting for the next sync (guarded by
	// waitMu), the wake-up for them, and its stop.
	waitMu  sync.Mutex
	waiting []*call
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// syncHook, if set (by tests), runs at the start of every sync that has
// something to sync; its error fails the sync.
var syncHook atomic.Pointer[func() error]

// syncStore syncs everything committed to db so far, unless that was
// synced already. The caller holds the life (db is open read-write).
func (l *Log) syncStore(db *badger.DB) error {
	s := &l.syncing
	s.mu.Lock()
	defer s.mu.Unlock()
	upTo := l.commits.Load() // commits that returned before this sync
	if upTo == s.synced {
		return nil
	}
	var err error
	if hook := syncHook.Load(); hook != nil {
		err = (*hook)()
	}
	if err == nil {
		if l.opts.Durability == Async || s.full {
			_, err = syncMemtableLogs(l.opts.Dir)
		}
		err = errors.Join(err, db.Sync())
	}
	if err != nil {
		s.full = true
		err = fmt.Errorf("sync the decision log to disk: %w", err)
		l.syncFailed(err)
		return err
	}
	s.synced, s.full = upTo, false
	if s.broken.Swap(false) {
		l.log.Info("decision log syncing to disk again")
	}
	return nil
}

// syncOpen syncs the store if it is open for writing.
func (l *Log) syncOpen() error {
	if !l.life.Enter() {
		return nil
	}
	defer l.life.Leave()
	if l.db == nil || !l.writable.Load() {
		return nil
	}
	return l.syncStore(l.db)
}

// syncFailed degrades the log: what was committed may not survive a
// power loss. A commit that succeeds after a successful sync restores it.
func (l *Log) syncFailed(err error) {
	if !l.syncing.broken.Swap(true) {
		l.log.Error("DECISION LOG CANNOT SYNC TO DISK: recent decisions and responses may not survive a power loss", "err", err)
	}
	l.health.set(l, false, "the decision log cannot sync to disk: recent decisions and responses may not survive a power loss (checks are answered)", err)
}

// syncMemtableLogs fsyncs every memtable log (.mem file) in dir: the
// active one and those waiting to be flushed.
func syncMemtableLogs(dir string) (synced int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".mem") || !e.Type().IsRegular() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // flushed to a table (synced) and deleted meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := f.Sync(); err != nil {
			errs = append(errs, err)
		} else {
			synced++
		}
		f.Close()
	}
	return synced, errors.Join(errs...)
}

// startSyncer starts the Async syncer: off the writer's path, it syncs
// every SyncInterval what was committed since the last sync, and answers
// the calls handed to it (afterSync) after a sync.
func (l *Log) startSyncer() {
	s := &l.syncing
	s.wake, s.stop, s.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		var batch []*call
		for {
			stopping := false
			select {
			case <-s.stop:
				stopping = true // the writer has exited: nothing more is handed over
			case <-s.wake:
			case <-t.C:
			}
			s.waitMu.Lock()
			batch, s.waiting = s.waiting, batch[:0]
			s.waitMu.Unlock()
			err := l.syncOpen() // a failure degrades the log (syncStore)
			for _, c := range batch {
				c.finish(err)
			}
			clear(batch)
			if stopping {
				return
			}
		}
	}()
}

// afterSync hands c, its fn done, to the syncer, which answers it after
// the next sync.
func (l *Log) afterSync(c *call) {
	s := &l.syncing
	s.waitMu.Lock()
	s.waiting = append(s.waiting, c)
	s.waitMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is pending; it takes c too
	}
}

// stopSyncer stops the syncer (if it runs), which answers the calls still
// waiting first, and waits for it. The writer must have exited.
func (l *Log) stopSyncer() {
	if s := &l.syncing; s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
	}
}

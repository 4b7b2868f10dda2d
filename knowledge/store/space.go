package store

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge"
)

// A full disk. With Options.Space set, every write (PutRelease, Activate,
// DeleteRelease, AppendPhysicianEvents, PutSyncState) first asks the guard
// and, while it finds less than its threshold free, fails with an error
// matching diskspace.ErrNoSpace having written nothing; RunGC does nothing.
// Reads go on.
//
// A store opened while the disk is nearly full writes nothing at all: an
// existing one is opened read-only (the active release is verified and
// served; the repairs Open would make wait), a missing one is not created
// (an empty in-memory database stands in). Once the guard finds room it is
// closed and reopened for writing, under the same guard against in-flight
// calls as Close, and Open's recovery runs then.

// Writable is nil while the store takes writes, else the reason (matching
// diskspace.ErrNoSpace). The sync client asks before it fetches a release.
func (s *Store) Writable() error { return s.space.Err() }

// releaseDiskBytes estimates what writing records takes on disk beyond the
// guard's reserve: each record as a table entry (key with its release
// prefix, value, Badger's per-entry overhead), twice: in the level-0
// tables, and in the compaction that rewrites them before deleting them.
func releaseDiskBytes(records []knowledge.Record) uint64 {
	var n uint64
	for i := range records {
		r := &records[i]
		n += uint64(len(recPrefix)+maxVersionLen/4+len(r.Class)+len(r.Key)+len(r.Value)) + 64
	}
	return 2 * n
}

// openedForReading completes Open for a store opened while the disk was
// nearly full.
func (s *Store) openedForReading(ctx context.Context, mode diskspace.Mode) (*Store, error) {
	if mode == diskspace.ModeReadOnly {
		if err := s.verifyActiveReadOnly(ctx); err != nil {
			if cerr := s.db.Close(); cerr != nil {
				s.log.Warn("close knowledge store after failed open", "err", cerr)
			}
			return nil, err
		}
	}
	// A later cancellation of ctx (the start-up context) must not cut a
	// reopen's recovery short.
	reopenCtx := context.WithoutCancel(ctx)
	s.space.OnRoom(func() { s.reopenForWrites(reopenCtx) })
	return s, nil
}

// verifyActiveReadOnly is Open's recovery without its writes: the active
// release must prove out. Incomplete releases are left for the reopen (they
// are never listed nor active); falling back from a corrupt active release
// would be a write, so that fails the open.
func (s *Store) verifyActiveReadOnly(ctx context.Context) error {
	var active string
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		active, _, err = pointers(txn)
		return err
	}); err != nil {
		return fmt.Errorf("open knowledge store %s: read active pointer: %w", s.dir, err)
	}
	if active == "" {
		s.log.Info("knowledge store has no active release")
		return nil
	}
	if err := s.proveActive(ctx, active, true); err != nil {
		return fmt.Errorf("open knowledge store %s read-only (disk nearly full): verify active release %q: %w; "+
			"falling back to the previous release needs a write: free space on that disk and start rxguard again", s.dir, active, err)
	}
	s.log.Info("active knowledge release verified (store opened read-only)", "version", active)
	return nil
}

// reopenForWrites runs from the guard's loop whenever it finds room: a
// store not open for writing is closed and opened again read-write, then
// recovered as Open would. If that fails it is opened for reading again
// and the next poll tries once more.
func (s *Store) reopenForWrites(ctx context.Context) {
	if s.space.Mode() == diskspace.ModeReadWrite {
		return
	}
	s.dropPrimed()
	s.life.Swap(func() {
		was := s.space.Mode()
		if was == diskspace.ModeReadWrite {
			return
		}
		if err := s.db.Close(); err != nil {
			s.log.Warn("close knowledge store opened for reading", "err", err)
		}
		db, mode, err := badgerdb.OpenGuarded(s.cfg, s.space)
		if err != nil {
			s.log.Error("reopening the knowledge store for writing failed; it goes on refusing writes and is tried again", "err", err)
			db = s.reopenForReading(was)
		}
		s.db = db
		if err != nil || mode != diskspace.ModeReadWrite {
			return
		}
		s.log.Info("knowledge store reopened for writing", "was", was.String())
		if err := s.recover(ctx, false); err != nil {
			s.log.Error("recovery of the reopened knowledge store failed; the served release is unchanged", "err", err)
			return
		}
		s.switchMu.Lock()
		err = s.collect(ctx)
		s.switchMu.Unlock()
		if err != nil {
			s.log.Warn("garbage collection of old knowledge releases failed; it is retried on the next activation", "err", err)
		}
	})
}

// reopenForReading opens the store the way it was before a failed reopen.
func (s *Store) reopenForReading(was diskspace.Mode) *badger.DB {
	if was == diskspace.ModeReadOnly {
		ro := s.cfg
		ro.ReadOnly = true
		db, err := badgerdb.Open(ro)
		if err == nil {
			s.space.SetMode(diskspace.ModeReadOnly)
			return db
		}
		s.log.Error("reopening the knowledge store read-only failed too; an empty stand-in serves reads until it can be opened", "err", err)
	}
	db, err := badgerdb.OpenStandIn(s.log)
	if err != nil {
		// Only an allocation failure makes an in-memory Badger fail.
		panic(fmt.Sprintf("knowledge store %s: open an in-memory stand-in: %v", s.dir, err))
	}
	s.space.SetMode(diskspace.ModeNotCreated)
	return db
}

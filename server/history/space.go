package history

import (
	"container/list"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
)

// A full disk. With Options.Space set, Record asks the guard before it
// writes and, while the guard finds less than its threshold free, fails
// with an error matching diskspace.ErrNoSpace having recorded nothing.
// Lookup goes on.
//
// A store opened while the disk is nearly full writes nothing: an existing
// one is opened read-only, so checks still see the recorded history; a
// missing one (or one that will not open read-only) is not created and an
// empty in-memory database stands in, so checks use the request's history
// only. Once the guard finds room the store is closed and reopened for
// writing under the same guard against in-flight calls as Close.

// openGuarded opens the database as badgerdb.OpenGuarded does, falling
// back to the empty stand-in if a nearly full disk forces a read-only open
// and that fails: the history must not stop the sidecar from starting.
func openGuarded(cfg badgerdb.Config, g *diskspace.Guard) (*badger.DB, error) {
	db, mode, err := badgerdb.OpenGuarded(cfg, g)
	if err == nil || mode == diskspace.ModeReadWrite || errors.Is(err, badgerdb.ErrEncryptionKey) {
		// A wrong key is the operator's to fix, not the disk's: an empty
		// stand-in would hide every patient's history behind a started
		// sidecar.
		return db, err
	}
	cfg.Logger.Error("the history store could not be opened read-only on a nearly full disk; checks use the request's history only until there is room",
		"err", err)
	if db, err = badgerdb.OpenStandIn(cfg.Logger); err != nil {
		return nil, err
	}
	g.SetMode(diskspace.ModeNotCreated)
	return db, nil
}

// watchSpace makes a store not open for writing reopen once there is room.
func (s *Store) watchSpace() {
	if s.space.Mode() != diskspace.ModeReadWrite {
		s.space.OnRoom(s.reopenForWrites)
	}
}

// reopenForWrites runs from the guard's loop whenever it finds room.
func (s *Store) reopenForWrites() {
	if s.space.Mode() == diskspace.ModeReadWrite {
		return
	}
	s.life.Swap(func() {
		was := s.space.Mode()
		if was == diskspace.ModeReadWrite {
			return
		}
		if err := s.db.Close(); err != nil {
			s.log.Warn("close history store opened for reading", "err", err)
		}
		db, err := openGuarded(s.cfg, s.space)
		if err != nil {
			s.log.Error("reopening the history store failed; an empty stand-in serves lookups until it can be opened", "err", err)
			if db, err = badgerdb.OpenStandIn(s.log); err != nil {
				panic("history store " + s.dir + ": open an in-memory stand-in: " + err.Error())
			}
			s.space.SetMode(diskspace.ModeNotCreated)
		}
		s.db = db
		// What was cached came from the database just closed; a stand-in
		// cached every patient as having no history.
		s.cache.dropAll()
		if s.space.Mode() == diskspace.ModeReadWrite {
			s.log.Info("history store reopened for writing", "was", was.String())
		}
	})
}

// dropAll empties the cache and fences off lookups that started before.
func (c *cache) dropAll() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.byPatient = map[string]*list.Element{}
	c.lru.Init()
	c.entries = 0
}

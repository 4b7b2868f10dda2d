package store

import "github.com/rxguard/rxguard/internal/badgerdb"

// HoldTables calls fn with the paths of the store's table files while they
// cannot be unmapped or deleted (badgerdb.HoldTables), so that the sidecar
// can drop their pages from its resident set (internal/resident): the
// compiled index answers the checks, and the tables are read again, whole,
// only by the next delta or physician feed, from the page cache. An
// in-memory store has no files: fn is not called. It fails when the store
// is closed.
func (s *Store) HoldTables(fn func(paths []string)) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.inMemory {
		return nil
	}
	badgerdb.HoldTables(s.db, s.dir, fn)
	return nil
}

// Streaming reports whether a pass over a whole release's records (a
// delta's base, a proof, a load) is reading the tables now: the sidecar
// then drops their pages more often, so that the pass does not bring them
// all back into its resident set.
func (s *Store) Streaming() bool { return s.streams.Load() > 0 }

package store

import (
	"context"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/knowledge"
)

// primeTTL bounds how long records Open proved wait for the Records call
// they are kept for: a process that opens the store and never reads the
// active release (the kb commands) must not hold it for its lifetime.
// (A variable for tests.)
var primeTTL = 2 * time.Minute

// primedRelease is the active release as Open's recovery proved it: the
// records exactly as they were hashed, and the manifest they were proven
// against, identified by its Badger commit version (a release removed and
// put again under the same version has a new one).
type primedRelease struct {
	version string
	seq     uint64
	sha     string
	records []knowledge.Record
	timer   *time.Timer
}

// proveActive is the proof of the active release at Open. With retain it
// reads the records as it proves them and keeps them for the first Records
// of that version, so that a sidecar's start (Open, then Records of the
// active release) reads and hashes the release once instead of twice.
func (s *Store) proveActive(ctx context.Context, version string, retain bool) error {
	if !retain {
		return s.verify(ctx, version)
	}
	var (
		records []knowledge.Record
		m       knowledge.Manifest
		seq     uint64
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if m, seq, err = s.loadManifest(txn, version); err != nil {
			return err
		}
		records, err = s.readProven(ctx, txn, m)
		return err
	})
	if err != nil {
		return err
	}
	s.primedMu.Lock()
	defer s.primedMu.Unlock()
	s.dropPrimedLocked()
	p := &primedRelease{version: version, seq: seq, sha: m.ContentSHA256, records: records}
	p.timer = time.AfterFunc(primeTTL, func() {
		s.primedMu.Lock()
		defer s.primedMu.Unlock()
		if s.primed == p {
			s.primed = nil
		}
	})
	s.primed = p
	return nil
}

// takePrimed hands over the records Open proved if they are of version
// and were proven against the manifest stored now (same commit version and
// hash); they are handed over once.
func (s *Store) takePrimed(version string, seq uint64, sha string) ([]knowledge.Record, bool) {
	s.primedMu.Lock()
	defer s.primedMu.Unlock()
	p := s.primed
	if p == nil || p.version != version || p.seq != seq || p.sha != sha {
		return nil, false
	}
	s.dropPrimedLocked()
	return p.records, true
}

// dropPrimed forgets records Open proved: any write or switch, Close and a
// reopen do, so they never outlive the start they are for.
func (s *Store) dropPrimed() {
	s.primedMu.Lock()
	defer s.primedMu.Unlock()
	s.dropPrimedLocked()
}

func (s *Store) dropPrimedLocked() {
	if s.primed != nil {
		s.primed.timer.Stop()
		s.primed = nil
	}
}

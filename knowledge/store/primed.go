package store

import (
	"context"
	"time"
	"weak"

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

// readReceipt identifies the records the last Records call returned and
// what they were proven against: the release, its manifest's Badger
// commit version and content hash. PutDelta handed exactly those records
// (the same backing array, same length) as its base records, while that
// manifest is still the one stored, knows them to be the base's stored
// records without reading the base from Badger again: a complete release
// is immutable, and a release removed and put again has a new manifest
// commit version (package doc, "Overlays").
//
// The pointer is weak: the receipt must not keep a release's records
// alive after their user has dropped them, and a collected array cannot
// be mistaken for a new one at the same address.
type readReceipt struct {
	version string
	seq     uint64
	sha     string
	first   weak.Pointer[knowledge.Record]
	n       int
}

// issueReceipt records that records are version's as proven against the
// manifest stored at commit version seq; it replaces the previous receipt
// (one delta is prepared at a time; a lost receipt only costs PutDelta a
// read of the base).
func (s *Store) issueReceipt(version string, seq uint64, sha string, records []knowledge.Record) {
	if len(records) == 0 {
		return
	}
	r := &readReceipt{version: version, seq: seq, sha: sha, first: weak.Make(&records[0]), n: len(records)}
	s.receiptMu.Lock()
	s.receipt = r
	s.receiptMu.Unlock()
}

// takeReceipt returns the receipt if records are the ones it was issued
// for as version's records; it is taken once.
func (s *Store) takeReceipt(version string, records []knowledge.Record) (*readReceipt, bool) {
	if len(records) == 0 {
		return nil, false
	}
	s.receiptMu.Lock()
	defer s.receiptMu.Unlock()
	r := s.receipt
	if r == nil || r.version != version || r.n != len(records) || r.first != weak.Make(&records[0]) {
		return nil, false
	}
	s.receipt = nil
	return r, true
}

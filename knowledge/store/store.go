package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge"
)

// Options configures Open.
type Options struct {
	// Dir is the Badger directory. It is created if missing.
	Dir string
	// InMemory keeps everything in memory; for tests only (Dir is ignored).
	InMemory bool
	// Logger receives the store's and Badger's messages; nil means
	// slog.Default().
	Logger *slog.Logger
	// KeepReleases is how many complete releases are kept besides the
	// active one. Values below 1 mean 1: the previous release is always
	// kept because Open falls back to it when the active one is corrupt.
	KeepReleases int
	// Space, if set, guards the store against a full disk (space.go):
	// writes are refused with an error matching diskspace.ErrNoSpace
	// while it finds too little free, and a store opened then is opened
	// without writing and reopened for writing once there is room.
	Space *diskspace.Guard
}

// Release is a complete release as listed by Releases.
type Release struct {
	knowledge.Manifest
	// Active: meta/active names this release.
	Active bool
	// Previous: meta/previous names this release (the fallback).
	Previous bool
	// Base is the full release this one is stored as changes to (an
	// overlay, see ApplyDelta); empty for a release stored whole.
	Base string
}

// Store holds releases in Badger. Methods are safe for concurrent use.
type Store struct {
	db       *badger.DB
	dir      string // for messages: the directory or "(in-memory)"
	inMemory bool
	log      *slog.Logger
	keep     int
	space    *diskspace.Guard // nil: not guarded
	cfg      badgerdb.Config  // how db was opened, to reopen it (space.go)

	// life guards against Close while a method is using db: methods hold
	// it for reading, Close for writing. Methods must not call each other
	// while holding it (RWMutex read locks are not reentrant).
	life badgerdb.Life

	// switchMu serialises what changes meta/* or removes complete
	// releases: Activate (with its garbage collection) and DeleteRelease.
	// PutRelease does not take it: a long write must not delay a switch.
	switchMu sync.Mutex

	// busy holds versions a call is writing or removing, so that garbage
	// collection never removes a release still being written and two
	// calls never interleave on one version.
	busyMu sync.Mutex
	busy   map[string]struct{}
	// pins counts calls reading a version as the base of an overlay they
	// write: it must not be removed under them (claim refuses it).
	pins map[string]int

	// primed holds the active release's records as Open proved them,
	// until the first Records of it takes them (primed.go).
	primedMu sync.Mutex
	primed   *primedRelease
	// proofs counts record passes (prove), and scans the reads of a
	// release's records from Badger, for tests of the single pass.
	proofs atomic.Int64
	scans  atomic.Int64
	// streams counts the passes over a release's records in progress
	// (Streaming).
	streams atomic.Int32

	// proven is the overlay this store last wrote and proved, for the
	// Activate that follows (overlay.go).
	provenMu sync.Mutex
	proven   *provenWrite
}

const (
	relPrefix   = "rel/"
	recPrefix   = "rec/"
	keyActive   = "meta/active"
	keyPrevious = "meta/previous"

	// maxVersionLen keeps keys short; bureau versions are far shorter.
	maxVersionLen = 200
	// ctxEvery: how many records pass between context checks in loops.
	ctxEvery = 1024

	// indexCacheBytes bounds Badger's resident table indexes: nothing on
	// the request path reads this store (checks use the compiled index).
	indexCacheBytes = 4 << 20

	// valueChunk is the size of the blocks Records copies values into.
	valueChunk = 1 << 20
)

func markerKey(v string) []byte    { return []byte(relPrefix + v + "/writing") }
func manifestKey(v string) []byte  { return []byte(relPrefix + v + "/manifest") }
func recordPrefix(v string) []byte { return []byte(recPrefix + v + "/") }

func recordKey(prefix []byte, class knowledge.Class, key string) []byte {
	b := make([]byte, 0, len(prefix)+len(class)+1+len(key))
	b = append(b, prefix...)
	b = append(b, class...)
	b = append(b, 0)
	return append(b, key...)
}

// validateVersion keeps versions usable as a key segment: a '/' would let
// one release's prefix cover another's, and control bytes make log lines
// and operator instructions unreadable.
func validateVersion(v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty version", ErrInvalidRelease)
	}
	if len(v) > maxVersionLen {
		return fmt.Errorf("%w: version %.40q… is longer than %d bytes", ErrInvalidRelease, v, maxVersionLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: version %q is not valid UTF-8", ErrInvalidRelease, v)
	}
	for _, r := range v {
		if r == '/' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: version %q contains %q (not allowed: '/' and control characters)", ErrInvalidRelease, v, r)
		}
	}
	return nil
}

// Open opens (creating if needed) the store, removes releases left
// incomplete by a crash and verifies the active release, falling back to the
// previous one if the active one is corrupt.
func Open(ctx context.Context, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	dir := opts.Dir
	if opts.InMemory {
		dir = "(in-memory)"
	} else if dir == "" {
		return nil, errors.New("open knowledge store: Options.Dir is empty; configure the directory that holds the knowledge releases")
	}
	keep := max(opts.KeepReleases, 1)
	logger = logger.With("component", "knowledge/store", "dir", dir)

	cfg := badgerdb.Config{Dir: opts.Dir, InMemory: opts.InMemory, IndexCacheBytes: indexCacheBytes, Logger: logger}
	db, mode, err := badgerdb.OpenGuarded(cfg, opts.Space)
	if err != nil {
		return nil, fmt.Errorf("open knowledge store %s: %w", dir, err)
	}
	s := &Store{
		db:       db,
		dir:      dir,
		inMemory: opts.InMemory,
		log:      logger,
		keep:     keep,
		space:    opts.Space,
		cfg:      cfg,
		busy:     map[string]struct{}{},
		pins:     map[string]int{},
	}
	if mode != diskspace.ModeReadWrite {
		return s.openedForReading(ctx, mode)
	}
	if err := s.recover(ctx, true); err != nil {
		if cerr := db.Close(); cerr != nil {
			logger.Warn("close knowledge store after failed open", "err", cerr)
		}
		return nil, err
	}
	// A crash during an activation's garbage collection leaves surplus
	// releases; catch up now rather than at the next activation.
	s.switchMu.Lock()
	err = s.collect(ctx)
	s.switchMu.Unlock()
	if err != nil {
		logger.Warn("garbage collection of old knowledge releases failed; it is retried on the next activation", "err", err)
	}
	return s, nil
}

// Close closes Badger after in-flight calls have returned.
func (s *Store) Close() error {
	s.dropPrimed()
	s.forgetProven("")
	return s.life.Close(func() error {
		if err := badgerdb.Close(s.db, s.space, s.log); err != nil {
			return fmt.Errorf("close knowledge store %s: %w", s.dir, err)
		}
		return nil
	})
}

func (s *Store) enter() error {
	if !s.life.Enter() {
		return fmt.Errorf("knowledge store %s: %w", s.dir, ErrClosed)
	}
	return nil
}

func (s *Store) leave() { s.life.Leave() }

func (s *Store) claim(v string) bool {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	if _, ok := s.busy[v]; ok || s.pins[v] > 0 {
		return false
	}
	s.busy[v] = struct{}{}
	return true
}

// pin keeps v from being claimed (so removed) until unpin.
func (s *Store) pin(v string) {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	s.pins[v]++
}

func (s *Store) unpin(v string) {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	if s.pins[v]--; s.pins[v] <= 0 {
		delete(s.pins, v)
	}
}

func (s *Store) unclaim(v string) {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	delete(s.busy, v)
}

// PutRelease writes a complete release without activating it. records must
// be sorted by (class, key), unique, and match m exactly (counts and
// knowledge.HashRecords); otherwise nothing is written and the error
// matches ErrInvalidRelease. Putting an existing version again is a no-op if
// the content hash is the same and ErrVersionConflict otherwise.
//
// The caller must not modify records until PutRelease returns.
func (s *Store) PutRelease(ctx context.Context, m knowledge.Manifest, records []knowledge.Record) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.dropPrimed()
	if err := validateVersion(m.Version); err != nil {
		return fmt.Errorf("put knowledge release: %w", err)
	}
	if err := checkRelease(m, records); err != nil {
		return fmt.Errorf("put knowledge release %q: %w", m.Version, err)
	}
	start := time.Now()
	wrote, err := s.writeVersion(ctx, m, releaseDiskBytes(records), func() error { return s.writeRelease(ctx, m, records) })
	if err != nil || !wrote {
		return err
	}
	s.log.Info("stored knowledge release", "version", m.Version, "records", len(records), "content_sha256", m.ContentSHA256,
		"duration", time.Since(start))
	return nil
}

// writeVersion stores release m, which the caller has proven, with write,
// which writes it completely (manifest last) or fails. It claims the
// version; if a release of that version is stored already it writes
// nothing (wrote is false), and the stored manifest's content hash must be
// m's (ErrVersionConflict otherwise). A write that fails is cleaned up.
// need is the disk space the write takes.
func (s *Store) writeVersion(ctx context.Context, m knowledge.Manifest, need uint64, write func() error) (wrote bool, err error) {
	if err := s.space.Allow(need); err != nil {
		return false, fmt.Errorf("put knowledge release %q: %w; nothing written", m.Version, err)
	}
	v := m.Version
	if !s.claim(v) {
		return false, fmt.Errorf("put knowledge release %q: %w", v, ErrBusy)
	}
	defer s.unclaim(v)

	var (
		existing knowledge.Manifest
		found    bool
		partial  bool
	)
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		existing, _, err = s.loadManifest(txn, v)
		switch {
		case err == nil:
			found = true
			return nil
		case errors.Is(err, ErrNotFound):
			partial, err = releaseExists(txn, v)
			return err
		default:
			return err
		}
	})
	if errors.Is(err, ErrCorrupt) {
		return false, fmt.Errorf("put knowledge release %q: the stored release of that version is damaged; remove it with DeleteRelease and put it again: %w", v, err)
	}
	if err != nil {
		return false, fmt.Errorf("put knowledge release %q in %s: %w", v, s.dir, err)
	}
	if found {
		if existing.ContentSHA256 == m.ContentSHA256 {
			s.log.Debug("knowledge release already stored", "version", v)
			return false, nil
		}
		return false, fmt.Errorf("put knowledge release %q: stored content_sha256 %s, new %s: %w; publish the new content under a new version",
			v, existing.ContentSHA256, m.ContentSHA256, ErrVersionConflict)
	}
	if partial {
		// Left by an earlier failed attempt in this process whose cleanup
		// failed too; stale keys would corrupt the new content.
		s.log.Warn("removing incomplete data of knowledge release before rewriting it", "version", v)
		if err := s.removeRelease(ctx, v); err != nil {
			return false, fmt.Errorf("put knowledge release %q: remove incomplete earlier attempt: %w", v, err)
		}
	}
	if err := write(); err != nil {
		// Cleanup must run even if ctx was what failed the write.
		if rerr := s.removeRelease(context.WithoutCancel(ctx), v); rerr != nil {
			s.log.Warn("could not remove incomplete knowledge release after failed write; it will be removed on next open",
				"version", v, "err", rerr)
		}
		return false, fmt.Errorf("put knowledge release %q in %s: %w", v, s.dir, err)
	}
	return true, nil
}

// checkRelease proves that records are what m describes before anything is
// written: a release that does not hash out would only be caught later, at
// activation or, worse, after a restart.
func checkRelease(m knowledge.Manifest, records []knowledge.Record) error {
	counts := map[knowledge.Class]int{}
	for i := range records {
		r := &records[i]
		if r.Class == "" {
			return fmt.Errorf("%w: record %d (key %q) has an empty class", ErrInvalidRelease, i, r.Key)
		}
		if strings.IndexByte(string(r.Class), 0) >= 0 {
			return fmt.Errorf("%w: record %d class %q contains a NUL byte", ErrInvalidRelease, i, r.Class)
		}
		if i > 0 {
			p := &records[i-1]
			if p.Class == r.Class && p.Key == r.Key {
				return fmt.Errorf("%w: duplicate record %s %q at index %d", ErrInvalidRelease, r.Class, r.Key, i)
			}
			if p.Class > r.Class || (p.Class == r.Class && p.Key > r.Key) {
				return fmt.Errorf("%w: records not sorted by (class, key): %s %q at index %d follows %s %q",
					ErrInvalidRelease, r.Class, r.Key, i, p.Class, p.Key)
			}
		}
		counts[r.Class]++
	}
	if m.RecordCount != len(records) {
		return fmt.Errorf("%w: manifest record_count %d, records %d", ErrInvalidRelease, m.RecordCount, len(records))
	}
	if diff := countsDiff(m.Counts, counts); diff != "" {
		return fmt.Errorf("%w: manifest counts differ from records: %s", ErrInvalidRelease, diff)
	}
	if h := knowledge.HashRecords(records); h != m.ContentSHA256 {
		return fmt.Errorf("%w: manifest content_sha256 %s, records hash to %s", ErrInvalidRelease, m.ContentSHA256, h)
	}
	return nil
}

// countsDiff describes the first class whose count differs (a missing class
// counts as 0), or returns "".
func countsDiff(want, got map[knowledge.Class]int) string {
	classes := make([]knowledge.Class, 0, len(want)+len(got))
	for c := range want {
		classes = append(classes, c)
	}
	for c := range got {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	for _, c := range slices.Compact(classes) {
		if want[c] != got[c] {
			return fmt.Sprintf("class %s: manifest %d, records %d", c, want[c], got[c])
		}
	}
	return ""
}

func (s *Store) writeRelease(ctx context.Context, m knowledge.Manifest, records []knowledge.Record) error {
	v := m.Version
	if err := s.writeMarker(v); err != nil {
		return err
	}

	prefix := recordPrefix(v)
	err := s.writeBatched(ctx, "records", len(records), func(i int) ([]byte, []byte) {
		r := &records[i]
		return recordKey(prefix, r.Class, r.Key), r.Value
	})
	if err != nil {
		return err
	}

	// Prove what Badger now returns, not what we handed it, before the
	// manifest declares the release complete.
	if err := s.db.View(func(txn *badger.Txn) error { return s.prove(ctx, txn, m, nil) }); err != nil {
		return fmt.Errorf("read back written records: %w", err)
	}
	return s.writeManifest(m, nil)
}

// writeBatched writes n keys and values (kv(i) for i below n), committed
// ctxEvery at a time. Badger's writer applies a commit to its memtable in
// one go — about 5 ms for the 3,500 entries a full transaction holds,
// which on a one-core sidecar holds the checks for as long — and a commit
// of 1,024 entries about 1.4 ms. what names the entries in errors.
func (s *Store) writeBatched(ctx context.Context, what string, n int, kv func(i int) (key, value []byte)) error {
	for start := 0; start < n; start += ctxEvery {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write %s (%d of %d written): %w", what, start, n, err)
		}
		wb := s.db.NewWriteBatch()
		for i := start; i < min(start+ctxEvery, n); i++ {
			key, value := kv(i)
			if err := wb.Set(key, value); err != nil {
				wb.Cancel()
				return fmt.Errorf("write %s (%d of %d written): %w", what, start, n, err)
			}
		}
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("write %s (%d of %d written): %w", what, start, n, err)
		}
	}
	return nil
}

func (s *Store) writeMarker(v string) error {
	marker := []byte("writing since " + time.Now().UTC().Format(time.RFC3339))
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(markerKey(v), marker) }); err != nil {
		return fmt.Errorf("write incomplete-marker: %w", err)
	}
	return nil
}

// writeManifest completes a release: manifest (and an overlay's base
// reference) written and the marker deleted in one transaction.
func (s *Store) writeManifest(m knowledge.Manifest, base *baseRef) error {
	v := m.Version
	mj, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(manifestKey(v), mj); err != nil {
			return err
		}
		if base != nil {
			if err := txn.Set(baseKey(v), base.encode()); err != nil {
				return err
			}
		}
		return txn.Delete(markerKey(v))
	})
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// Activate makes version the active release in one transaction, recording
// the release it replaces as previous, after verifying version's content.
// It then removes releases beyond KeepReleases; a failure there is logged,
// not returned, because the switch itself has happened.
func (s *Store) Activate(ctx context.Context, version string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.dropPrimed()
	if err := validateVersion(version); err != nil {
		return fmt.Errorf("activate knowledge release: %w", err)
	}
	if err := s.space.Allow(0); err != nil {
		return fmt.Errorf("activate knowledge release %q: %w; the active release is unchanged", version, err)
	}
	s.switchMu.Lock()
	defer s.switchMu.Unlock()

	// Verify outside the switch transaction: a long read has no business
	// in a write transaction, and releases are immutable once complete.
	// An overlay this store has just written and proven is not proven
	// twice (verifyToActivate).
	if err := s.verifyToActivate(ctx, version); err != nil {
		return fmt.Errorf("activate knowledge release %q: %w", version, err)
	}
	var (
		prev    string
		changed bool
	)
	err := s.db.Update(func(txn *badger.Txn) error {
		// Read the manifest inside the transaction so that Badger's
		// conflict detection would refuse the switch if the release
		// vanished after verification.
		if _, _, err := s.loadManifest(txn, version); err != nil {
			return err
		}
		cur, ok, err := getString(txn, keyActive)
		if err != nil {
			return err
		}
		if ok && cur == version {
			return nil
		}
		if err := txn.Set([]byte(keyActive), []byte(version)); err != nil {
			return err
		}
		if ok {
			if err := txn.Set([]byte(keyPrevious), []byte(cur)); err != nil {
				return err
			}
		}
		prev, changed = cur, true
		return nil
	})
	if err != nil {
		return fmt.Errorf("activate knowledge release %q in %s: %w", version, s.dir, err)
	}
	if changed {
		s.log.Info("activated knowledge release", "version", version, "previous", prev)
	}
	if err := s.collect(ctx); err != nil {
		s.log.Warn("garbage collection of old knowledge releases failed; it is retried on the next activation",
			"err", err)
	}
	return nil
}

// releasesAndPointers reads every release and the active and previous
// pointers in one consistent view.
func (s *Store) releasesAndPointers() (entries []relEntry, active, previous string, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		if entries, err = s.listReleases(txn); err != nil {
			return err
		}
		active, previous, err = pointers(txn)
		return err
	})
	return entries, active, previous, err
}

// collect removes complete releases that are neither active, previous, among
// the KeepReleases most recently stored, nor stored after the active one
// (put but not yet activated), nor claimed by a running call. Callers hold
// switchMu.
func (s *Store) collect(ctx context.Context) error {
	entries, active, previous, err := s.releasesAndPointers()
	if err != nil {
		return err
	}
	if active == "" {
		return nil // releases put before the first activation are all waiting for it
	}
	var activeSeq uint64
	for _, e := range entries {
		if e.version == active {
			activeSeq = e.seq
		}
	}
	slots := s.keep
	if previous != "" && previous != active {
		slots--
	}
	var candidates []relEntry
	// needed: full releases that a kept overlay is stored as changes to.
	// They are kept besides the KeepReleases (an overlay costs its base).
	needed := map[string]bool{}
	for _, e := range entries {
		switch {
		case !e.complete:
		case e.version == active, e.version == previous:
			needed[e.base] = true
		case e.bad == nil && e.seq > activeSeq:
			// Stored after the active release: waiting to be activated.
			needed[e.base] = true
		default:
			candidates = append(candidates, e)
		}
	}
	slices.SortFunc(candidates, func(a, b relEntry) int { return -cmp.Compare(a.seq, b.seq) })
	var remove []relEntry
	for i, e := range candidates {
		if i < slots {
			needed[e.base] = true
			continue
		}
		remove = append(remove, e)
	}
	// Overlays first: a base goes only after the overlays on it did.
	slices.SortStableFunc(remove, func(a, b relEntry) int { return cmp.Compare(overlayRank(b), overlayRank(a)) })
	for _, e := range remove {
		if needed[e.version] {
			continue // the base of a kept overlay
		}
		if !s.claim(e.version) {
			needed[e.base] = true // an overlay kept after all keeps its base
			continue              // being written or removed right now
		}
		err := s.removeRelease(ctx, e.version)
		s.unclaim(e.version)
		if err != nil {
			return fmt.Errorf("remove old knowledge release %q: %w", e.version, err)
		}
		s.log.Info("removed old knowledge release", "version", e.version, "keep", s.keep)
	}
	return nil
}

// overlayRank is 1 for an overlay, 0 for a release stored whole.
func overlayRank(e relEntry) int {
	if e.base == "" {
		return 0
	}
	return 1
}

// DeleteRelease removes a release that is not active, complete or not. It is
// how a damaged non-active release is cleared so that it can be put again.
func (s *Store) DeleteRelease(ctx context.Context, version string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.dropPrimed()
	if err := validateVersion(version); err != nil {
		return fmt.Errorf("delete knowledge release: %w", err)
	}
	if err := s.space.Allow(0); err != nil {
		return fmt.Errorf("delete knowledge release %q: %w", version, err)
	}
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	if !s.claim(version) {
		return fmt.Errorf("delete knowledge release %q: %w", version, ErrBusy)
	}
	defer s.unclaim(version)

	var (
		active, previous string
		exists           bool
		entries          []relEntry
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if active, previous, err = pointers(txn); err != nil {
			return err
		}
		if entries, err = s.listReleases(txn); err != nil {
			return err
		}
		exists, err = releaseExists(txn, version)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete knowledge release %q in %s: %w", version, s.dir, err)
	}
	if version == active {
		return fmt.Errorf("delete knowledge release %q: it is the active release; activate another release first", version)
	}
	if on := overlaysOn(entries, version); len(on) > 0 {
		return fmt.Errorf("delete knowledge release %q: releases %s are stored as changes to it and would be lost; "+
			"delete those first (activate a release stored whole if one of them is active)", version, strings.Join(on, ", "))
	}
	if !exists {
		return fmt.Errorf("delete knowledge release: %w", &NotFoundError{Dir: s.dir, Version: version})
	}
	if version == previous {
		// Unlink first: a fallback pointer must never name a missing release.
		err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(keyPrevious)) })
		if err != nil {
			return fmt.Errorf("delete knowledge release %q: clear %s: %w", version, keyPrevious, err)
		}
	}
	if err := s.removeRelease(ctx, version); err != nil {
		return fmt.Errorf("delete knowledge release %q in %s: %w", version, s.dir, err)
	}
	s.log.Info("deleted knowledge release", "version", version)
	return nil
}

// removeRelease deletes every key of a release. It first turns the release
// incomplete in one transaction, so a crash part-way leaves something Open
// cleans up rather than a complete-looking release with missing records.
// Callers must have claimed version.
func (s *Store) removeRelease(ctx context.Context, v string) error {
	s.forgetProven(v)
	marker := []byte("removing since " + time.Now().UTC().Format(time.RFC3339))
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(manifestKey(v)); err != nil {
			return err
		}
		if err := txn.Delete(baseKey(v)); err != nil {
			return err
		}
		return txn.Set(markerKey(v), marker)
	})
	if err != nil {
		return fmt.Errorf("mark release %q incomplete: %w", v, err)
	}

	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	err = s.db.View(func(txn *badger.Txn) error {
		n := 0
		for _, prefix := range [][]byte{recordPrefix(v), overlayPrefix(v)} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				if n%ctxEvery == 0 {
					if err := ctx.Err(); err != nil {
						it.Close()
						return err
					}
				}
				n++
				if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete records of release %q: %w", v, err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("delete records of release %q: %w", v, err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(markerKey(v)) }); err != nil {
		return fmt.Errorf("delete marker of release %q: %w", v, err)
	}
	return nil
}

// Active returns the manifest of the active release; false if none is active.
func (s *Store) Active(ctx context.Context) (knowledge.Manifest, bool, error) {
	if err := s.enter(); err != nil {
		return knowledge.Manifest{}, false, err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return knowledge.Manifest{}, false, err
	}
	var (
		m  knowledge.Manifest
		ok bool
	)
	err := s.db.View(func(txn *badger.Txn) error {
		active, found, err := getString(txn, keyActive)
		if err != nil || !found {
			return err
		}
		m, _, err = s.loadManifest(txn, active)
		ok = err == nil
		return err
	})
	if err != nil {
		return knowledge.Manifest{}, false, fmt.Errorf("read active knowledge release in %s: %w", s.dir, err)
	}
	return m, ok, nil
}

// Manifest returns the manifest of a complete release.
func (s *Store) Manifest(ctx context.Context, version string) (knowledge.Manifest, error) {
	if err := s.enter(); err != nil {
		return knowledge.Manifest{}, err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return knowledge.Manifest{}, err
	}
	var m knowledge.Manifest
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		m, _, err = s.loadManifest(txn, version)
		return err
	})
	if err != nil {
		return knowledge.Manifest{}, fmt.Errorf("read knowledge release manifest: %w", err)
	}
	return m, nil
}

// Releases lists the complete releases in the order they were stored,
// oldest first, marking the active and previous ones.
func (s *Store) Releases(ctx context.Context) ([]Release, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, active, previous, err := s.releasesAndPointers()
	if err != nil {
		return nil, fmt.Errorf("list knowledge releases in %s: %w", s.dir, err)
	}
	slices.SortFunc(entries, func(a, b relEntry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Release, 0, len(entries))
	for _, e := range entries {
		if !e.complete {
			continue
		}
		if e.bad != nil {
			s.log.Warn("knowledge release has an unreadable manifest; remove it with DeleteRelease", "version", e.version, "err", e.bad)
			continue
		}
		out = append(out, Release{Manifest: e.manifest, Active: e.version == active, Previous: e.version == previous, Base: e.base})
	}
	return out, nil
}

// Records returns the records of a complete release sorted by (class, key),
// after proving them against the manifest: a caller never compiles an index
// from content that does not hash out (the error then matches ErrCorrupt).
// The first Records of the release Open proved returns the records that
// proof read, without a second pass (primed.go; package doc, "Open").
func (s *Store) Records(ctx context.Context, version string) ([]knowledge.Record, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out []knowledge.Record
	err := s.db.View(func(txn *badger.Txn) error {
		m, seq, err := s.loadManifest(txn, version)
		if err != nil {
			return err
		}
		if recs, ok := s.takePrimed(version, seq, m.ContentSHA256); ok {
			out = recs
		} else if out, err = s.readProven(ctx, txn, m); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read knowledge release records: %w", err)
	}
	return out, nil
}

// readProven reads the records of m.Version while proving them.
func (s *Store) readProven(ctx context.Context, txn *badger.Txn, m knowledge.Manifest) ([]knowledge.Record, error) {
	out := make([]knowledge.Record, 0, min(m.RecordCount, 1<<20))
	// Values are copied into shared chunks rather than one allocation each
	// (767,000 at the seeds' scale); each is capped, so appending to one
	// cannot overwrite the next. A release's records are used and dropped
	// together, so a chunk pins nothing for long.
	var kept keeper
	err := s.prove(ctx, txn, m, func(c, k, v []byte) error {
		out = append(out, kept.record(c, k, v))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Verify recomputes the content hash and counts of a complete release and
// compares them with its manifest.
func (s *Store) Verify(ctx context.Context, version string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.verify(ctx, version)
}

func (s *Store) verify(ctx context.Context, version string) error {
	return s.db.View(func(txn *badger.Txn) error {
		m, _, err := s.loadManifest(txn, version)
		if err != nil {
			return err
		}
		return s.prove(ctx, txn, m, nil)
	})
}

// RunGC rewrites value-log files that are mostly garbage. Values are kept in
// the LSM tree (see badgerOptions), so this rarely has work; callers run it
// after an activation has removed old releases.
func (s *Store) RunGC(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.inMemory || !s.space.Writable() {
		return nil // a rewrite is a write; it waits for the next activation
	}
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// 0.5: rewrite a file only when at least half of it is garbage;
		// rewriting costs I/O on a host that serves prescriptions.
		err := s.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			if n > 0 {
				s.log.Info("value-log GC rewrote files", "files", n)
			}
			return nil
		default:
			return fmt.Errorf("value-log GC in %s: %w", s.dir, err)
		}
	}
}

// recover is Open's crash recovery. See the package documentation. With
// retain (Open, not a later reopen) the active release's proven records
// are kept for the first Records of it.
func (s *Store) recover(ctx context.Context, retain bool) error {
	var entries []relEntry
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		entries, err = s.listReleases(txn)
		return err
	}); err != nil {
		return fmt.Errorf("open knowledge store %s: list releases: %w", s.dir, err)
	}
	for _, e := range entries {
		if e.complete {
			continue
		}
		s.log.Warn("removing incomplete knowledge release left by an interrupted write or removal",
			"version", e.version, "had_marker", e.marker)
		if err := s.removeRelease(ctx, e.version); err != nil {
			return fmt.Errorf("open knowledge store %s: remove incomplete release %q: %w", s.dir, e.version, err)
		}
	}

	var active, previous string
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		active, previous, err = pointers(txn)
		return err
	}); err != nil {
		return fmt.Errorf("open knowledge store %s: read active pointer: %w", s.dir, err)
	}
	if active == "" {
		s.log.Info("knowledge store has no active release")
		return nil
	}
	start := time.Now()
	err := s.proveActive(ctx, active, retain)
	if err == nil {
		s.log.Info("active knowledge release verified", "version", active, "duration", time.Since(start))
		return nil
	}
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("open knowledge store %s: verify active release %q: %w", s.dir, active, err)
	}
	s.log.Error("ACTIVE KNOWLEDGE RELEASE FAILED VERIFICATION", "version", active, "err", err)
	if previous == "" || previous == active {
		return s.unrecoverable(active, err, "no previous release is recorded")
	}
	if perr := s.verify(ctx, previous); perr != nil {
		if !errors.Is(perr, ErrCorrupt) && !errors.Is(perr, ErrNotFound) {
			return fmt.Errorf("open knowledge store %s: verify previous release %q: %w", s.dir, previous, perr)
		}
		return s.unrecoverable(active, err, fmt.Sprintf("the previous release %q is unusable too: %v", previous, perr))
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte(keyActive), []byte(previous)); err != nil {
			return err
		}
		return txn.Delete([]byte(keyPrevious))
	})
	if err != nil {
		return fmt.Errorf("open knowledge store %s: fall back from corrupt release %q to %q: %w", s.dir, active, previous, err)
	}
	s.log.Error("FELL BACK TO THE PREVIOUS KNOWLEDGE RELEASE: the active one was corrupt and has been removed; it must be fetched again from the bureau",
		"active", previous, "corrupt", active)
	// Removing it lets a re-sync put the same version again; the log line
	// above is the record of what happened.
	if err := s.removeRelease(ctx, active); err != nil {
		s.log.Error("could not remove corrupt knowledge release; remove it with DeleteRelease before fetching it again",
			"version", active, "err", err)
	}
	return nil
}

func (s *Store) unrecoverable(active string, cause error, why string) error {
	return fmt.Errorf("knowledge store %s: the active knowledge release %q failed verification and cannot be replaced automatically (%s): %w. "+
		"rxguard must not serve from an unproven knowledge base. To recover: stop rxguard; move the directory %s aside "+
		"(keep it for analysis); then either start rxguard with an empty directory at that path so that it fetches the "+
		"current release from the bureau, or restore the directory from a backup taken while rxguard was stopped",
		s.dir, active, why, cause, s.dir)
}

// relEntry is one release prefix found in Badger.
type relEntry struct {
	version  string
	complete bool // manifest present
	marker   bool // writing marker present
	manifest knowledge.Manifest
	seq      uint64 // Badger commit timestamp of the manifest: the order releases were stored
	bad      error  // manifest present but unreadable
	base     string // an overlay's base release (rel/<v>/base); "" if stored whole
}

// listReleases finds every release by its manifest or marker. Records live
// under their own prefix so that this walk never passes them, nor the
// tombstones removed releases leave until compaction drops them.
func (s *Store) listReleases(txn *badger.Txn) ([]relEntry, error) {
	var versions []string
	prefix := []byte(relPrefix)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Seek(prefix); it.ValidForPrefix(prefix); {
		rest := it.Item().Key()[len(prefix):]
		i := bytes.IndexByte(rest, '/')
		if i <= 0 {
			s.log.Warn("ignoring stray key in knowledge store", "key", string(it.Item().Key()))
			it.Next()
			continue
		}
		v := string(rest[:i])
		versions = append(versions, v)
		// '0' is the byte after '/': the first key past this release.
		it.Seek([]byte(relPrefix + v + "0"))
	}
	it.Close()

	entries := make([]relEntry, 0, len(versions))
	for _, v := range versions {
		e := relEntry{version: v}
		m, seq, err := s.loadManifest(txn, v)
		switch {
		case err == nil:
			e.complete, e.manifest, e.seq = true, m, seq
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrCorrupt):
			e.complete, e.bad, e.seq = true, err, seq
		default:
			return nil, err
		}
		if ref, ok, err := s.loadBaseRef(txn, v); ok && err == nil {
			e.base = ref.version
		} else if ok && e.bad == nil {
			e.bad = err
		}
		_, err = txn.Get(markerKey(v))
		switch {
		case err == nil:
			e.marker = true
		case !errors.Is(err, badger.ErrKeyNotFound):
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// loadManifest reads a release's manifest and the commit timestamp it was
// stored at.
func (s *Store) loadManifest(txn *badger.Txn, v string) (knowledge.Manifest, uint64, error) {
	item, err := txn.Get(manifestKey(v))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return knowledge.Manifest{}, 0, &NotFoundError{Dir: s.dir, Version: v}
	}
	if err != nil {
		return knowledge.Manifest{}, 0, fmt.Errorf("read manifest of %q: %w", v, err)
	}
	var m knowledge.Manifest
	err = item.Value(func(b []byte) error { return json.Unmarshal(b, &m) })
	if err != nil {
		return knowledge.Manifest{}, item.Version(), &CorruptError{Dir: s.dir, Version: v, Reason: "manifest does not decode: " + err.Error()}
	}
	if m.Version != v {
		return knowledge.Manifest{}, item.Version(), &CorruptError{Dir: s.dir, Version: v,
			Reason: fmt.Sprintf("manifest names version %q", m.Version)}
	}
	if m.RecordCount < 0 {
		return knowledge.Manifest{}, item.Version(), &CorruptError{Dir: s.dir, Version: v,
			Reason: fmt.Sprintf("manifest record_count %d", m.RecordCount)}
	}
	return m, item.Version(), nil
}

// prove streams the records of m.Version in key order, hashing them exactly
// as knowledge.HashRecords does, and compares hash, total and per-class
// counts with m. fn, if set, sees each record; its slices are valid only
// during the call. Streaming keeps Verify's memory flat however large the
// release.
//
// An overlay's records are its base's merged with its entries (scanMerged).
func (s *Store) prove(ctx context.Context, txn *badger.Txn, m knowledge.Manifest, fn func(class, key, value []byte) error) error {
	ref, isOvl, err := s.loadBaseRef(txn, m.Version)
	if err != nil {
		return err
	}
	if !isOvl {
		return s.proveStream(ctx, txn, m, nil, fn)
	}
	return s.proveStream(ctx, txn, m, &ref, fn)
}

// proveStream is prove of m.Version stored whole (base nil) or as an
// overlay on base.
func (s *Store) proveStream(ctx context.Context, txn *badger.Txn, m knowledge.Manifest, base *baseRef, fn func(class, key, value []byte) error) error {
	s.proofs.Add(1)
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Dir: s.dir, Version: m.Version, Reason: fmt.Sprintf(format, args...)}
	}
	t := newTally()
	visit := func(rk, v []byte) error {
		sep := bytes.IndexByte(rk, 0)
		if sep <= 0 {
			return corrupt("malformed record key %q", rk)
		}
		c, k := rk[:sep], rk[sep+1:]
		t.add(c, k, v)
		if fn != nil {
			return fn(c, k, v)
		}
		return nil
	}
	var err error
	if base != nil {
		err = s.scanMerged(ctx, txn, m, base, visit)
	} else {
		err = s.scanWhole(ctx, txn, m.Version, visit)
	}
	if err != nil {
		return err
	}
	if what := t.mismatch(m); what != "" {
		return corrupt("%s", what)
	}
	return nil
}

// scanWhole visits the records of v stored whole, in key order; rk is
// class\x00key.
func (s *Store) scanWhole(ctx context.Context, txn *badger.Txn, v string, visit func(rk, v []byte) error) error {
	s.scans.Add(1)
	s.streams.Add(1)
	defer s.streams.Add(-1)
	prefix := recordPrefix(v)
	// No value prefetching: values live in the LSM beside their keys, so
	// Value reads them from the block in place; prefetching would copy.
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	n := 0
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		if n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n++
		item := it.Item()
		rk := item.Key()[len(prefix):]
		var verr error
		if err := item.Value(func(val []byte) error { verr = visit(rk, val); return verr }); err != nil {
			if verr != nil {
				return verr // the visitor's, as it said it
			}
			return fmt.Errorf("read record %q of %q: %w", rk, v, err)
		}
	}
	return nil
}

func pointers(txn *badger.Txn) (active, previous string, err error) {
	if active, _, err = getString(txn, keyActive); err != nil {
		return "", "", err
	}
	previous, _, err = getString(txn, keyPrevious)
	return active, previous, err
}

func getString(txn *badger.Txn, key string) (string, bool, error) {
	item, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	return string(b), true, nil
}

// releaseExists reports whether any key of v exists: manifest, marker or
// records (records without either break the write protocol, but are looked
// for so that they can never leak into a rewrite of v).
func releaseExists(txn *badger.Txn, v string) (bool, error) {
	for _, k := range [][]byte{manifestKey(v), markerKey(v), baseKey(v)} {
		_, err := txn.Get(k)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return false, err
		}
	}
	for _, prefix := range [][]byte{recordPrefix(v), overlayPrefix(v)} {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		it.Seek(prefix)
		found := it.ValidForPrefix(prefix)
		it.Close()
		if found {
			return true, nil
		}
	}
	return false, nil
}

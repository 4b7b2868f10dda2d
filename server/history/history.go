package history

import (
	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
	"sort"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Entry is one earlier order of a patient.
type Entry struct {
	ItemCode    string
	Kind        rxguardv1.ItemKind
	Quantity    float64
	Days        int32
	Time        time.Time // when the order happened (start_time, or the signing time)
	EncounterID string
	LineID      string // the HIS line id, if known
	DecisionID  string // the CheckOrders decision, if known
	// HospitalCode is where the item was done ("" = this hospital) and
	// ReportID its result on the regional sharing platform (检查检验结果互认),
	// both "" unless known: REPEAT_EXAM quotes them.
	HospitalCode string
	ReportID     string
}

// Options configures Open.
type Options struct {
	// Dir is the Badger directory. It is created if missing.
	Dir string
	// InMemory keeps everything in memory; for tests only (Dir is ignored).
	InMemory bool
	// Retention is how long an entry is kept after its Time; 0 means
	// DefaultRetention.
	Retention time.Duration
	// Logger receives the store's and Badger's messages; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for retention; nil means time.Now. For tests.
	Now func() time.Time
	// CacheEntries bounds the entries kept in memory for recently looked-up
	// patients (about 100 bytes each); 0 means DefaultCacheEntries, a
	// negative number disables the cache.
	CacheEntries int
	// Space, if set, guards the store against a full disk (space.go):
	// Record refuses with an error matching diskspace.ErrNoSpace while it
	// finds too little free, and a store opened then writes nothing until
	// it is reopened for writing once there is room.
	Space *diskspace.Guard
	// EncryptionKey, if set, encrypts the store at rest (AES, 32 bytes from
	// the operator's key file; internal/keyfile). The store must be opened
	// with the key it was created with: any other key, or none, fails Open
	// with an error matching badgerdb.ErrEncryptionKey, and nothing is
	// created or changed.
	EncryptionKey []byte
}

const (
	// DefaultRetention covers a year of courses and period frequencies
	// with a month to spare.
	DefaultRetention = 400 * 24 * time.Hour
	// DefaultCacheEntries keeps up to ~100k recent entries (~10 MB) in
	// memory: a few thousand patients of a working day.
	DefaultCacheEntries = 100_000
	// MaxLookup bounds one Lookup's result. A patient with more entries
	// in the requested window gets the newest MaxLookup of them (those
	// nearest its upper bound, the check time): the history rules look
	// back from the order being checked, so the oldest entries matter
	// least, and the bound keeps a pathological patient from costing the
	// hot path unbounded memory and time. A Lookup that reaches it is
	// logged and counted (Truncations).
	MaxLookup = 10_000
	// cacheAhead: a cache miss loads the patient's entries up to this far
	// past now (or up to the lookup's until, if later). The repeated checks
	// of one patient within the hour are hits, and entries dated further
	// ahead, which no check before then may see, are not read at all.
	cacheAhead = time.Hour

	// ctxEvery: how many entries pass between context checks in loops.
	ctxEvery = 256
	// conflictRetries: Record retries a transaction that lost a race with
	// a concurrent Record of the same entry; the retry then sees it stored.
	conflictRetries = 8
)

// Sentinels for errors.Is; the returned errors wrap them with details.
var (
	// ErrInvalid: Record or Lookup was handed an empty or oversized
	// patient id or field, or a non-finite quantity. Nothing was written.
	ErrInvalid = errors.New("invalid history input")
	// ErrCorrupt: a stored key or value does not decode.
	ErrCorrupt = errors.New("history store corrupt")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("history store closed")
)

// Store is the patients' recorded order history in Badger. Methods are safe
// for concurrent use.
type Store struct {
	db        *badger.DB
	dir       string // for messages: the directory or "(in-memory)"
	retention time.Duration
	now       func() time.Time
	log       *slog.Logger

	// life guards against Close while a method is using db: methods hold
	// it for reading, Close for writing.
	life badgerdb.Life

	cache *cache // nil when Options.CacheEntries < 0

	space *diskspace.Guard // nil: not guarded
	cfg   badgerdb.Config  // how db was opened, to reopen it (space.go)

	// truncations counts Lookups that reached MaxLookup.
	truncations atomic.Uint64
	// lastTruncWarn (Unix nanoseconds) rate-limits the truncation warning.
	lastTruncWarn atomic.Int64
}

// Truncations returns how many Lookups since Open had more than MaxLookup
// entries in their window and so returned only the newest MaxLookup: each
// is a check that did not see all of a patient's history.
func (s *Store) Truncations() uint64 { return s.truncations.Load() }

// Open opens (creating if needed) the history store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open history store: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	dir := opts.Dir
	if opts.InMemory {
		dir = "(in-memory)"
	} else if dir == "" {
		return nil, errors.New("open history store: Options.Dir is empty; configure the directory that holds the recorded order history")
	}
	retention := opts.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	logger = logger.With("component", "server/history", "dir", dir)

	cfg := storeConfig(opts.Dir, opts.InMemory, logger)
	cfg.EncryptionKey = opts.EncryptionKey
	db, err := openGuarded(cfg, opts.Space)
	if err != nil {
		return nil, fmt.Errorf("open history store %s: %w", dir, err)
	}
	logger.Info("history store opened", "retention", retention.String())
	cacheEntries := opts.CacheEntries
	if cacheEntries == 0 {
		cacheEntries = DefaultCacheEntries
	}
	s := &Store{db: db, dir: dir, retention: retention, now: now, log: logger, cache: newCache(cacheEntries), space: opts.Space, cfg: cfg}
	s.watchSpace()
	return s, nil
}

// storeConfig is how the store in dir is opened (the key aside). A larger
// index cache than the knowledge store's: this store is read on every
// check, and a year of a busy hospital's signed lines (some million keys)
// keeps its table indexes resident in 16 MiB. Encrypted, Badger needs that
// cache (badgerdb.Open) and a block cache (8 MiB, badgerdb's default then).
func storeConfig(dir string, inMemory bool, logger *slog.Logger) badgerdb.Config {
	return badgerdb.Config{Dir: dir, InMemory: inMemory, IndexCacheBytes: 16 << 20, Logger: logger}
}

// Rekey re-encrypts the stopped store in dir from oldKey to newKey (either
// nil: unencrypted) as badgerdb.Rekey does: a verified copy replaces it and
// the store as it was is kept at dir+badgerdb.OldKeySuffix.
func Rekey(ctx context.Context, dir string, oldKey, newKey []byte, logger *slog.Logger) (badgerdb.RekeyResult, error) {
	if logger == nil {
		logger = slog.Default()
	}
	cfg := storeConfig(dir, false, logger.With("component", "server/history", "dir", dir))
	cfg.EncryptionKey = oldKey
	res, err := badgerdb.Rekey(ctx, cfg, newKey)
	if err != nil {
		return res, fmt.Errorf("re-encrypt history store %s: %w", dir, err)
	}
	return res, nil
}

// Close closes Badger after in-flight calls have returned. Later calls fail
// with ErrClosed.
func (s *Store) Close() error {
	return s.life.Close(func() error {
		if err := badgerdb.Close(s.db, s.space, s.log); err != nil {
			return fmt.Errorf("close history store %s: %w", s.dir, err)
		}
		return nil
	})
}

func (s *Store) enter() error {
	if !s.life.Enter() {
		return fmt.Errorf("history store %s: %w", s.dir, ErrClosed)
	}
	return nil
}

func (s *Store) leave() { s.life.Leave() }

func validatePatient(patientID string) error {
	if patientID == "" {
		return fmt.Errorf("%w: empty patient id", ErrInvalid)
	}
	if len(patientID) > maxFieldLen {
		return fmt.Errorf("%w: patient id is %d bytes, longer than %d", ErrInvalid, len(patientID), maxFieldLen)
	}
	return nil
}

func validateEntry(e *Entry) error {
	if e.ItemCode == "" {
		return fmt.Errorf("%w: empty item code", ErrInvalid)
	}
	for _, f := range [...]struct{ name, v string }{
		{"item code", e.ItemCode}, {"encounter id", e.EncounterID},
		{"line id", e.LineID}, {"decision id", e.DecisionID},
		{"hospital code", e.HospitalCode}, {"report id", e.ReportID},
	} {
		if len(f.v) > maxFieldLen {
			return fmt.Errorf("%w: %s is %d bytes, longer than %d", ErrInvalid, f.name, len(f.v), maxFieldLen)
		}
	}
	if math.IsNaN(e.Quantity) || math.IsInf(e.Quantity, 0) {
		return fmt.Errorf("%w: item %q: quantity %v is not a finite number", ErrInvalid, e.ItemCode, e.Quantity)
	}
	return nil
}

// cutoff is the retention boundary at now: an entry is live if its Time is
// after it. Record and Lookup share it so they never disagree at the edge.
func (s *Store) cutoff(now time.Time) time.Time { return now.Add(-s.retention) }

type pending struct {
	key, val  []byte
	expiresAt uint64
}

// Record stores entries for a patient and returns how many were new.
//
// It is idempotent: an entry is identified by patient, item code,
// encounter, Time to the second and line id; one already stored (or
// repeated within entries) is not stored again and not counted, and the
// stored one's other fields are kept. Entries whose Time is at or beyond
// the retention are ignored and not counted. Each stored key expires in
// Badger at Time + Retention (measured from the injected clock, rounded up
// to Badger's one-second resolution so Badger never drops an entry before
// Lookup would).
//
// Entries are validated first: one invalid entry fails the call with
// ErrInvalid and nothing is written. A batch too large for one Badger
// transaction (thousands of entries) is committed in several, so a failure
// part-way can leave a prefix of it stored; recording the batch again is
// safe and completes it.
func (s *Store) Record(ctx context.Context, patientID string, entries []Entry) (recorded int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("record history for patient %q: %w", patientID, err)
	}
	if err := validatePatient(patientID); err != nil {
		return 0, fmt.Errorf("record history: %w", err)
	}
	for i := range entries {
		if err := validateEntry(&entries[i]); err != nil {
			return 0, fmt.Errorf("record history for patient %q: entry %d: %w", patientID, i, err)
		}
	}
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	// Before anything is written: refused means nothing was recorded.
	if err := s.space.Allow(0); err != nil {
		return 0, fmt.Errorf("record history for patient %q: %w; recorded nothing", patientID, err)
	}

	now := s.now()
	cutoff := s.cutoff(now)
	// Badger expires keys against the real clock; carry over the remaining
	// lifetime under the injected one.
	wall := time.Now()
	prefix := appendPatientPrefix(nil, patientID)
	todo := make([]pending, 0, len(entries))
	// One buffer for all keys and values. Slices taken before append
	// reallocates it keep pointing at the old array, whose bytes append
	// never rewrites, so every slice stays valid until the commit.
	buf := make([]byte, 0, len(entries)*(len(prefix)+96))
	for i := range entries {
		e := &entries[i]
		if !e.Time.After(cutoff) {
			continue
		}
		k := len(buf)
		buf = appendKey(buf, prefix, e)
		v := len(buf)
		buf = appendValue(buf, e)
		todo = append(todo, pending{
			key:       buf[k:v:v],
			val:       buf[v:len(buf):len(buf)],
			expiresAt: ceilUnix(wall.Add(e.Time.Add(s.retention).Sub(now))),
		})
	}

	// Before writing, not after: a lookup that starts now either sees the
	// new entries in Badger or is fenced off from caching what it read.
	if s.cache != nil && len(todo) > 0 {
		defer s.cache.invalidate(patientID)
		s.cache.invalidate(patientID)
	}
	for len(todo) > 0 {
		n, done, err := s.commitSome(todo)
		recorded += n
		if err != nil {
			return recorded, fmt.Errorf("record history for patient %q in %s: %w", patientID, s.dir, err)
		}
		todo = todo[done:]
		if len(todo) > 0 {
			if err := ctx.Err(); err != nil {
				return recorded, fmt.Errorf("record history for patient %q: %d entries not written: %w", patientID, len(todo), err)
			}
		}
	}
	return recorded, nil
}

// ceilUnix rounds up to whole seconds, Badger's TTL resolution.
func ceilUnix(t time.Time) uint64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	if sec < 1 {
		sec = 1 // 0 means "never expires" to Badger
	}
	return uint64(sec)
}

// commitSome writes as many of todo as fit one transaction and commits,
// retrying on conflict. It returns how many were new and how many of todo
// it processed (new or already stored).
func (s *Store) commitSome(todo []pending) (recorded, done int, err error) {
	for range conflictRetries {
		recorded, done, err = s.tryCommit(todo)
		if !errors.Is(err, badger.ErrConflict) {
			return recorded, done, err
		}
	}
	return 0, 0, fmt.Errorf("gave up after %d conflicting concurrent writes: %w", conflictRetries, err)
}

func (s *Store) tryCommit(todo []pending) (recorded, done int, err error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, p := range todo {
		// The read also registers the key for conflict detection: a
		// concurrent Record of the same entry makes one commit fail with
		// ErrConflict, and its retry then finds the entry.
		_, err := txn.Get(p.key)
		if err == nil {
			done++
			continue
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return 0, 0, fmt.Errorf("read: %w", err)
		}
		err = txn.SetEntry(&badger.Entry{Key: p.key, Value: p.val, ExpiresAt: p.expiresAt})
		if errors.Is(err, badger.ErrTxnTooBig) && done > 0 {
			break // commit what fits; the caller comes back for the rest
		}
		if err != nil {
			return 0, 0, fmt.Errorf("write: %w", err)
		}
		recorded++
		done++
	}
	if err := txn.Commit(); err != nil {
		return 0, 0, fmt.Errorf("commit: %w", err)
	}
	return recorded, done, nil
}

// scratch is Lookup's reusable working memory: entries decoded with their
// strings as spans into one arena, so the result costs two allocations (the
// slice and one string) however many entries it has.
type scratch struct {
	key   []byte
	raw   []rawEntry
	arena []byte
}

type span struct{ off, n uint32 }

type rawEntry struct {
	sec, nsec                       int64
	quantity                        float64
	kind                            rxguardv1.ItemKind
	days                            int32
	item, encounter, line, decision span
	hospital, report                span
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// A Lookup that needed more than this is rare; let its buffers go rather
// than pin them in the pool.
const (
	maxPooledArena = 256 << 10
	maxPooledRaw   = 4096
)

func (sc *scratch) addSpan(b []byte) span {
	sp := span{off: uint32(len(sc.arena)), n: uint32(len(b))}
	sc.arena = append(sc.arena, b...)
	return sp
}

// Lookup returns the patient's recorded entries with since <= Time <= until
// and within the retention, oldest first (ties in the same second in key
// order: item code, encounter, line id). Times are returned in UTC. A
// patient with no such entries gets nil and no error.
//
// until is the check time: entries after it are never returned and, beyond
// the cache's short look-ahead, never read, so entries dated in the future
// cannot crowd out the ones a check counts. At most MaxLookup entries are
// returned: a patient with more in [since, until] gets the newest MaxLookup
// (those nearest until), and the truncation is logged and counted
// (Truncations).
//
// It is on the CheckOrders hot path: one prefix iteration seeking straight
// to since (key order is time order) and stopping after until, values read
// inline from the LSM tree, and two allocations for the result besides
// Badger's own per-call ones. The strings of all returned entries share one
// backing string.
//
// The result is read-only: a lookup served from the cache returns the
// cache's own entries, shared with every other caller (no copy per check),
// so a caller must never write an element. Appending is safe (the slice's
// capacity is its length).
func (s *Store) Lookup(ctx context.Context, patientID string, since, until time.Time) ([]Entry, error) {
	v, err := s.lookup(ctx, patientID, since, until)
	return v.entries, err
}

func (s *Store) lookup(ctx context.Context, patientID string, since, until time.Time) (View, error) {
	if err := ctx.Err(); err != nil {
		return View{}, fmt.Errorf("look up history for patient %q: %w", patientID, err)
	}
	if err := validatePatient(patientID); err != nil {
		return View{}, fmt.Errorf("look up history: %w", err)
	}
	if err := s.enter(); err != nil {
		return View{}, err
	}
	defer s.leave()

	now := s.now()
	cutoff := s.cutoff(now)
	// Live means after the cutoff; one nanosecond later is the first
	// instant at or after which an entry is live.
	live := cutoff.Add(time.Nanosecond)
	if since.Before(live) {
		since = live
	}
	if until.Before(since) {
		return View{}, nil
	}
	var (
		epoch uint64
		upto  time.Time // what a miss loads into the cache: the live entries up to it
	)
	if s.cache != nil {
		v, ok, e := s.cache.get(patientID, since, until, cutoff)
		if ok {
			return v, nil
		}
		epoch, upto = e, now.Add(cacheAhead)
		if until.After(upto) {
			upto = until
		}
	}
	sc := scratchPool.Get().(*scratch)
	defer func() {
		if cap(sc.arena) <= maxPooledArena && cap(sc.raw) <= maxPooledRaw {
			sc.reset()
			scratchPool.Put(sc)
		}
	}()
	sc.reset()
	sc.key = appendPatientPrefix(sc.key[:0], patientID)
	plen := len(sc.key)

	want := window{lo: boundOf(since), hi: boundOf(until)}
	cacheable, truncated := false, false
	err := s.db.View(func(txn *badger.Txn) error {
		if s.cache != nil {
			// A miss reads the patient's whole retained history up to
			// upto, so the next checks of this patient are served from
			// memory. Past MaxLookup entries it is not cached, and the
			// lookup reads its own window instead.
			full, err := s.scan(ctx, txn, sc, plen, window{lo: boundOf(live), hi: boundOf(upto)}, false)
			if err != nil || !full {
				cacheable = err == nil
				return err
			}
			sc.reset()
		}
		full, err := s.scan(ctx, txn, sc, plen, want, false)
		if err != nil || !full {
			return err
		}
		truncated = true
		// More than MaxLookup entries in the window: start again from
		// until, newest first. Rare, so the common case pays for one
		// forward scan only.
		sc.reset()
		if _, err := s.scan(ctx, txn, sc, plen, want, true); err != nil {
			return err
		}
		slices.Reverse(sc.raw)
		return nil
	})
	if err != nil {
		return View{}, fmt.Errorf("look up history for patient %q in %s: %w", patientID, s.dir, err)
	}
	if truncated {
		n := s.truncations.Add(1)
		// The patient id stays out of the log (it is personal data); the
		// window and the count tell the operator what happened. Such a
		// patient's every check truncates: the count goes up each time,
		// the warning at most once a minute (no log line per check).
		if now, last := time.Now().UnixNano(), s.lastTruncWarn.Load(); now-last >= int64(time.Minute) && s.lastTruncWarn.CompareAndSwap(last, now) {
			s.log.Warn("patient history lookup reached its limit: the check saw only the newest entries of its window",
				"limit", MaxLookup, "since", since.UTC().Format(time.RFC3339), "until", until.UTC().Format(time.RFC3339),
				"truncations", n)
		}
	}
	if len(sc.raw) == 0 {
		if cacheable {
			s.cache.put(patientID, nil, upto, epoch) // "no history" is worth remembering too
		}
		return View{}, nil
	}

	strs := string(sc.arena)
	sub := func(sp span) string { return strs[sp.off : sp.off+sp.n] }
	out := make([]Entry, len(sc.raw))
	for i := range sc.raw {
		r := &sc.raw[i]
		out[i] = Entry{
			ItemCode:    sub(r.item),
			Kind:        r.kind,
			Quantity:    r.quantity,
			Days:        r.days,
			Time:        time.Unix(r.sec, r.nsec).UTC(),
			EncounterID: sub(r.encounter),
			LineID:      sub(r.line),
			DecisionID:  sub(r.decision),
			// Spans of zero length: "" without touching the arena.
			HospitalCode: sub(r.hospital),
			ReportID:     sub(r.report),
		}
	}
	if cacheable {
		s.cache.put(patientID, out, upto, epoch)
		i, j := within(out, since, until)
		if i >= j {
			return View{}, nil
		}
		return View{entries: out[i:j:j]}, nil
	}
	return View{entries: out}, nil
}

// within returns the part hist[i:j] of hist (oldest first) with since <=
// Time <= until; empty when i >= j.
func within(hist []Entry, since, until time.Time) (i, j int) {
	i = sort.Search(len(hist), func(i int) bool { return !hist[i].Time.Before(since) })
	j = sort.Search(len(hist), func(j int) bool { return hist[j].Time.After(until) })
	return i, j
}

func (sc *scratch) reset() { sc.raw, sc.arena = sc.raw[:0], sc.arena[:0] }

// bound is a time as (Unix seconds, nanoseconds), compared without
// time.Time arithmetic in the scan loop.
type bound struct {
	sec  int64
	nsec int64
}

func boundOf(t time.Time) bound { return bound{t.Unix(), int64(t.Nanosecond())} }

// atOrAfter reports whether (sec, nsec) >= b.
func (b bound) atOrAfter(sec, nsec int64) bool {
	return sec > b.sec || sec == b.sec && nsec >= b.nsec
}

// atOrBefore reports whether (sec, nsec) <= b.
func (b bound) atOrBefore(sec, nsec int64) bool {
	return sec < b.sec || sec == b.sec && nsec <= b.nsec
}

// window is a closed time range [lo, hi].
type window struct{ lo, hi bound }

// The reverse seek in scan needs every len16's first byte below 0xff.
const _ = uint8(0xfe - maxFieldLen>>8)

// scan collects the patient's entries with Time in w into sc.raw; w.lo is
// at or after the first live instant. sc.key[:plen] is the patient prefix.
// Forward, it seeks to w.lo, stops after w.hi, and stops after MaxLookup
// entries reporting full if there were more; in reverse it seeks to w.hi and
// collects the newest MaxLookup, newest first.
func (s *Store) scan(ctx context.Context, txn *badger.Txn, sc *scratch, plen int, w window, reverse bool) (full bool, err error) {
	prefix := sc.key[:plen]
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: reverse})
	defer it.Close()

	// Seconds only; the exact bounds are checked per entry below.
	seek := sc.key[:plen]
	if reverse {
		// After every key of w.hi's second: time64 and '/' are followed
		// by the item's len16, whose first byte is at most
		// maxFieldLen>>8, never 0xff.
		seek = append(appendTime(seek, w.hi.sec), 0xff)
	} else {
		seek = appendTime(seek, w.lo.sec)
	}
	sc.key = seek[:plen]
	it.Seek(seek)

	for n := 0; it.ValidForPrefix(prefix); it.Next() {
		if n++; n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		item := it.Item()
		key := item.Key()
		kf, err := parseKeyRest(key[plen:])
		if err != nil {
			return false, fmt.Errorf("%w: key %q: %w", ErrCorrupt, key, err)
		}
		if reverse && kf.sec < w.lo.sec || !reverse && kf.sec > w.hi.sec {
			break // everything further on is outside the window
		}
		// vf.decision points into Badger's buffer, valid until Next.
		var vf valueFields
		if err := item.Value(func(v []byte) (err error) {
			vf, err = parseValue(v)
			return err
		}); err != nil {
			return false, fmt.Errorf("%w: key %q: %w", ErrCorrupt, key, err)
		}
		nsec := int64(vf.nanos)
		if !w.lo.atOrAfter(kf.sec, nsec) || !w.hi.atOrBefore(kf.sec, nsec) {
			continue
		}
		if len(sc.raw) == MaxLookup {
			return true, nil
		}
		sc.raw = append(sc.raw, rawEntry{
			sec: kf.sec, nsec: nsec, quantity: vf.quantity, kind: vf.kind, days: vf.days,
			item:      sc.addSpan(kf.item),
			encounter: sc.addSpan(kf.encounter),
			line:      sc.addSpan(kf.lineID),
			decision:  sc.addSpan(vf.decision),
			hospital:  sc.addSpan(vf.hospital),
			report:    sc.addSpan(vf.report),
		})
	}
	return false, nil
}

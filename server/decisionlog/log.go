package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
)

// Durability is when an Append counts as done.
type Durability int

const (
	// Async (the default): Append returns once the decision is queued; the
	// writer commits it within CommitInterval, without waiting for an
	// fsync. A kill -9 loses at most what was queued or in the group being
	// committed; a power loss, at most the last SyncInterval as well.
	Async Durability = iota
	// Sync: Append returns after the group commit that holds the decision
	// was synced to disk (or failed), so a reply is sent only for a
	// recorded decision. It adds up to CommitInterval plus one fsync to
	// each check.
	Sync
)

func (d Durability) String() string {
	switch d {
	case Async:
		return "async"
	case Sync:
		return "sync"
	}
	return fmt.Sprintf("durability(%d)", int(d))
}

// ParseDurability parses "async" or "sync" (the configuration's spelling).
func ParseDurability(s string) (Durability, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "async", "":
		return Async, nil
	case "sync":
		return Sync, nil
	}
	return Async, fmt.Errorf("decision log durability %q: want async or sync", s)
}

// Defaults for Options.
const (
	// DefaultRetention: inspections look back two years; a third covers
	// the year they happen in.
	DefaultRetention = 3 * 365 * 24 * time.Hour
	// DefaultQueueSize decisions may wait for the writer before Append
	// waits for room (each queued entry holds its request and response).
	DefaultQueueSize = 8192
	// DefaultCommitInterval bounds how long a decision waits to be
	// committed with the others of its group: the kill -9 loss window of
	// Async, and what Sync adds to a check.
	DefaultCommitInterval = 5 * time.Millisecond
	// DefaultMaxBatch decisions at most in one group commit.
	DefaultMaxBatch = 256
	// MaxCommitInterval is the longest CommitInterval Open accepts.
	MaxCommitInterval = time.Second
	// DefaultSyncInterval is how often, in Async durability, the store's
	// logs are synced to disk: what a power loss (not a kill) loses.
	DefaultSyncInterval = time.Second
	// MaxSyncInterval is the longest SyncInterval Open accepts.
	MaxSyncInterval = time.Minute
)

// reopenInterval: how often the writer tries again to open a store that
// is not open for writing (a broken directory, a full disk). A variable
// for tests.
var reopenInterval = 10 * time.Second

// Options configures Open.
type Options struct {
	// Dir is the Badger directory (<data>/decisions). Created if missing.
	Dir string
	// Logger receives the log's and Badger's messages; nil: slog.Default().
	Logger *slog.Logger
	// Retention is how long a decision (with its responses and index
	// entries) is kept after its Time, enforced by Badger TTLs; 0 means
	// DefaultRetention.
	Retention time.Duration
	// Durability: Async (default) or Sync.
	Durability Durability
	// QueueSize bounds the decisions waiting for the writer; 0 means
	// DefaultQueueSize.
	QueueSize int
	// CommitInterval is how long the writer gathers a group after its
	// first decision before committing it; 0 means DefaultCommitInterval.
	CommitInterval time.Duration
	// MaxBatch bounds a group: the writer commits as soon as it has this
	// many decisions; 0 means DefaultMaxBatch.
	MaxBatch int
	// SyncInterval, in Async durability, is how often a goroutine other
	// than the writer syncs the store's logs to disk, if anything was
	// committed since the last sync. A committed decision survives a kill
	// -9 at once (it is in the page cache) and a power loss once synced:
	// a power loss loses at most SyncInterval plus CommitInterval of
	// decisions. 0 means DefaultSyncInterval; at most MaxSyncInterval.
	// Sync durability syncs every group commit before its Appends return
	// and ignores it. RecordResponses, LinkSigned and Flush sync before
	// they return in either.
	SyncInterval time.Duration
	// SidecarID names this sidecar instance in every decision; empty means
	// the host name.
	SidecarID string
	// Now is the clock (default time.Now): the Time of an Entry without
	// one, and when responses are recorded.
	Now func() time.Time
	// Space, if set, guards the store against a full disk: the writer asks
	// it before every commit and, while it refuses, counts the group's
	// decisions as failed (and RecordResponses fails with an error
	// matching diskspace.ErrNoSpace) rather than let Badger write into a
	// full filesystem. A store opened then is opened read-only (or not at
	// all) and reopened for writing once there is room.
	Space *diskspace.Guard
	// ReadOnly opens an existing store for reading only (`rxguard log
	// -data`): no file is created, no writer runs, and Open fails if there
	// is no store in Dir or it cannot be opened (another process has it
	// open for writing). Append counts every decision as failed (Flush
	// then reports ErrReadOnly); RecordResponses and LinkSigned fail with
	// ErrReadOnly. Space and the durability options are ignored.
	ReadOnly bool
	// EncryptionKey, if set, encrypts the store at rest (AES, 32 bytes from
	// the operator's key file; internal/keyfile). The store must be opened
	// with the key it was created with: any other key, or none, fails Open
	// (read-write and read-only alike) with an error matching
	// badgerdb.ErrEncryptionKey, and nothing is created or changed. Unlike
	// other open failures this does not give a degraded log: retrying
	// cannot fix a key, and a legal record must not silently stop.
	EncryptionKey []byte
}

// Entry is one decision to record. Request and Response are referenced,
// not copied, until the writer has encoded them: they must not be changed
// after Append (the check service never changes a reply once sent).
type Entry struct {
	// ID is the decision id (NewID): a UUID whose leading 48 bits are the
	// decision's Unix milliseconds.
	ID string
	// Time is when the decision was made; zero means when the writer
	// encodes it.
	Time     time.Time
	Request  *rxguardv1.CheckOrdersRequest
	Response *rxguardv1.CheckOrdersResponse
	// RequestWire and ResponseWire, if both are set, are Request's and
	// Response's protobuf encodings as they crossed the wire (the gRPC
	// door has them): the record stores them as they are instead of
	// encoding the messages again, which on a one-core sidecar was a tenth
	// of its processor at 50 callers (docs/PERFORMANCE.md). The messages
	// are still needed, for the indexes. Nothing may change either after
	// Append.
	RequestWire, ResponseWire []byte
}

// Errors; the returned errors wrap them (errors.Is).
var (
	// ErrDecisionNotFound: no decision has this id (or it expired).
	ErrDecisionNotFound = errors.New("decision not found")
	// ErrUnavailable: the store could not be opened; nothing can be read
	// or recorded until it can (Status says why).
	ErrUnavailable = errors.New("decision log unavailable")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("decision log closed")
	// ErrReadOnly: the log was opened with Options.ReadOnly; it records
	// nothing.
	ErrReadOnly = errors.New("decision log opened read-only: it records nothing")
	// ErrBadPageToken: a Query page token this log did not issue for the
	// same filters.
	ErrBadPageToken = errors.New("invalid page token")
)

// Log is the durable decision log. Methods are safe for concurrent use.
type Log struct {
	opts Options
	log  *slog.Logger
	cfg  badgerdb.Config

	// queue carries appends and the calls that must run after them.
	// Senders hold sendMu for reading; Close takes it for writing, so no
	// send is in progress when it closes queue.
	queue  chan op
	sendMu sync.RWMutex
	closed bool
	// writerDone is closed when the writer has drained queue and exited.
	writerDone chan struct{}
	// lastDropWarn (Unix nanoseconds) rate-limits the dropped-decision
	// warning.
	lastDropWarn atomic.Int64

	// life guards db against Close and reopening while a call uses it.
	life badgerdb.Life
	db   *badger.DB // nil: not open at all
	// writable: db is open read-write (changed under life.Swap).
	writable atomic.Bool
	// readOnly: opened with Options.ReadOnly (no writer runs); refused
	// counts its Appends since the last Flush.
	refused     atomic.Uint64
	refusedOnce sync.Once

	counters
	health  health
	syncing syncState
	reclaim reclaimState

	// Writer-goroutine state.
	w writer
}

// counters are the Stats atomics.
type counters struct {
	written, waited, failed, dropped, commits atomic.Uint64
}

type opKind uint8

const (
	opAppend opKind = iota
	opCall          // run call.fn after everything queued before it is committed
)

// op is one queue element, sent by value: an Async append allocates
// nothing.
type op struct {
	kind  opKind
	entry Entry
	// done, for a Sync append, receives once the decision's group commit
	// is over.
	done chan struct{}
	call *call
}

// call is work the writer runs between groups: a flush, recording
// responses, linking signed lines. Its caller is answered once what it
// committed (and everything before it) is synced: by the writer in Sync
// durability, by the syncer in Async (sync.go).
type call struct {
	ctx  context.Context
	what string // context for a sync error ("record responses to …")
	fn   func(*Log) error
	err  error
	done chan struct{}
}

// finish answers the caller, with syncErr (the sync after fn) if any.
func (c *call) finish(syncErr error) {
	if syncErr != nil {
		if c.what != "" {
			syncErr = fmt.Errorf("%s: %w", c.what, syncErr)
		}
		if c.err == nil {
			c.err = syncErr
		} else {
			c.err = errors.Join(c.err, syncErr)
		}
	}
	close(c.done)
}

// Open opens (creating if needed) the decision log and starts its writer.
// It fails only for a bad Options or an ended ctx: a store that cannot be
// opened (a read-only or broken directory, a full disk) gives a degraded
// log that counts every decision as failed, says why in Status, and tries
// again every few seconds. Checks must go on being answered.
func Open(ctx context.Context, o Options) (*Log, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open decision log: %w", err)
	}
	if o.Dir == "" {
		return nil, errors.New("open decision log: Options.Dir is empty; configure the directory that holds the decision log (<data>/decisions)")
	}
	switch {
	case o.Durability != Async && o.Durability != Sync:
		return nil, fmt.Errorf("open decision log: unknown durability %v", o.Durability)
	case o.Retention < 0, o.QueueSize < 0, o.CommitInterval < 0, o.MaxBatch < 0:
		return nil, fmt.Errorf("open decision log: negative retention, queue size, commit interval or batch size")
	case o.CommitInterval > MaxCommitInterval:
		return nil, fmt.Errorf("open decision log: commit interval %v is longer than %v (it bounds what a kill loses)", o.CommitInterval, MaxCommitInterval)
	case o.SyncInterval < 0:
		return nil, fmt.Errorf("open decision log: negative sync interval")
	case o.SyncInterval > MaxSyncInterval:
		return nil, fmt.Errorf("open decision log: sync interval %v is longer than %v (it bounds what a power loss loses)", o.SyncInterval, MaxSyncInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SidecarID == "" {
		o.SidecarID, _ = os.Hostname()
	}
	logger := o.Logger.With("component", "server/decisionlog", "dir", o.Dir)
	l := &Log{
		opts:       o,
		log:        logger,
		cfg:        storeConfig(o.Dir, logger, o.EncryptionKey),
		writerDone: make(chan struct{}),
	}
	l.health.since = o.Now()
	if o.ReadOnly {
		return l.openReadOnly()
	}
	l.queue = make(chan op, o.QueueSize)
	l.w.init(l)
	if err := l.openOrDegrade(); errors.Is(err, badgerdb.ErrEncryptionKey) {
		return nil, fmt.Errorf("open decision log %s: %w", o.Dir, err)
	}
	go l.run()
	if o.Durability == Async {
		l.startSyncer()
	}
	l.startReclaimer()
	logger.Info("decision log opened", "durability", o.Durability.String(), "retention", o.Retention.String(),
		"commit_interval", o.CommitInterval.String(), "sync_interval", o.SyncInterval.String(),
		"queue_size", o.QueueSize, "writable", l.writable.Load())
	return l, nil
}

// openReadOnly is Open for Options.ReadOnly: the store, or an error; no
// writer.
func (l *Log) openReadOnly() (*Log, error) {
	db, err := openReadOnly(l.cfg)
	if err != nil {
		return nil, err
	}
	l.db = db
	l.queue = make(chan op)
	close(l.writerDone)
	l.health.set(l, false, "opened read-only (Options.ReadOnly): decisions and responses are not recorded", nil)
	l.log.Info("decision log opened read-only")
	return l, nil
}

// openOrDegrade opens the store; on failure the log is degraded. Called by
// Open, and by the writer under life.Swap to reopen. It returns why the
// store is not open for writing (nil when it is).
func (l *Log) openOrDegrade() error {
	db, writable, err := openStore(l.cfg, l.opts.Space)
	l.db = db
	l.writable.Store(writable)
	if writable {
		l.health.set(l, true, "", nil)
		return nil
	}
	if errors.Is(err, badgerdb.ErrEncryptionKey) {
		return err // Open fails with it: nothing to degrade or retry
	}
	repeated := err != nil && l.health.lastError() == err.Error()
	switch {
	case db != nil:
		l.health.set(l, false, "the decision log is open read-only: new decisions and responses are not recorded (checks are answered)", err)
	default:
		l.health.set(l, false, "the decision log could not be opened: decisions and responses are not recorded, nothing can be read (checks are answered)", err)
	}
	if !repeated {
		l.log.Error("DECISION LOG NOT OPEN FOR WRITING: decisions are counted as failed; retrying every "+l.w.reopenEvery.String(), "err", err, "read_only", db != nil)
	}
	return err
}

// Append records one decision. It never fails the check and never drops a
// decision without counting it: when the queue is full it waits for room
// (counted in Waited); a decision the store cannot write is counted in
// Failed; one abandoned because ctx ended while waiting for room, or
// appended after Close, in Dropped. In Sync mode it returns after the group
// commit that holds the decision (or when ctx ends). In Async mode it does
// not allocate.
func (l *Log) Append(ctx context.Context, e Entry) {
	if l.opts.ReadOnly {
		l.failed.Add(1)
		l.refused.Add(1)
		l.refusedOnce.Do(func() {
			l.log.Error("decisions are not logged: the decision log was opened read-only (Options.ReadOnly)", "decision_id", e.ID)
		})
		return
	}
	o := op{kind: opAppend, entry: e}
	if l.opts.Durability == Sync {
		o.done = getDone()
	}
	if !l.send(ctx, o) {
		return
	}
	if o.done != nil {
		select {
		case <-o.done:
			putDone(o.done)
		case <-ctx.Done():
		}
	}
}

// send queues o, waiting for room; false (counted in Dropped when o is an
// append) if ctx ended first or the log is closed.
func (l *Log) send(ctx context.Context, o op) bool {
	l.sendMu.RLock()
	defer l.sendMu.RUnlock()
	if l.closed {
		if o.kind == opAppend {
			l.dropped.Add(1)
		}
		return false
	}
	select {
	case l.queue <- o:
		return true
	default:
	}
	if o.kind == opAppend {
		l.waited.Add(1)
	}
	select {
	case l.queue <- o:
		return true
	case <-ctx.Done():
		if o.kind == opAppend {
			n := l.dropped.Add(1)
			// Under overload this happens to many checks at once: counted
			// each time, logged at most once a minute.
			if now, last := time.Now().UnixNano(), l.lastDropWarn.Load(); now-last >= int64(time.Minute) && l.lastDropWarn.CompareAndSwap(last, now) {
				l.log.Warn("decisions were not logged: their checks ended while waiting for room in the decision log queue",
					"decision_id", o.entry.ID, "err", ctx.Err(), "dropped_total", n)
			}
		}
		return false
	}
}

var donePool = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

func getDone() chan struct{}  { return donePool.Get().(chan struct{}) }
func putDone(c chan struct{}) { donePool.Put(c) }

// do runs fn in the writer after everything queued before it has been
// committed, and waits for it and the sync that follows it (what names the
// call in a sync error).
func (l *Log) do(ctx context.Context, what string, fn func(*Log) error) error {
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	c := &call{ctx: ctx, what: what, fn: fn, done: make(chan struct{})}
	if !l.send(ctx, op{kind: opCall, call: c}) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return ErrClosed
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		// The writer skips a call whose ctx ended before its turn; one
		// already running completes.
		return ctx.Err()
	}
}

// Flush returns once every decision appended before it has been committed
// (or has failed) and synced to disk. It reports an error if decisions
// failed since the previous Flush, or the sync failed. A Flush with
// nothing committed since the last sync does not sync again: the readers
// that use it as a barrier cost an fsync only after writes.
func (l *Log) Flush(ctx context.Context) error {
	if l.opts.ReadOnly {
		if n := l.refused.Swap(0); n > 0 {
			return fmt.Errorf("%d decisions could not be logged since the last flush: %w", n, ErrReadOnly)
		}
		return ctx.Err()
	}
	return l.do(ctx, "", func(l *Log) error { return l.w.takeFailures() })
}

// Close commits everything queued, stops the writer and closes the store:
// a graceful stop loses no decision that was answered. Appends after Close
// are counted in Dropped; other calls fail with ErrClosed.
func (l *Log) Close() error {
	// Before the queue closes: the reclaimer queues calls.
	l.stopReclaimer()
	l.sendMu.Lock()
	if l.closed {
		l.sendMu.Unlock()
		<-l.writerDone
		return nil
	}
	l.closed = true
	close(l.queue)
	l.sendMu.Unlock()
	<-l.writerDone
	l.stopSyncer()
	err := l.life.Close(func() error {
		if l.db == nil {
			return nil
		}
		if l.writable.Load() {
			// badgerdb.Close leaves the store unclosed on a nearly full
			// disk; what was committed is on the disk all the same.
			if err := l.syncStore(l.db); err != nil {
				l.log.Error("sync the decision log before closing it", "err", err)
			}
		}
		if err := badgerdb.Close(l.db, l.opts.Space, l.log); err != nil {
			return fmt.Errorf("close decision log %s: %w", l.opts.Dir, err)
		}
		return nil
	})
	st := l.Stats()
	l.log.Info("decision log closed", "written", st.Written, "failed", st.Failed, "dropped", st.Dropped, "waited", st.Waited)
	return err
}

// enter gives a reader the database; the caller must l.life.Leave() when
// err is nil.
func (l *Log) enter() (*badger.DB, error) {
	if !l.life.Enter() {
		return nil, ErrClosed
	}
	if l.db == nil {
		l.life.Leave()
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, l.health.lastError())
	}
	return l.db, nil
}

package decisionlog

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
)

// The field numbers of Decision.request and Decision.response
// (audit.proto), for records assembled from the wire encodings.
const (
	decisionRequestField  protowire.Number = 4
	decisionResponseField protowire.Number = 5
)

// writer is the state of the one goroutine that writes (run): it gathers
// appends into groups and commits each group in one Badger transaction
// (in Sync durability followed by one fsync, sync.go).
type writer struct {
	l     *Log
	group []op
	timer *time.Timer

	// arena holds the group's encoded keys and values, ents their Badger
	// entries; both are reused from group to group (Badger copies what it
	// keeps before Commit returns).
	arena []byte
	ents  []badger.Entry
	dec   rxguardv1.Decision
	// plain is the decision's protobuf before compression (reused).
	plain []byte

	lastReopen time.Time
	// reopenEvery is reopenInterval (shorter in tests).
	reopenEvery time.Duration

	// Failures since the last Flush, for its error.
	failedSinceFlush uint64
	lastFailure      error
}

func (w *writer) init(l *Log) {
	w.l = l
	w.group = make([]op, 0, l.opts.MaxBatch)
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	w.lastReopen = time.Now()
	w.reopenEvery = reopenInterval
}

// run is the writer goroutine: it drains queue until Close closes it.
func (l *Log) run() {
	defer close(l.writerDone)
	w := &l.w
	// While the store is not open for writing, the writer also wakes on
	// its own to try to reopen it: an idle sidecar recovers (and stops
	// reporting itself degraded) without waiting for a decision.
	retry := time.NewTicker(w.reopenEvery)
	defer retry.Stop()
	for {
		var wake <-chan time.Time
		if !l.writable.Load() {
			wake = retry.C
		}
		var first op
		var ok bool
		select {
		case first, ok = <-l.queue:
		case <-wake:
			w.maybeReopen()
			continue
		}
		if !ok {
			return
		}
		if first.kind == opCall {
			w.runCall(first.call)
			continue
		}
		w.group = append(w.group[:0], first)
		var after *call
		closing := false
		w.timer.Reset(l.opts.CommitInterval)
	gather:
		for len(w.group) < l.opts.MaxBatch {
			select {
			case o, ok := <-l.queue:
				switch {
				case !ok:
					closing = true
					break gather
				case o.kind == opCall:
					after = o.call
					break gather
				}
				w.group = append(w.group, o)
			case <-w.timer.C:
				break gather
			}
		}
		w.timer.Stop()
		w.commit(w.group)
		clear(w.group) // release the requests and responses
		if after != nil {
			w.runCall(after)
		}
		if closing {
			return
		}
	}
}

// runCall runs a call queued behind appends (their group is committed).
// Its caller is answered after a sync: in Async durability the syncer's,
// so that the writer goes on committing meanwhile.
func (w *writer) runCall(c *call) {
	l := w.l
	if err := c.ctx.Err(); err != nil {
		c.err = err // the caller has stopped waiting: do not act for it
		close(c.done)
		return
	}
	w.maybeReopen()
	c.err = c.fn(l)
	if l.opts.Durability == Async {
		l.afterSync(c)
		return
	}
	c.finish(l.syncOpen())
}

// commit writes a group and accounts for it.
func (w *writer) commit(group []op) {
	l := w.l
	w.maybeReopen()
	written, bad, badErr, err := w.write(group)
	var syncErr error
	if l.opts.Durability == Sync && written > 0 {
		// Before the Appends return, and before the next write: so a
		// memtable is synced before it fills (sync.go).
		syncErr = l.syncOpen()
	}
	failed := uint64(len(group) - written)
	l.written.Add(uint64(written))
	if failed > 0 {
		l.failed.Add(failed)
		w.failedSinceFlush += failed
	}
	switch {
	case err != nil:
		w.lastFailure = err
		switch {
		case !l.writable.Load():
			// Not open for writing: the opener's message and error stand
			// (err repeats it); the decisions are counted in Failed.
		case errors.Is(err, diskspace.ErrNoSpace):
			if l.health.isOK() {
				l.log.Error("DISK NEARLY FULL: decisions are counted as failed until there is room (checks are answered)", "err", err)
			}
			l.health.set(l, false, "disk nearly full: decisions are not recorded until there is room (checks are answered)", err)
		default:
			if l.health.isOK() {
				l.log.Error("DECISION LOG CANNOT WRITE: decisions are counted as failed until it can (checks are answered)", "err", err, "decisions", len(group)-written)
			}
			l.health.set(l, false, "the decision log cannot write: decisions are not recorded (checks are answered)", err)
		}
	case syncErr != nil:
		// Committed (and counted written: they survive a kill), not
		// synced; syncStore has degraded the log.
		w.lastFailure = syncErr
	case bad > 0:
		w.lastFailure = badErr
		l.log.Error("decisions not logged: unusable entries", "count", bad, "err", badErr)
		l.health.noteError(l, badErr)
	default:
		if !l.health.isOK() && l.writable.Load() && !l.syncing.broken.Load() {
			l.health.set(l, true, "", nil)
		}
	}
	for i := range group {
		if d := group[i].done; d != nil {
			d <- struct{}{}
		}
	}
}

// takeFailures is Flush's answer: an error if decisions failed since the
// previous Flush.
func (w *writer) takeFailures() error {
	n, err := w.failedSinceFlush, w.lastFailure
	w.failedSinceFlush, w.lastFailure = 0, nil
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d decisions could not be logged since the last flush: %w", n, err)
}

// maybeReopen tries to open the store for writing again, at most every
// reopenEvery, while it is not open for writing and the disk has room.
func (w *writer) maybeReopen() {
	l := w.l
	if l.writable.Load() || time.Since(w.lastReopen) < w.reopenEvery || !l.opts.Space.Check() {
		return
	}
	w.lastReopen = time.Now()
	l.life.Swap(func() {
		if l.db != nil {
			if err := l.db.Close(); err != nil {
				l.log.Warn("close the decision log before reopening it", "err", err)
			}
			l.db = nil
		}
		if err := l.openOrDegrade(); errors.Is(err, badgerdb.ErrEncryptionKey) {
			// Open refuses this; here the directory changed under a
			// running log (another store moved in): say so every retry.
			l.health.set(l, false, "the decision log could not be opened with its key: decisions and responses are not recorded (checks are answered)", err)
			l.log.Error("DECISION LOG NOT OPEN: its encryption key does not match the store", "err", err)
		}
		if l.writable.Load() {
			l.log.Info("decision log reopened for writing")
		}
	})
}

// enterWrite gives the writer the database open for writing, admitted by
// the disk guard; the caller must l.life.Leave() when err is nil.
func (l *Log) enterWrite() (*badger.DB, error) {
	db, err := l.enter()
	if err != nil {
		return nil, err
	}
	if !l.writable.Load() {
		l.life.Leave()
		return nil, fmt.Errorf("%w: open read-only: %s", ErrUnavailable, l.health.lastError())
	}
	if g := l.opts.Space; !g.Writable() {
		// The guard re-measures in Allow only while it finds room; its Run
		// loop notices room coming back, and so does this, should Run
		// not be running.
		g.Check()
	}
	if err := l.opts.Space.Allow(0); err != nil {
		l.life.Leave()
		return nil, err
	}
	return db, nil
}

// write commits the group's decisions: one transaction, unless they are
// more than Badger takes in one (then several). It returns how many were
// written; bad counts entries that could not be encoded (badErr the last
// reason), err is a storage error (the rest of the group failed).
func (w *writer) write(group []op) (written, bad int, badErr, err error) {
	l := w.l
	db, err := l.enterWrite()
	if err != nil {
		return 0, 0, nil, err
	}
	defer l.life.Leave()
	maxSize, maxCount := db.MaxBatchSize(), db.MaxBatchCount()
	threshold := db.Opts().ValueThreshold

	txn := db.NewTransaction(true)
	defer func() { txn.Discard() }()
	var size, count int64
	pending := 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		if err := txn.Commit(); err != nil {
			return err
		}
		l.commits.Add(1)
		written += pending
		pending, size, count = 0, 0, 0
		txn = db.NewTransaction(true)
		return nil
	}

	w.arena, w.ents = w.arena[:0], w.ents[:0]
	for i := range group {
		start := len(w.ents)
		if err := w.encode(&group[i].entry); err != nil {
			w.ents = w.ents[:start]
			bad, badErr = bad+1, err
			continue
		}
		// Badger's own accounting (Txn.checkSize).
		var dsize, dcount int64
		for j := start; j < len(w.ents); j++ {
			e := &w.ents[j]
			if int64(len(e.Value)) < threshold {
				dsize += int64(len(e.Key)+len(e.Value)) + 2 + 10
			} else {
				dsize += int64(len(e.Key)) + 12 + 2 + 10
			}
			dcount++
		}
		if count+dcount >= maxCount || size+dsize >= maxSize {
			if err := flush(); err != nil {
				return written, bad, badErr, err
			}
			if dcount >= maxCount || dsize >= maxSize {
				w.ents = w.ents[:start]
				bad, badErr = bad+1, fmt.Errorf("decision %s: %d keys, %d bytes: more than one Badger transaction takes", group[i].entry.ID, dcount, dsize)
				continue
			}
		}
		for j := start; j < len(w.ents); j++ {
			if err := txn.SetEntry(&w.ents[j]); err != nil {
				return written, bad, badErr, err
			}
		}
		size, count = size+dsize, count+dcount
		pending++
	}
	if err := flush(); err != nil {
		return written, bad, badErr, err
	}
	return written, bad, badErr, nil
}

var errNoResponse = errors.New("no response")

// encode appends a decision's entries (its record and index keys) to
// w.ents, their bytes to w.arena.
func (w *writer) encode(e *Entry) error {
	l := w.l
	u, err := parseID(e.ID)
	if err != nil {
		return fmt.Errorf("decision id %q: %w", e.ID, err)
	}
	if e.Response == nil {
		return fmt.Errorf("decision %s: %w", e.ID, errNoResponse)
	}
	t := e.Time
	if t.IsZero() {
		t = l.opts.Now()
	}
	exp := l.expiresAt(t)

	start := len(w.arena)
	w.arena = appendDecisionKey(w.arena, &u)
	key := w.arena[start:len(w.arena):len(w.arena)]
	d := &w.dec
	d.DecisionId, d.Time, d.SidecarId = e.ID, t.Format(time.RFC3339Nano), l.opts.SidecarID
	if e.RequestWire != nil && e.ResponseWire != nil {
		// The fields in number order, as proto.Marshal writes them: the
		// scalars, then the request (4) and the response (5) as they
		// crossed the wire.
		w.plain, err = proto.MarshalOptions{}.MarshalAppend(w.plain[:0], d)
		w.plain = protowire.AppendTag(w.plain, decisionRequestField, protowire.BytesType)
		w.plain = protowire.AppendBytes(w.plain, e.RequestWire)
		w.plain = protowire.AppendTag(w.plain, decisionResponseField, protowire.BytesType)
		w.plain = protowire.AppendBytes(w.plain, e.ResponseWire)
	} else {
		d.Request, d.Response = e.Request, e.Response
		w.plain, err = proto.MarshalOptions{}.MarshalAppend(w.plain[:0], d)
		d.Request, d.Response = nil, nil
	}
	if err != nil {
		return fmt.Errorf("decision %s: encode: %w", e.ID, err)
	}
	// S2 (not ZSTD): ~7 µs for a 10 kB decision on the writer, which
	// shares the sidecar's core with the checks; ZSTD's better ratio
	// costs several times that (doc.go, Storage).
	maxLen := s2.MaxEncodedLen(len(w.plain))
	if maxLen < 0 {
		return fmt.Errorf("decision %s: %d bytes encoded: too large to compress", e.ID, len(w.plain))
	}
	start = len(w.arena)
	w.arena = slices.Grow(w.arena, 1+maxLen)
	w.arena = append(w.arena, valueVersionS2)
	enc := s2.Encode(w.arena[len(w.arena):cap(w.arena)], w.plain)
	w.arena = w.arena[:len(w.arena)+len(enc)]
	val := w.arena[start:len(w.arena):len(w.arena)]
	w.ents = append(w.ents, badger.Entry{Key: key, Value: val, ExpiresAt: exp})

	req, resp := e.Request, e.Response
	w.index(indexPhysician, physicianOf(req), &u, exp)
	w.index(indexDepartment, DepartmentOf(req), &u, exp)
	w.index(indexPatient, req.GetPatient().GetId(), &u, exp)
	w.index(indexVerdict, verdictValue(resp.GetVerdict()), &u, exp)
	unanswered := false
	for i, f := range resp.GetFindings() {
		unanswered = unanswered || NeedsAnswer(f)
		if seenRuleType(resp.Findings[:i], f.GetRuleType()) {
			continue
		}
		w.index(indexRuleType, f.GetRuleType(), &u, exp)
	}
	if unanswered {
		w.index(indexUnanswered, "", &u, exp)
	}
	return nil
}

func seenRuleType(fs []*rxguardv1.Finding, rt string) bool {
	for _, f := range fs {
		if f.GetRuleType() == rt {
			return true
		}
	}
	return false
}

// index appends one index key (unless value is empty or too long; the
// unanswered index has no value).
func (w *writer) index(kind byte, value string, u *id, exp uint64) {
	if kind != indexUnanswered && !indexable(value) {
		return
	}
	start := len(w.arena)
	w.arena = appendIndexKey(w.arena, kind, value, u)
	w.ents = append(w.ents, badger.Entry{Key: w.arena[start:len(w.arena):len(w.arena)], ExpiresAt: exp})
}

// expiresAt is the Badger expiry (Unix seconds) of a decision made at t:
// t + Retention, rounded up so Badger never drops it early.
func (l *Log) expiresAt(t time.Time) uint64 {
	end := t.Add(l.opts.Retention)
	s := end.Unix()
	if end.Nanosecond() > 0 {
		s++
	}
	if s <= 0 {
		return 1
	}
	return uint64(s)
}

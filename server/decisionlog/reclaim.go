package decisionlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Reclaiming the space of decisions past their retention.
//
// Badger hides an expired key from reads at once, but frees its space only
// when a compaction that finds no older level below it rewrites the table
// holding it, and a decision's value (in the value log, open.go) only when
// value-log GC rewrites its file — which it does for files that
// compactions have marked as mostly discarded. Decision keys are in time
// order: a table of old decisions reaches the last level long before they
// expire, and no later write overlaps its key range, so no compaction
// would ever visit it again and neither the table nor the value-log files
// it points into would be freed. The reclaimer therefore, every
// reclaimEvery:
//
//  1. walks the decision keys ('d' id …, record, responses, signed lines)
//     of decisions older than the retention and writes a delete marker for
//     each one still expired-but-present (through the writer, in batches
//     of at most reclaimBatch keys, so a batch holds up the decisions
//     behind it for a few milliseconds only). The markers overlap the old
//     tables' key range, so ordinary compaction carries them down, drops
//     both the marker and the expired key at the last level, and counts
//     the value as discarded in its value-log file;
//  2. runs value-log GC (a file is rewritten when at least half of it is
//     discarded; one of expired decisions only is simply deleted).
//
// Index keys are not marked: new index keys arrive all over the index's
// key range, so compaction keeps visiting it and drops them there.
type reclaimState struct {
	stop     context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
	// sweptTo is the decision-key time (Unix ms) below which the last
	// sweep left no expired key unmarked; only the reclaimer goroutine
	// touches it.
	sweptTo uint64
	// marked counts the delete markers written (tests, the log line).
	marked atomic.Uint64
}

// reclaimEvery is how often the reclaimer runs; a variable for tests.
var reclaimEvery = time.Hour

// reclaimBatch bounds the delete markers of one writer call.
const reclaimBatch = 4096

// vlogGCRatio: value-log GC rewrites a file when at least this share of it
// is discarded (rewriting costs I/O on a host that serves prescriptions).
const vlogGCRatio = 0.5

func (l *Log) startReclaimer() {
	ctx, cancel := context.WithCancel(context.Background())
	r := &l.reclaim
	r.stop, r.done = cancel, make(chan struct{})
	every := reclaimEvery
	go func() {
		defer close(r.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := l.reclaimSpace(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("reclaiming expired decisions' disk space failed; it is retried in "+every.String()+" (decisions are recorded and expire from queries regardless)", "err", err)
			}
		}
	}()
}

// reclaimedKeys is how many delete markers the reclaimer has written.
func (l *Log) reclaimedKeys() uint64 { return l.reclaim.marked.Load() }

func (l *Log) stopReclaimer() {
	r := &l.reclaim
	r.stopOnce.Do(func() {
		if r.stop != nil {
			r.stop()
			<-r.done
		}
	})
}

// reclaimSpace marks the expired decisions' keys deleted and then runs
// value-log GC (see reclaimState).
func (l *Log) reclaimSpace(ctx context.Context) error {
	if !l.writable.Load() || !l.opts.Space.Writable() {
		return nil // marking and rewriting are writes: wait for room
	}
	now := l.opts.Now()
	cutoff := now.Add(-l.opts.Retention)
	if cutoff.UnixMilli() <= 0 {
		return nil
	}
	to := uint64(cutoff.UnixMilli())
	marked := 0
	from, sweptTo := l.reclaim.sweptTo, to
	for {
		keys, next, pending, err := l.expiredKeys(from, to, uint64(now.Unix()))
		if err != nil {
			return err
		}
		if pending != nil && *pending < sweptTo {
			// Not expired yet (Badger's expiry is rounded up to the
			// second, and an entry's Time may follow its id's): the next
			// sweep starts there again.
			sweptTo = *pending
		}
		if len(keys) > 0 {
			if err := l.do(ctx, "mark expired decisions deleted", func(l *Log) error { return l.deleteKeys(keys) }); err != nil {
				return err
			}
			marked += len(keys)
			l.reclaim.marked.Add(uint64(len(keys)))
		}
		if next == nil {
			break
		}
		from = *next
	}
	l.reclaim.sweptTo = sweptTo
	files, err := l.valueLogGC(ctx)
	if marked > 0 || files > 0 {
		l.log.Info("reclaimed expired decisions", "keys_marked", marked, "value_log_files_rewritten", files)
	}
	return err
}

// expiredKeys lists up to reclaimBatch decision keys with an id time in
// [from, to) ms that have expired (expiry ≤ nowSec) and carry no delete
// marker yet. next, if not nil, is where the following batch starts;
// pending, the id time of the first key in the range that has not expired
// yet.
func (l *Log) expiredKeys(from, to, nowSec uint64) (keys [][]byte, next, pending *uint64, err error) {
	db, err := l.enter()
	if err != nil {
		return nil, nil, nil, err
	}
	defer l.life.Leave()
	var lo, hi id
	putMillis(&lo, from)
	putMillis(&hi, to)
	start, end := appendDecisionKey(nil, &lo), appendDecisionKey(nil, &hi)
	err = db.View(func(txn *badger.Txn) error {
		// AllVersions: an expired key is visible only this way.
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true, Prefix: []byte{prefixDecision}})
		defer it.Close()
		var last []byte
		for it.Seek(start); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if bytes.Compare(k, end) >= 0 {
				break
			}
			if bytes.Equal(k, last) {
				continue // an older version of a key already decided
			}
			last = append(last[:0], k...)
			// The newest version decides: a delete marker has no expiry.
			exp := item.ExpiresAt()
			if exp == 0 {
				continue
			}
			if exp > nowSec {
				if pending == nil {
					ms := millisOfKey(k)
					pending = &ms
				}
				continue
			}
			if len(keys) == reclaimBatch {
				// The next batch starts at this key's millisecond: the
				// keys of it already listed then carry their markers.
				ms := millisOfKey(k)
				next = &ms
				break
			}
			keys = append(keys, item.KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list expired decisions: %w", err)
	}
	return keys, next, pending, nil
}

// millisOfKey is the id time of a decision key ('d' id16 …; the
// iterator's prefix guarantees the 'd', Badger the length of rxguard's
// keys).
func millisOfKey(k []byte) uint64 {
	if len(k) < 7 {
		return 0
	}
	var ms uint64
	for _, b := range k[1:7] {
		ms = ms<<8 | uint64(b)
	}
	return ms
}

// deleteKeys writes delete markers for keys (in the writer).
func (l *Log) deleteKeys(keys [][]byte) error {
	db, err := l.enterWrite()
	if err != nil {
		return err
	}
	defer l.life.Leave()
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return fmt.Errorf("mark expired decision key deleted: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("mark expired decisions deleted: %w", err)
	}
	l.commits.Add(1) // something to sync
	return nil
}

// valueLogGC rewrites (or deletes) value-log files that are mostly
// discarded, until none is; it returns how many.
func (l *Log) valueLogGC(ctx context.Context) (int, error) {
	db, err := l.enter()
	if err != nil {
		return 0, err
	}
	defer l.life.Leave()
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !l.writable.Load() || !l.opts.Space.Writable() {
			return n, nil
		}
		switch err := db.RunValueLogGC(vlogGCRatio); {
		case err == nil:
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return n, nil
		default:
			return n, fmt.Errorf("value-log GC of the decision log: %w", err)
		}
	}
}

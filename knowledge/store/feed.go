package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"

	"github.com/rxguard/rxguard/knowledge"
)

// The physician-status feed lives beside the releases: each event under
// its seq, and the cursor (the last seq stored) under its own key. Both
// change in one transaction, so after a crash the cursor never points past
// the events that are there, nor behind them.
const (
	feedEventPrefix = "feed/event/"
	keyFeedCursor   = "feed/cursor"
	keySyncState    = "meta/sync"
)

// ErrCursorMoved: AppendPhysicianEvents was called with a cursor that is not
// the stored one (two writers, or a stale caller); nothing was written.
var ErrCursorMoved = errors.New("physician feed cursor moved")

func feedEventKey(seq int64) []byte { return fmt.Appendf(nil, "%s%020d", feedEventPrefix, seq) }

// AppendPhysicianEvents stores events that follow afterSeq (the stored
// cursor) and moves the cursor to the last one, atomically. Seqs must
// increase and exceed afterSeq.
func (s *Store) AppendPhysicianEvents(ctx context.Context, afterSeq int64, events []knowledge.PhysicianEvent) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return afterSeq, nil
	}
	if err := s.space.Allow(0); err != nil {
		return afterSeq, fmt.Errorf("store physician events after seq %d: %w; nothing stored", afterSeq, err)
	}
	prev := afterSeq
	for i, e := range events {
		if e.Seq <= prev {
			return afterSeq, fmt.Errorf("physician events: seq %d at position %d does not follow %d; nothing stored", e.Seq, i, prev)
		}
		prev = e.Seq
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		cur, err := feedCursor(txn)
		if err != nil {
			return err
		}
		if cur != afterSeq {
			return fmt.Errorf("%w: stored cursor is %d, caller appends after %d", ErrCursorMoved, cur, afterSeq)
		}
		for _, e := range events {
			b, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode physician event %d: %w", e.Seq, err)
			}
			if err := txn.Set(feedEventKey(e.Seq), b); err != nil {
				return err
			}
		}
		return txn.Set([]byte(keyFeedCursor), strconv.AppendInt(nil, prev, 10))
	})
	if err != nil {
		return afterSeq, fmt.Errorf("store physician events %d–%d in %s: %w", events[0].Seq, prev, s.dir, err)
	}
	return prev, nil
}

// PhysicianEvents returns the stored feed in seq order and its cursor.
func (s *Store) PhysicianEvents(ctx context.Context) ([]knowledge.PhysicianEvent, int64, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	defer s.leave()
	var (
		out    []knowledge.PhysicianEvent
		cursor int64
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if cursor, err = feedCursor(txn); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(feedEventPrefix), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if len(out)%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var e knowledge.PhysicianEvent
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return fmt.Errorf("%w: physician event %s: %v", ErrCorrupt, it.Item().Key(), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read physician feed in %s: %w", s.dir, err)
	}
	return out, cursor, nil
}

func feedCursor(txn *badger.Txn) (int64, error) {
	v, ok, err := getString(txn, keyFeedCursor)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: feed cursor %q", ErrCorrupt, v)
	}
	return n, nil
}

// PutSyncState stores the sync client's small state document (last
// success and what the bureau last said), so staleness survives restarts.
func (s *Store) PutSyncState(ctx context.Context, doc []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.space.Allow(0); err != nil {
		return fmt.Errorf("store sync state: %w", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(keySyncState), doc) }); err != nil {
		return fmt.Errorf("store sync state in %s: %w", s.dir, err)
	}
	return nil
}

// SyncState returns the stored sync state document (nil if none).
func (s *Store) SyncState(ctx context.Context) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keySyncState))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read sync state in %s: %w", s.dir, err)
	}
	return out, nil
}

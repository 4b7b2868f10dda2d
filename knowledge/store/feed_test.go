package store

import (
	"context"
	"errors"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

func TestPhysicianFeedPersistsWithCursor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDisk(t, dir, nil)
	ev := func(seq int64) knowledge.PhysicianEvent {
		return knowledge.PhysicianEvent{Seq: seq, PhysicianCode: "D1", Type: "POINTS_ADDED", Date: "2026-01-02", Points: 1}
	}
	if got, err := s.AppendPhysicianEvents(ctx, 0, []knowledge.PhysicianEvent{ev(1), ev(2), ev(3)}); err != nil || got != 3 {
		t.Fatalf("append: %d %v", got, err)
	}
	for _, tc := range []struct {
		name  string
		after int64
		evs   []knowledge.PhysicianEvent
		want  error
	}{
		{"stale cursor", 1, []knowledge.PhysicianEvent{ev(4)}, ErrCursorMoved},
		{"seq not after cursor", 3, []knowledge.PhysicianEvent{ev(3)}, nil},
		{"seqs not increasing", 3, []knowledge.PhysicianEvent{ev(5), ev(4)}, nil},
	} {
		_, err := s.AppendPhysicianEvents(ctx, tc.after, tc.evs)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}
	if _, err := s.AppendPhysicianEvents(ctx, 3, []knowledge.PhysicianEvent{ev(7)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSyncState(ctx, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openDisk(t, dir, nil)
	events, cursor, err := s.PhysicianEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cursor != 7 || len(events) != 4 || events[3].Seq != 7 || events[0].Seq != 1 {
		t.Fatalf("after reopen: cursor %d, events %+v", cursor, events)
	}
	if doc, err := s.SyncState(ctx); err != nil || string(doc) != `{"x":1}` {
		t.Fatalf("sync state %q %v", doc, err)
	}
}

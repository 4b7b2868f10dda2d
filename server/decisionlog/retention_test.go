package decisionlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// visibleKeys lists every key Badger still returns (expired ones are not).
func visibleKeys(t *testing.T, l *Log) [][]byte {
	t.Helper()
	db, err := l.enter()
	if err != nil {
		t.Fatal(err)
	}
	defer l.life.Leave()
	var keys [][]byte
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
			if it.Item().ExpiresAt() == 0 {
				t.Errorf("key %q has no expiry", it.Item().Key())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestRetentionExpiresEverything(t *testing.T) {
	l := openTest(t, Options{Retention: 2 * time.Second})
	ctx := context.Background()
	s := warnSpec(1)
	s.at = time.Now()
	e := entry(s)
	l.Append(ctx, e)
	if _, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := l.LinkSigned(ctx, e.ID, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	// The decision, its response and signed lines, and 6 index keys
	// (physician, department, patient, verdict, 2 rule types; the
	// unanswered key went with the answer).
	if keys := visibleKeys(t, l); len(keys) != 9 {
		t.Fatalf("%d keys before expiry: %q", len(keys), keys)
	}
	time.Sleep(time.Until(e.Time.Add(2*time.Second).Truncate(time.Second).Add(time.Second)) + 100*time.Millisecond)
	if _, err := l.Get(ctx, e.ID); !errors.Is(err, ErrDecisionNotFound) {
		t.Fatalf("Get after retention: %v", err)
	}
	for _, q := range []Query{{}, {PhysicianCode: "D370800000001"}, {Verdict: rxguardv1.Verdict_VERDICT_WARN}} {
		if decs, _, err := l.Query(ctx, q); err != nil || len(decs) != 0 {
			t.Fatalf("query %+v after retention: %d, %v", q, len(decs), err)
		}
	}
	if keys := visibleKeys(t, l); len(keys) != 0 {
		t.Fatalf("keys left after retention: %q", keys)
	}
	if _, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{}); !errors.Is(err, ErrDecisionNotFound) {
		t.Fatalf("answering an expired decision: %v", err)
	}
}

func TestDefaultRetentionExpiry(t *testing.T) {
	l := openTest(t, Options{})
	e := entry(warnSpec(1))
	e.Time = time.Date(2026, 11, 22, 10, 0, 0, 500, time.UTC)
	l.Append(context.Background(), e)
	flush(t, l)
	db, err := l.enter()
	if err != nil {
		t.Fatal(err)
	}
	defer l.life.Leave()
	u, _ := parseID(e.ID)
	want := uint64(e.Time.Add(3*365*24*time.Hour).Unix()) + 1 // rounded up
	err = db.View(func(txn *badger.Txn) error {
		for _, k := range [][]byte{appendDecisionKey(nil, &u), appendIndexKey(nil, indexPhysician, "D370800000001", &u), appendIndexKey(nil, indexUnanswered, "", &u)} {
			item, err := txn.Get(k)
			if err != nil {
				return err
			}
			if item.ExpiresAt() != want {
				t.Errorf("key %q expires at %d, want %d", k, item.ExpiresAt(), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

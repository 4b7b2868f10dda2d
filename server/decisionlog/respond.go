package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// FindingNotFoundError: the decision has no finding with this id (the
// caller answers NotFound).
type FindingNotFoundError struct {
	DecisionID, FindingID string
}

func (e *FindingNotFoundError) Error() string {
	return fmt.Sprintf("decision %s has no finding %q", e.DecisionID, e.FindingID)
}

// NotOverridableError: a RESPONSE_CONTINUE to a finding whose overridable
// is false (the caller answers FailedPrecondition naming the finding).
type NotOverridableError struct {
	FindingID string
}

func (e *NotOverridableError) Error() string {
	return fmt.Sprintf("finding %s cannot be overridden: the order must be modified (RESPONSE_MODIFY), not continued", e.FindingID)
}

// maxResponseRevisions bounds the stored responses of one decision (the
// response keys' sequence number is 16 bits).
const maxResponseRevisions = 1 << 16

// RecordResponses records physicians' answers to findings of a decision and
// returns how many were stored as new revisions. It is synced to disk
// before it returns, and so is the decision it answers (and everything
// committed before it), even when nothing new was stored.
//
// It runs after every decision appended before it has been committed, so
// an answer to a decision still queued finds it. It is idempotent per
// (decision, finding): an answer equal (response, reason code and text) to
// the finding's latest revision stores nothing; a different one is stored
// as the next revision with respondedTime (zero: now). Nothing is stored
// if any answer is refused: an unknown decision (ErrDecisionNotFound), an
// unknown finding (*FindingNotFoundError), or a continue of a finding that
// is not overridable (*NotOverridableError). Shape (reason codes, text
// length) is validated by the caller.
func (l *Log) RecordResponses(ctx context.Context, decisionID string, rs []*rxguardv1.FindingResponse, respondedTime time.Time) (recorded int, err error) {
	u, err := parseID(decisionID)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrDecisionNotFound, decisionID)
	}
	if l.opts.ReadOnly {
		return 0, fmt.Errorf("record responses to decision %s: %w", decisionID, ErrReadOnly)
	}
	if respondedTime.IsZero() {
		respondedTime = l.opts.Now()
	}
	var n int
	if err := l.do(ctx, "record responses to decision "+decisionID, func(l *Log) (err error) {
		n, err = l.recordResponses(&u, decisionID, rs, respondedTime)
		return err
	}); err != nil {
		return 0, err
	}
	return n, nil
}

func (l *Log) recordResponses(u *id, decisionID string, rs []*rxguardv1.FindingResponse, respondedTime time.Time) (int, error) {
	db, err := l.enterWrite()
	if err != nil {
		return 0, fmt.Errorf("record responses to decision %s: %w", decisionID, err)
	}
	defer l.life.Leave()
	txn := db.NewTransaction(true)
	defer txn.Discard()
	dec, exp, err := loadDecision(txn, u, decisionID)
	if err != nil {
		return 0, err
	}
	findings := dec.GetResponse().GetFindings()
	byID := make(map[string]*rxguardv1.Finding, len(findings))
	for _, f := range findings {
		byID[f.GetFindingId()] = f
	}
	for _, r := range rs {
		f := byID[r.GetFindingId()]
		switch {
		case f == nil:
			return 0, &FindingNotFoundError{DecisionID: decisionID, FindingID: r.GetFindingId()}
		case r.GetResponse() == rxguardv1.Response_RESPONSE_CONTINUE && !f.GetOverridable():
			return 0, &NotOverridableError{FindingID: r.GetFindingId()}
		}
	}

	latest := LatestResponses(dec)
	seq := len(dec.Responses)
	now := l.opts.Now()
	added := 0
	for _, r := range rs {
		prev := latest[r.GetFindingId()]
		if prev != nil && prev.Response == r.GetResponse() && prev.ReasonCode == r.GetReasonCode() && prev.ReasonText == r.GetReasonText() {
			continue
		}
		if seq >= maxResponseRevisions {
			return 0, fmt.Errorf("decision %s already has %d recorded responses, the most one decision keeps", decisionID, seq)
		}
		rr := &rxguardv1.RecordedResponse{
			FindingId: r.GetFindingId(), Response: r.GetResponse(), ReasonCode: r.GetReasonCode(), ReasonText: r.GetReasonText(),
			RespondedTime: respondedTime.Format(time.RFC3339Nano), RecordedTime: now.Format(time.RFC3339Nano), Revision: 1,
		}
		if prev != nil {
			rr.Revision = prev.Revision + 1
		}
		val, err := proto.MarshalOptions{}.MarshalAppend([]byte{valueVersion}, rr)
		if err != nil {
			return 0, fmt.Errorf("record responses to decision %s: encode: %w", decisionID, err)
		}
		if err := txn.SetEntry(&badger.Entry{Key: appendResponseKey(nil, u, uint16(seq)), Value: val, ExpiresAt: exp}); err != nil {
			return 0, fmt.Errorf("record responses to decision %s: %w", decisionID, err)
		}
		latest[rr.FindingId] = rr
		added++
		seq++
	}
	if added == 0 {
		// Nothing new. The caller is answered after a sync all the same
		// (do): the revision it repeats is unsynced if an earlier sync
		// failed.
		return 0, nil
	}
	answered := true
	for _, f := range findings {
		if NeedsAnswer(f) && latest[f.GetFindingId()] == nil {
			answered = false
			break
		}
	}
	if answered {
		if err := txn.Delete(appendIndexKey(nil, indexUnanswered, "", u)); err != nil {
			return 0, fmt.Errorf("record responses to decision %s: %w", decisionID, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return 0, fmt.Errorf("record responses to decision %s: %w", decisionID, err)
	}
	l.commits.Add(1)
	// Committed (a retry finds the revisions and stores nothing); do
	// answers the caller once it is on the disk.
	return added, nil
}

// LinkSigned records that lines of a decision were signed (RecordSigned
// with its decision_id). Line ids already linked are kept once; the link
// (and the decision) is synced to disk before it returns. Like RecordResponses it runs after
// every decision appended before it. ErrDecisionNotFound if there is no
// such decision.
func (l *Log) LinkSigned(ctx context.Context, decisionID string, lineIDs []string) error {
	u, err := parseID(decisionID)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrDecisionNotFound, decisionID)
	}
	if l.opts.ReadOnly {
		return fmt.Errorf("link signed lines to decision %s: %w", decisionID, ErrReadOnly)
	}
	return l.do(ctx, "link signed lines to decision "+decisionID, func(l *Log) error { return l.linkSigned(&u, decisionID, lineIDs) })
}

func (l *Log) linkSigned(u *id, decisionID string, lineIDs []string) error {
	db, err := l.enterWrite()
	if err != nil {
		return fmt.Errorf("link signed lines to decision %s: %w", decisionID, err)
	}
	defer l.life.Leave()
	txn := db.NewTransaction(true)
	defer txn.Discard()
	item, err := txn.Get(appendDecisionKey(nil, u))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%w: %s", ErrDecisionNotFound, decisionID)
	}
	if err != nil {
		return fmt.Errorf("link signed lines to decision %s: %w", decisionID, err)
	}
	exp := item.ExpiresAt()
	key := appendSignedKey(nil, u)
	var signed rxguardv1.Decision
	switch item, err := txn.Get(key); {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("link signed lines to decision %s: %w", decisionID, err)
	default:
		if err := item.Value(func(v []byte) error { return decodeValue(v, &signed) }); err != nil {
			return fmt.Errorf("link signed lines to decision %s: %w", decisionID, err)
		}
	}
	have := make(map[string]bool, len(signed.SignedLineIds)+len(lineIDs))
	for _, s := range signed.SignedLineIds {
		have[s] = true
	}
	before := len(signed.SignedLineIds)
	for _, s := range lineIDs {
		if !have[s] {
			have[s] = true
			signed.SignedLineIds = append(signed.SignedLineIds, s)
		}
	}
	if len(signed.SignedLineIds) == before {
		return nil
	}
	val, err := proto.MarshalOptions{}.MarshalAppend([]byte{valueVersion}, &signed)
	if err != nil {
		return fmt.Errorf("link signed lines to decision %s: encode: %w", decisionID, err)
	}
	if err := txn.SetEntry(&badger.Entry{Key: key, Value: val, ExpiresAt: exp}); err != nil {
		return fmt.Errorf("link signed lines to decision %s: %w", decisionID, err)
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("link signed lines to decision %s: %w", decisionID, err)
	}
	l.commits.Add(1)
	return nil
}

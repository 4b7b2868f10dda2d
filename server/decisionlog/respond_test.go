package decisionlog

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func cont(findingID, code, text string) *rxguardv1.FindingResponse {
	return &rxguardv1.FindingResponse{FindingId: findingID, Response: rxguardv1.Response_RESPONSE_CONTINUE, ReasonCode: code, ReasonText: text}
}

func modify(findingID string) *rxguardv1.FindingResponse {
	return &rxguardv1.FindingResponse{FindingId: findingID, Response: rxguardv1.Response_RESPONSE_MODIFY}
}

func TestRecordResponsesRevisions(t *testing.T) {
	clock := t0.Add(time.Hour)
	l := openTest(t, Options{Now: func() time.Time { return clock }})
	ctx := context.Background()
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	f1, f2 := e.Response.Findings[0].FindingId, e.Response.Findings[1].FindingId // WARN overridable, BLOCK not

	answered := t0.Add(time.Minute)
	n, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{cont(f1, "CLINICAL_NEED", "病情需要，继续使用"), modify(f2)}, answered)
	if err != nil || n != 2 {
		t.Fatalf("first answers: %d, %v", n, err)
	}
	// The same answers again: no-ops.
	clock = clock.Add(time.Minute)
	if n, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{cont(f1, "CLINICAL_NEED", "病情需要，继续使用"), modify(f2)}, answered); err != nil || n != 0 {
		t.Fatalf("repeated answers: %d, %v (want 0 recorded)", n, err)
	}
	// A different answer: a new revision with its own times.
	later := t0.Add(2 * time.Minute)
	if n, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{cont(f1, "DATA_ERROR", "知识库有误")}, later); err != nil || n != 1 {
		t.Fatalf("changed answer: %d, %v", n, err)
	}
	// Back to the first answer: differs from the latest, so revision 3.
	if n, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{cont(f1, "CLINICAL_NEED", "病情需要，继续使用")}, later); err != nil || n != 1 {
		t.Fatalf("answer reverted: %d, %v", n, err)
	}

	d, err := l.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	type rev struct {
		finding string
		resp    rxguardv1.Response
		code    string
		rev     int32
		at      time.Time
	}
	var got []rev
	for _, r := range d.Responses {
		at, _ := time.Parse(time.RFC3339Nano, r.RespondedTime)
		if r.RecordedTime == "" {
			t.Errorf("revision without recorded_time: %v", r)
		}
		got = append(got, rev{r.FindingId, r.Response, r.ReasonCode, r.Revision, at})
	}
	wantRevs := []rev{
		{f1, rxguardv1.Response_RESPONSE_CONTINUE, "CLINICAL_NEED", 1, answered},
		{f2, rxguardv1.Response_RESPONSE_MODIFY, "", 1, answered},
		{f1, rxguardv1.Response_RESPONSE_CONTINUE, "DATA_ERROR", 2, later},
		{f1, rxguardv1.Response_RESPONSE_CONTINUE, "CLINICAL_NEED", 3, later},
	}
	if len(got) != len(wantRevs) {
		t.Fatalf("responses %v, want %v", got, wantRevs)
	}
	for i := range got {
		if got[i].finding != wantRevs[i].finding || got[i].resp != wantRevs[i].resp || got[i].code != wantRevs[i].code ||
			got[i].rev != wantRevs[i].rev || !got[i].at.Equal(wantRevs[i].at) {
			t.Errorf("response %d = %v, want %v", i, got[i], wantRevs[i])
		}
	}
}

func TestRecordResponsesRefusals(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	f1, f2 := e.Response.Findings[0].FindingId, e.Response.Findings[1].FindingId

	if _, err := l.RecordResponses(ctx, NewID(time.Now()), []*rxguardv1.FindingResponse{modify(f1)}, time.Time{}); !errors.Is(err, ErrDecisionNotFound) {
		t.Errorf("unknown decision: %v", err)
	}
	if _, err := l.RecordResponses(ctx, "nonsense", []*rxguardv1.FindingResponse{modify(f1)}, time.Time{}); !errors.Is(err, ErrDecisionNotFound) {
		t.Errorf("malformed decision id: %v", err)
	}
	// One bad answer refuses the whole call: the good one is not stored.
	_, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(f1), modify(e.ID + "-9")}, time.Time{})
	var nf *FindingNotFoundError
	if !errors.As(err, &nf) || nf.FindingID != e.ID+"-9" {
		t.Errorf("unknown finding: %v", err)
	}
	_, err = l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{cont(f1, "OTHER", "x"), cont(f2, "CLINICAL_NEED", "坚持")}, time.Time{})
	var no *NotOverridableError
	if !errors.As(err, &no) || no.FindingID != f2 {
		t.Errorf("continuing a non-overridable finding: %v", err)
	}
	if d, err := l.Get(ctx, e.ID); err != nil || len(d.Responses) != 0 {
		t.Fatalf("after refused calls: %v responses, %v", d.GetResponses(), err)
	}
	// Modifying a non-overridable finding is fine.
	if n, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(f2)}, time.Time{}); err != nil || n != 1 {
		t.Fatalf("modify a BLOCK: %d, %v", n, err)
	}
}

func TestRecordResponsesWaitsForQueuedDecision(t *testing.T) {
	// With a 1 s group the decision is still queued when the answer
	// comes; the answer must not get NotFound, and must not wait the
	// whole interval either.
	l := openTest(t, Options{CommitInterval: time.Second, MaxBatch: 1000})
	ctx := context.Background()
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	start := time.Now()
	n, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{})
	if err != nil || n != 1 {
		t.Fatalf("answer to a queued decision: %d, %v", n, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("RecordResponses took %v: it should commit the open group at once", d)
	}
}

func TestRecordResponsesDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Open(ctx, Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	if _, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := l.LinkSigned(ctx, e.ID, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2 := openTest(t, Options{Dir: dir})
	d, err := l2.Get(ctx, e.ID)
	if err != nil || len(d.Responses) != 1 || len(d.SignedLineIds) != 1 {
		t.Fatalf("after reopening: %v, %v", d, err)
	}
}

func TestRecordResponsesContextEnded(t *testing.T) {
	l := openTest(t, Options{})
	e := entry(warnSpec(1))
	l.Append(context.Background(), e)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.RecordResponses(ctx, e.ID, []*rxguardv1.FindingResponse{modify(e.Response.Findings[0].FindingId)}, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("with an ended context: %v", err)
	}
	flush(t, l)
	if d, err := l.Get(context.Background(), e.ID); err != nil || len(d.Responses) != 0 {
		t.Fatalf("the cancelled answer was stored: %v, %v", d.GetResponses(), err)
	}
}

func TestLinkSigned(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	e := entry(warnSpec(1))
	l.Append(ctx, e)
	if err := l.LinkSigned(ctx, e.ID, []string{"1", "2"}); err != nil {
		t.Fatal(err)
	}
	if err := l.LinkSigned(ctx, e.ID, []string{"2", "3"}); err != nil {
		t.Fatal(err)
	}
	d, err := l.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.SignedLineIds, []string{"1", "2", "3"}) {
		t.Fatalf("signed lines %v", d.SignedLineIds)
	}
	if err := l.LinkSigned(ctx, NewID(time.Now()), []string{"1"}); !errors.Is(err, ErrDecisionNotFound) {
		t.Fatalf("unknown decision: %v", err)
	}
}

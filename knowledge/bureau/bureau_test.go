package bureau

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// An empty directory with Demo gets the embedded demo release, signed by
// the bureau, and the demo event feed; reopening serves the same, and a
// bureau with another key refuses the directory.
func TestDemoSeedReopenAndKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := start(t, Options{Dir: dir, Demo: true})
	ctx := ctxT(t)

	latest, err := b.pub.GetLatestRelease(ctx, &bureauv1.GetLatestReleaseRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.ManifestFromProto(latest.GetManifest())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Version, "demo-") || latest.GetVersionsBehind() != -1 || m.RecordCount < 10_000 {
		t.Fatalf("latest after seeding: %s, %d records, behind %d", m.Version, m.RecordCount, latest.GetVersionsBehind())
	}
	if got := listDir(t, filepath.Join(dir, "releases")); !slices.Equal(got, []string{"ORDER", m.Version + ".rxrel"}) {
		t.Fatalf("releases directory holds %v", got)
	}

	rel, err := fetch(ctx, b.pub, &bureauv1.FetchReleaseRequest{})
	if err != nil {
		t.Fatal(err)
	}
	records, err := rel.Apply("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Kind != bureauv1.ReleaseKind_RELEASE_KIND_FULL {
		t.Errorf("first fetch is %v, want FULL", rel.Kind)
	}
	if err := wire.Verify(rel.Manifest, records, pubOf(b.key)); err != nil {
		t.Fatalf("demo release as fetched: %v", err)
	}
	demoEvents, err := eventsFromRecords(records)
	if err != nil || len(demoEvents) != 12 {
		t.Fatalf("demo release holds %d physician events, %v", len(demoEvents), err)
	}

	page, err := b.pub.ListPhysicianEvents(ctx, &bureauv1.ListPhysicianEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.GetEvents()) != 12 || page.GetLastSeq() != 12 {
		t.Fatalf("feed after seeding: %d events, last_seq %d", len(page.GetEvents()), page.GetLastSeq())
	}
	for i, p := range page.GetEvents() {
		e, err := wire.EventFromProto(p)
		if err != nil {
			t.Fatal(err)
		}
		want := demoEvents[i]
		want.Source = knowledge.Source{}
		if e != want {
			t.Errorf("feed event %d = %+v, demo has %+v", i, e, want)
		}
	}

	// Reopen: no second seeding, same latest and feed.
	again, err := Open(ctx, Options{Dir: dir, Key: b.key, Demo: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := again.Latest(); !ok || got.Version != m.Version || got.Signature != m.Signature || again.LastEventSeq() != 12 {
		t.Fatalf("reopened: latest %s (%v), %d events", got.Version, ok, again.LastEventSeq())
	}
	if got := listDir(t, filepath.Join(dir, "releases")); len(got) != 2 {
		t.Fatalf("reopening with Demo added files: %v", got)
	}

	_, err = Open(ctx, Options{Dir: dir, Key: testKey(99), Logger: testLogger(t)})
	if !errors.Is(err, knowledge.ErrSignature) || !strings.Contains(err.Error(), "does not verify against this bureau's key") {
		t.Fatalf("open with another key: %v", err)
	}
}

// publishChain publishes v1 (full), v2 (delta on v1) and v3 (full) and
// returns their records.
func publishChain(t *testing.T, b *testBureau) map[string][]knowledge.Record {
	t.Helper()
	r1 := recs(300, "a")
	r2 := slices.Clone(r1[:280]) // 20 deletes
	for i := 0; i < 280; i += 10 {
		r2[i] = knowledge.Record{Class: r2[i].Class, Key: r2[i].Key, Value: []byte(`{"changed":true}`)} // 28 replaces
	}
	r2 = append(r2, knowledge.Record{Class: knowledge.ClassInteraction, Key: "A+B", Value: []byte(`{}`)}) // 1 add
	r3 := recs(200, "c")
	m1, m2, m3 := manifest("v1", "", r1), manifest("v2", "v1", r2), manifest("v3", "v2", r3)
	mustPublish(t, b, full(m1, r1))
	mustPublish(t, b, delta(m2, m1, r1, r2))
	mustPublish(t, b, full(m3, r3))
	return map[string][]knowledge.Record{"v1": r1, "v2": r2, "v3": r3}
}

func TestVersionsBehindAndFetchFullOrDelta(t *testing.T) {
	t.Parallel()
	b := start(t, Options{})
	ctx := ctxT(t)
	if _, err := b.pub.GetLatestRelease(ctx, &bureauv1.GetLatestReleaseRequest{}); status.Code(err) != codes.NotFound {
		t.Fatalf("latest of an empty bureau: %v", err)
	}
	all := publishChain(t, b)
	sha := map[string]string{}
	for v, r := range all {
		sha[v] = knowledge.HashRecords(r)
	}

	for have, want := range map[string]int32{"v1": 2, "v2": 1, "v3": 0, "": -1, "v9": -1} {
		resp, err := b.pub.GetLatestRelease(ctx, &bureauv1.GetLatestReleaseRequest{HaveVersion: have})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetVersionsBehind() != want || resp.GetManifest().GetVersion() != "v3" {
			t.Errorf("have %q: latest %s, behind %d; want v3, %d", have, resp.GetManifest().GetVersion(), resp.GetVersionsBehind(), want)
		}
	}

	for _, tc := range []struct {
		name, version, have, haveSHA string
		batch                        int32
		wantTarget                   string
		wantKind                     bureauv1.ReleaseKind
		wantCode                     codes.Code
	}{
		{name: "latest, nothing held", wantTarget: "v3", wantKind: bureauv1.ReleaseKind_RELEASE_KIND_FULL},
		{name: "delta forward", version: "v2", have: "v1", haveSHA: sha["v1"], batch: 7, wantTarget: "v2", wantKind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA},
		{name: "delta to latest", have: "v2", haveSHA: sha["v2"], wantTarget: "v3", wantKind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA},
		{name: "delta backwards", version: "v1", have: "v3", haveSHA: sha["v3"], batch: 100000, wantTarget: "v1", wantKind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA},
		{name: "held content differs", have: "v1", haveSHA: sha["v2"], wantTarget: "v3", wantKind: bureauv1.ReleaseKind_RELEASE_KIND_FULL},
		{name: "held version unknown", have: "v0", haveSHA: sha["v1"], wantTarget: "v3", wantKind: bureauv1.ReleaseKind_RELEASE_KIND_FULL},
		{name: "already the target", version: "v2", have: "v2", haveSHA: sha["v2"], wantTarget: "v2", wantKind: bureauv1.ReleaseKind_RELEASE_KIND_FULL},
		{name: "unknown version", version: "v9", wantCode: codes.NotFound},
		{name: "negative batch", batch: -1, wantCode: codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := fetch(ctx, b.pub, &bureauv1.FetchReleaseRequest{Version: tc.version, HaveVersion: tc.have, HaveContentSha256: tc.haveSHA, BatchSize: tc.batch})
			if tc.wantCode != codes.OK {
				if status.Code(err) != tc.wantCode {
					t.Fatalf("got %v, want %v", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rel.Kind != tc.wantKind || rel.Manifest.Version != tc.wantTarget {
				t.Fatalf("got %v of %s, want %v of %s", rel.Kind, rel.Manifest.Version, tc.wantKind, tc.wantTarget)
			}
			var base []knowledge.Record
			if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
				base = all[tc.have]
				if want := len(wire.Diff(base, all[tc.wantTarget])); len(rel.Ops) != want || len(rel.Ops) >= len(all[tc.wantTarget])+len(base) {
					t.Errorf("delta has %d ops, want %d", len(rel.Ops), want)
				}
			}
			got, err := rel.Apply(tc.have, tc.haveSHA, base)
			if err != nil {
				t.Fatal(err)
			}
			if err := wire.Verify(rel.Manifest, got, pubOf(b.key)); err != nil {
				t.Fatal(err)
			}
			if !equalRecords(got, all[tc.wantTarget]) {
				t.Fatal("applied release differs from what was published")
			}
		})
	}
}

// A bureau whose publisher is another key (the NHSA's, say) serves what
// that key signed exactly as signed, full and delta, keeps it across a
// reopen with the same publisher keys, and refuses its own key's releases.
func TestPublishDeltaThenFetchAndReopen(t *testing.T) {
	t.Parallel()
	uploader := testKey(3)
	b := start(t, Options{Publishers: pubOf(uploader)})
	ctx := ctxT(t)
	trusted := append(pubOf(uploader), b.srv.PublicKey())
	sign := func(m knowledge.Manifest) knowledge.Manifest {
		m, err := knowledge.SignManifest(m, uploader)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	r1 := recs(50, "a")
	m1 := manifest("2026.11", "", r1)
	m1.Publisher = "NHSA 国家医保局"
	m1 = sign(m1)
	p1 := mustPublish(t, b, full(m1, r1))
	if p1.Publisher != "NHSA 国家医保局" || p1.Signature != m1.Signature {
		t.Errorf("published manifest: publisher %q, signature as the publisher signed it: %v", p1.Publisher, p1.Signature == m1.Signature)
	}
	if err := knowledge.VerifyManifest(p1, pubOf(uploader)); err != nil {
		t.Fatal(err)
	}

	r2 := append(slices.Clone(r1[1:]), knowledge.Record{Class: knowledge.ClassDrug, Key: "Z", Value: []byte(`{"new":1}`)})
	m2 := sign(manifest("2026.12", "2026.11", r2))
	resp, err := publish(ctx, b.admin, delta(m2, m1, r1, r2))
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := wire.ManifestFromProto(resp.GetManifest())
	if p2.Signature != m2.Signature || p2.ContentSHA256 != m2.ContentSHA256 {
		t.Errorf("published delta manifest: %+v", p2)
	}
	stored, err := wire.ReadFile(resp.GetPath(), wire.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if stored.Kind != bureauv1.ReleaseKind_RELEASE_KIND_DELTA || stored.BaseVersion != "2026.11" || len(stored.Ops) != 2 || stored.Manifest.Signature != m2.Signature {
		t.Errorf("stored %s: %v on %s, %d ops", resp.GetPath(), stored.Kind, stored.BaseVersion, len(stored.Ops))
	}

	rel, err := fetch(ctx, b.pub, &bureauv1.FetchReleaseRequest{HaveVersion: "2026.11", HaveContentSha256: p1.ContentSHA256})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rel.Apply("2026.11", p1.ContentSHA256, r1)
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.Verify(rel.Manifest, got, trusted); err != nil || rel.Manifest.Version != "2026.12" || rel.Manifest.Signature != m2.Signature || !equalRecords(got, r2) {
		t.Fatalf("fetched %s: %v", rel.Manifest.Version, err)
	}

	// 2026.11 is published again, identically: no change of order. The
	// bureau's own key is not a publisher of this bureau.
	if _, err := publish(ctx, b.admin, full(m1, r1)); err != nil {
		t.Fatal(err)
	}
	_, err = publish(ctx, b.admin, full(manifest("2027.01", "", r1), r1))
	wantCode(t, err, codes.PermissionDenied, "not among the trusted keys ["+knowledge.KeyID(uploader.Public().(ed25519.PublicKey))+"]")

	again, err := Open(ctx, Options{Dir: b.dir, Key: b.key, Publishers: pubOf(uploader), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := again.current().versions(); !slices.Equal(got, []string{"2026.11", "2026.12"}) {
		t.Fatalf("reopened order %v", got)
	}
	if l, _ := again.Latest(); l.Signature != p2.Signature {
		t.Fatalf("reopened latest %+v", l)
	}
	// Without the publisher's key (revoked) the bureau will not serve what
	// it signed.
	if _, err := Open(ctx, Options{Dir: b.dir, Key: b.key, Logger: testLogger(t)}); !errors.Is(err, knowledge.ErrSignature) {
		t.Fatalf("reopened without the publisher key: %v", err)
	}
}

func TestPublishRejections(t *testing.T) {
	t.Parallel()
	b := start(t, Options{})
	ctx := ctxT(t)
	r1 := recs(40, "a")
	m1 := mustPublish(t, b, full(manifest("v1", "", r1), r1))
	r2 := recs(45, "b")
	m2 := manifest("v2", "v1", r2)

	for _, tc := range []struct {
		name     string
		chunks   func() []*bureauv1.ReleaseChunk
		code     codes.Code
		contains string
	}{
		{"delta against an unknown base", func() []*bureauv1.ReleaseChunk {
			return chunksOf(t, delta(m2, manifest("v0", "", r1), r1, r2), 10)
		}, codes.FailedPrecondition, "does not hold"},
		{"delta against other content under a known version", func() []*bureauv1.ReleaseChunk {
			other := recs(40, "x")
			return chunksOf(t, delta(m2, manifest("v1", "", other), other, r2), 10)
		}, codes.FailedPrecondition, "does not apply"},
		{"value changed in transfer", func() []*bureauv1.ReleaseChunk {
			cs := chunksOf(t, full(m2, r2), 10)
			cs[2].GetBatch().Ops[3].Value = []byte(`{"v":"evil"}`)
			return cs
		}, codes.InvalidArgument, "damaged in transfer"},
		{"content not what the manifest says", func() []*bureauv1.ReleaseChunk {
			return chunksOf(t, full(m2, recs(45, "c")), 10)
		}, codes.InvalidArgument, "does not match its manifest"},
		{"no trailer", func() []*bureauv1.ReleaseChunk {
			cs := chunksOf(t, full(m2, r2), 10)
			return cs[:len(cs)-1]
		}, codes.InvalidArgument, "without a trailer"},
		{"no header", func() []*bureauv1.ReleaseChunk {
			return chunksOf(t, full(m2, r2), 10)[1:]
		}, codes.InvalidArgument, "not a header"},
		{"version already published with other content", func() []*bureauv1.ReleaseChunk {
			return chunksOf(t, full(manifest("v1", "", r2), r2), 10)
		}, codes.AlreadyExists, "other content"},
		{"version unusable as a file name", func() []*bureauv1.ReleaseChunk {
			return chunksOf(t, full(manifest("v2/../../x", "", r2), r2), 10)
		}, codes.InvalidArgument, "letters, digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sendChunks(ctx, b.admin, tc.chunks())
			wantCode(t, err, tc.code, tc.contains)
		})
	}
	if got := listDir(t, filepath.Join(b.dir, "releases")); !slices.Equal(got, []string{"ORDER", "v1.rxrel"}) {
		t.Errorf("after rejected publishes the releases directory holds %v", got)
	}
	if l, _ := b.srv.Latest(); l.Version != "v1" || l.Signature != m1.Signature {
		t.Errorf("latest after rejected publishes: %s", l.Version)
	}
	// Identical content under a published version is accepted, unchanged.
	resp, err := publish(ctx, b.admin, full(manifest("v1", "", r1), r1))
	if err != nil || resp.GetManifest().GetSignature() != m1.Signature {
		t.Fatalf("identical republish: %v", err)
	}
}

func TestEventFeed(t *testing.T) {
	t.Parallel()
	b := start(t, Options{})
	ctx := ctxT(t)
	trusted := pubOf(b.key)

	page, err := b.pub.ListPhysicianEvents(ctx, &bureauv1.ListPhysicianEventsRequest{})
	if err != nil || len(page.GetEvents()) != 0 || page.GetLastSeq() != 0 || knowledge.VerifyEventPage(0, nil, page.GetSignature(), trusted) != nil {
		t.Fatalf("empty feed: %v %v", page, err)
	}

	event := func(code, typ, date string, points int32) *bureauv1.PhysicianEvent {
		return &bureauv1.PhysicianEvent{Seq: 99, PhysicianCode: code, Type: bureauv1.PhysicianEventType(bureauv1.PhysicianEventType_value[typ]), Date: date, Points: points, Reason: "超量开药"}
	}
	var batch []*bureauv1.PhysicianEvent
	for i := range 20 {
		batch = append(batch, event("D0000000000"+string(rune('0'+i%10)), "POINTS_ADDED", "2026-10-01", 2))
	}
	for _, tc := range []struct {
		events      []*bureauv1.PhysicianEvent
		first, last int64
	}{{batch, 1, 20}, {batch[:5], 21, 25}} {
		resp, err := b.admin.PublishPhysicianEvents(ctx, eventsReq(t, b.key, tc.first-1, tc.events...))
		if err != nil || resp.GetFirstSeq() != tc.first || resp.GetLastSeq() != tc.last {
			t.Fatalf("publish %d events: %v %v, want %d–%d", len(tc.events), resp, err, tc.first, tc.last)
		}
	}

	fileBefore, _ := os.ReadFile(filepath.Join(b.dir, "events.jsonl"))
	for _, tc := range []struct {
		name   string
		events []*bureauv1.PhysicianEvent
		want   string
	}{
		{"bad date", []*bureauv1.PhysicianEvent{event("D1", "POINTS_ADDED", "2026-10-01", 1), event("D1", "POINTS_ADDED", "2026-10-01", 1), event("D1", "POINTS_ADDED", "1.10.2026", 1)}, "events[2]: date"},
		{"no type", []*bureauv1.PhysicianEvent{event("D1", "", "2026-10-01", 1)}, "events[0]: type"},
		{"too many points", []*bureauv1.PhysicianEvent{event("D1", "POINTS_ADDED", "2026-10-01", 13)}, "events[0]: points"},
		{"nothing", nil, "no events"},
	} {
		_, err := b.admin.PublishPhysicianEvents(ctx, &bureauv1.PublishPhysicianEventsRequest{Events: tc.events})
		wantCode(t, err, codes.InvalidArgument, tc.want)
	}
	if after, _ := os.ReadFile(filepath.Join(b.dir, "events.jsonl")); string(after) != string(fileBefore) || b.srv.LastEventSeq() != 25 {
		t.Fatalf("a rejected publish changed the feed (now %d events)", b.srv.LastEventSeq())
	}

	// Page through with limit 10, proving each page.
	var all []knowledge.PhysicianEvent
	for cursor := int64(0); ; {
		page, err := b.pub.ListPhysicianEvents(ctx, &bureauv1.ListPhysicianEventsRequest{AfterSeq: cursor, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if page.GetLastSeq() != 25 {
			t.Fatalf("last_seq %d", page.GetLastSeq())
		}
		events, err := wire.EventPage(cursor, page, trusted)
		if err != nil {
			t.Fatalf("page after %d: %v", cursor, err)
		}
		if err := knowledge.VerifyEventPage(cursor, events, page.GetSignature(), pubOf(testKey(8))); !errors.Is(err, knowledge.ErrSignature) {
			t.Fatalf("page verified against a wrong key: %v", err)
		}
		if len(events) > 0 {
			tampered := slices.Clone(events)
			tampered[0].Points++
			if err := knowledge.VerifyEventPage(cursor, tampered, page.GetSignature(), trusted); !errors.Is(err, knowledge.ErrSignature) {
				t.Fatalf("tampered page verified: %v", err)
			}
		}
		all = append(all, events...)
		if len(events) == 0 || events[len(events)-1].Seq == page.GetLastSeq() {
			if len(events) > 10 {
				t.Fatalf("page of %d events with limit 10", len(events))
			}
			break
		}
		cursor = events[len(events)-1].Seq
	}
	if len(all) != 25 {
		t.Fatalf("paged %d events, want 25", len(all))
	}
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}

	for _, req := range []*bureauv1.ListPhysicianEventsRequest{{AfterSeq: -1}, {Limit: -5}} {
		if _, err := b.pub.ListPhysicianEvents(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", req, err)
		}
	}
	page, err = b.pub.ListPhysicianEvents(ctx, &bureauv1.ListPhysicianEventsRequest{AfterSeq: 40})
	if err != nil || len(page.GetEvents()) != 0 || page.GetLastSeq() != 25 {
		t.Fatalf("cursor past the feed: %v %v", page, err)
	}

	again, err := Open(ctx, Options{Dir: b.dir, Key: b.key, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := again.feed.snapshot(); len(got) != 25 || got[24] != b.srv.feed.snapshot()[24] {
		t.Fatalf("reopened feed: %d events", len(got))
	}
}

// An append cut short leaves a line without its newline; the bureau drops
// it (or completes a whole event) and keeps numbering from there. A damaged
// line in the middle stops it.
func TestEventFeedRepair(t *testing.T) {
	t.Parallel()
	line := `{"seq":%d,"physician_code":"D1","type":"RESTORED","date":"2026-01-02","source":{"batch":"","file":""}}`
	ok := func(seq int) string { return strings.Replace(line, "%d", string(rune('0'+seq)), 1) }
	for _, tc := range []struct {
		name     string
		content  string
		wantSeq  int64
		wantErr  string
		wantFile string
	}{
		{"torn last line", ok(1) + "\n" + ok(2) + "\n" + ok(3)[:20], 2, "", ok(1) + "\n" + ok(2) + "\n"},
		{"whole last line without newline", ok(1) + "\n" + ok(2), 2, "", ok(1) + "\n" + ok(2) + "\n"},
		{"blank lines", "\n" + ok(1) + "\n\n", 1, "", "\n" + ok(1) + "\n\n"},
		{"damaged middle line", ok(1) + "\n" + ok(2)[:20] + "\n" + ok(3) + "\n", 0, "line 2", ""},
		{"gap in seq", ok(1) + "\n" + ok(3) + "\n", 0, "seq 3 where 2 is next", ""},
		{"invalid event", strings.Replace(ok(1), "RESTORED", "PARDONED", 1) + "\n", 0, "line 1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "events.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), Options{Dir: dir, Key: testKey(1), Logger: testLogger(t)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); string(got) != tc.wantFile || s.LastEventSeq() != tc.wantSeq {
				t.Fatalf("feed %d events, file:\n%s", s.LastEventSeq(), got)
			}
			first, _, err := s.feed.append(tc.wantSeq, []knowledge.PhysicianEvent{{PhysicianCode: "D2", Type: "RESTORED", Date: "2026-02-03"}})
			if err != nil || first != tc.wantSeq+1 {
				t.Fatalf("append after repair: seq %d, %v", first, err)
			}
			if s2, err := Open(t.Context(), Options{Dir: dir, Key: testKey(1), Logger: testLogger(t)}); err != nil || s2.LastEventSeq() != tc.wantSeq+1 {
				t.Fatalf("reopen after append: %v", err)
			}
		})
	}
}

// Open refuses a directory it cannot serve exactly, saying which file.
func TestOpenRefusesBadDirectories(t *testing.T) {
	t.Parallel()
	key := testKey(5)
	r1, r2 := recs(30, "a"), recs(35, "b")
	sign := func(m knowledge.Manifest, k ed25519.PrivateKey) knowledge.Manifest {
		m, err := knowledge.SignManifest(m, k)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1, m2 := sign(manifest("v1", "", r1), key), sign(manifest("v2", "v1", r2), key)
	write := func(dir, name string, rel *wire.Release) {
		if err := wire.WriteFile(filepath.Join(dir, "releases", name), rel); err != nil {
			t.Fatal(err)
		}
	}
	order := func(dir, content string) {
		if err := os.WriteFile(filepath.Join(dir, "releases", "ORDER"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		setup   func(dir string)
		wantErr string
		order   []string // when it opens
	}{
		{"good: delta on full", func(dir string) {
			write(dir, "v1.rxrel", full(m1, r1))
			write(dir, "v2.rxrel", delta(m2, m1, r1, r2))
			order(dir, "v1\nv2\n")
		}, "", []string{"v1", "v2"}},
		{"unlisted release appended", func(dir string) {
			write(dir, "v1.rxrel", full(m1, r1))
			write(dir, "v2.rxrel", delta(m2, m1, r1, r2))
			order(dir, "v2\n")
		}, "", []string{"v2", "v1"}},
		{"damaged file", func(dir string) {
			write(dir, "v1.rxrel", full(m1, r1))
			p := filepath.Join(dir, "releases", "v1.rxrel")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-30], 0o644)
		}, "v1.rxrel", nil},
		{"file named after another version", func(dir string) {
			write(dir, "v7.rxrel", full(m1, r1))
		}, "must be named", nil},
		{"delta without its base", func(dir string) {
			write(dir, "v2.rxrel", delta(m2, m1, r1, r2))
		}, "v1.rxrel is missing", nil},
		{"ORDER names a missing release", func(dir string) {
			write(dir, "v1.rxrel", full(m1, r1))
			order(dir, "v1\nv3\n")
		}, "v3.rxrel is missing", nil},
		{"signed by another key", func(dir string) {
			write(dir, "v1.rxrel", full(sign(manifest("v1", "", r1), testKey(6)), r1))
		}, "does not verify against this bureau's key", nil},
		{"content does not match", func(dir string) {
			write(dir, "v1.rxrel", full(m1, r2))
		}, "does not match its manifest", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "releases"), 0o755)
			tc.setup(dir)
			s, err := Open(t.Context(), Options{Dir: dir, Key: key, Demo: true, Logger: testLogger(t)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.current().versions(); !slices.Equal(got, tc.order) {
				t.Fatalf("order %v, want %v", got, tc.order)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "releases", "ORDER")); string(b) != strings.Join(tc.order, "\n")+"\n" {
				t.Fatalf("ORDER file:\n%s", b)
			}
		})
	}
}

// Sidecars fetch and page while releases and events are published; every
// fetched release proves out and is one that was published.
func TestFetchWhilePublishing(t *testing.T) {
	t.Parallel()
	b := start(t, Options{})
	ctx := ctxT(t)
	prev := recs(200, "r0")
	prevM := manifest("r0", "", prev)
	mustPublish(t, b, full(prevM, prev))
	published := sync.Map{}
	published.Store("r0", true)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var fetched sync.Map
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rel, err := fetch(ctx, b.pub, &bureauv1.FetchReleaseRequest{BatchSize: 32})
				if err != nil {
					t.Error(err)
					return
				}
				got, err := rel.Apply("", "", nil)
				if err == nil {
					err = wire.Verify(rel.Manifest, got, pubOf(b.key))
				}
				if _, ok := published.Load(rel.Manifest.Version); err != nil || !ok {
					t.Errorf("fetched %s: %v (published: %v)", rel.Manifest.Version, err, ok)
					return
				}
				fetched.Store(rel.Manifest.Version, true)
				if _, err := b.pub.ListPhysicianEvents(ctx, &bureauv1.ListPhysicianEventsRequest{Limit: 5}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := 1; i <= 12; i++ {
		next := slices.Clone(prev)
		next[i] = knowledge.Record{Class: next[i].Class, Key: next[i].Key, Value: fmt.Appendf(nil, `{"round":%d}`, i)}
		v := "r" + string(rune('a'+i))
		m := manifest(v, prevM.Version, next)
		published.Store(v, true)
		rel := full(m, next)
		if i%2 == 0 {
			rel = delta(m, prevM, prev, next)
		}
		mustPublish(t, b, rel)
		if _, err := b.admin.PublishPhysicianEvents(ctx, eventsReq(t, b.key, int64(i-1),
			&bureauv1.PhysicianEvent{PhysicianCode: "D1", Type: bureauv1.PhysicianEventType_POINTS_ADDED, Date: "2026-10-01", Points: 1},
		)); err != nil {
			t.Fatal(err)
		}
		prev, prevM = next, m
	}
	close(stop)
	wg.Wait()
	if l, _ := b.srv.Latest(); l.Version != prevM.Version || b.srv.LastEventSeq() != 12 {
		t.Fatalf("latest %s, %d events", l.Version, b.srv.LastEventSeq())
	}
	n := 0
	fetched.Range(func(any, any) bool { n++; return true })
	if n < 2 {
		t.Logf("fetches saw only %d releases", n)
	}
}

// The public listener has health and reflection, not the admin service;
// Serve returns when its context ends.
func TestServeHealthReflectionAndStop(t *testing.T) {
	t.Parallel()
	b := start(t, Options{})
	ctx := ctxT(t)
	h, err := healthpb.NewHealthClient(b.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: bureauv1.BureauService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(b.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, bureauv1.BureauService_ServiceDesc.ServiceName) || slices.Contains(names, bureauv1.BureauAdminService_ServiceDesc.ServiceName) {
		t.Errorf("public listener offers %v", names)
	}
	_, err = bureauv1.NewBureauAdminServiceClient(b.conn).PublishPhysicianEvents(ctx, &bureauv1.PublishPhysicianEventsRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("admin call on the public listener: %v", err)
	}

	// Serve on its own, to see it return on cancel.
	cctx, cancel := context.WithCancel(context.Background())
	lis := mustListen(t)
	done := make(chan error, 1)
	go func() { done <- b.srv.Serve(cctx, lis, nil) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

// An event batch is published only with a publisher's signature over
// exactly these events after exactly this seq: a foreign key, a signature
// over other events, and a replay once the feed has moved on are refused,
// nothing appended. Another publisher key is accepted when configured.
func TestPublishEventsSignature(t *testing.T) {
	t.Parallel()
	other := testKey(4)
	b := start(t, Options{Publishers: []ed25519.PublicKey{defaultKey.Public().(ed25519.PublicKey), other.Public().(ed25519.PublicKey)}})
	ctx := ctxT(t)
	ev := func(points int32) *bureauv1.PhysicianEvent {
		return &bureauv1.PhysicianEvent{PhysicianCode: "D370800000001", Type: bureauv1.PhysicianEventType_POINTS_ADDED, Date: "2026-11-20", Points: points}
	}
	good := eventsReq(t, b.key, 0, ev(2), ev(3))
	tampered := eventsReq(t, b.key, 0, ev(2), ev(3))
	tampered.Events[1].Points = 12
	otherAfter := eventsReq(t, b.key, 0, ev(2), ev(3))
	otherAfter.AfterSeq = 5
	for _, tc := range []struct {
		name     string
		req      *bureauv1.PublishPhysicianEventsRequest
		code     codes.Code
		contains string
	}{
		{"unsigned", &bureauv1.PublishPhysicianEventsRequest{Events: good.Events}, codes.PermissionDenied, "not signed"},
		{"signed by a key that is not a publisher", eventsReq(t, testKey(9), 0, ev(2), ev(3)), codes.PermissionDenied, "not among the trusted keys"},
		{"an event changed after signing", tampered, codes.PermissionDenied, "did not sign this content"},
		{"after_seq changed after signing", otherAfter, codes.PermissionDenied, "did not sign this content"},
		{"a feed page's signature", func() *bureauv1.PublishPhysicianEventsRequest {
			r := eventsReq(t, b.key, 0, ev(2), ev(3))
			e1, _ := wire.EventFromProto(ev(2))
			e2, _ := wire.EventFromProto(ev(3))
			r.Signature, _ = knowledge.SignEventPage(0, []knowledge.PhysicianEvent{e1, e2}, b.key)
			return r
		}(), codes.PermissionDenied, "did not sign this content"},
		{"garbage signature", &bureauv1.PublishPhysicianEventsRequest{Events: good.Events, Signature: "ed25519:00:AAAA"}, codes.PermissionDenied, "base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.admin.PublishPhysicianEvents(ctx, tc.req)
			wantCode(t, err, tc.code, tc.contains)
			if b.srv.LastEventSeq() != 0 {
				t.Fatalf("refused batch appended: %d events", b.srv.LastEventSeq())
			}
		})
	}
	resp, err := b.admin.PublishPhysicianEvents(ctx, good)
	if err != nil || resp.GetFirstSeq() != 1 || resp.GetLastSeq() != 2 {
		t.Fatalf("signed batch: %v %v", resp, err)
	}
	// The same signed batch again: the feed has moved on.
	_, err = b.admin.PublishPhysicianEvents(ctx, good)
	wantCode(t, err, codes.FailedPrecondition, "published already")
	// The other publisher, after seq 2.
	if resp, err := b.admin.PublishPhysicianEvents(ctx, eventsReq(t, other, 2, ev(1))); err != nil || resp.GetFirstSeq() != 3 {
		t.Fatalf("second publisher: %v %v", resp, err)
	}
	if b.srv.LastEventSeq() != 3 {
		t.Fatalf("%d events, want 3", b.srv.LastEventSeq())
	}
}

package store_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// The mutual-recognition list and the outpatient-manageable conditions are
// record classes like every other: a signed release carrying them survives
// the wire and the store, and a delta that adds a recognition item applies.
func TestEncounterClassesThroughReleaseAndDelta(t *testing.T) {
	ctx := context.Background()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	created := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	src := knowledge.Source{Batch: "演示数据", File: "exam-recognition.csv", Row: 2}
	base := &knowledge.Content{
		Recognition: []knowledge.RecognitionItem{
			{Code: "002501010150000", Name: "血细胞分析(血常规)", WindowDays: 7, Scope: "医联体内互认", Source: src},
		},
		OutpatientConditions: []knowledge.OutpatientCondition{
			{Prefix: "J06", Name: "急性上呼吸道感染", Source: knowledge.Source{Batch: "演示数据", File: "outpatient-manageable.csv", Row: 5}},
			{Prefix: "M54", Name: "背痛"},
		},
	}
	sign := func(c *knowledge.Content, version, parent string) (knowledge.Manifest, []knowledge.Record) {
		t.Helper()
		m, recs, err := knowledge.BuildRelease("t", version, parent, created, c)
		if err != nil {
			t.Fatal(err)
		}
		if m, err = knowledge.SignManifest(m, key); err != nil {
			t.Fatal(err)
		}
		return m, recs
	}
	baseM, baseRecs := sign(base, "v1", "")
	if baseM.Counts[knowledge.ClassRecognitionItem] != 1 || baseM.Counts[knowledge.ClassOutpatientCondition] != 2 {
		t.Fatalf("manifest counts %v", baseM.Counts)
	}

	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Full release over the wire, verified, stored, activated, read back.
	full := receive(t, &wire.Release{Manifest: baseM, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(baseRecs)})
	got, err := full.Apply("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.Verify(full.Manifest, got, trusted); err != nil {
		t.Fatal(err)
	}
	if err := st.PutRelease(ctx, full.Manifest, got); err != nil {
		t.Fatal(err)
	}
	if err := st.Activate(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	back := readContent(t, st, "v1")
	if !reflect.DeepEqual(back.Recognition, base.Recognition) || !reflect.DeepEqual(back.OutpatientConditions, base.OutpatientConditions) {
		t.Fatalf("read back %+v / %+v", back.Recognition, back.OutpatientConditions)
	}

	// A delta adding the CT item (listed in key order, as records read back).
	target := *base
	target.Recognition = append([]knowledge.RecognitionItem{
		{Code: "002103000010000", Name: "X线计算机体层(CT)平扫", WindowDays: 30, Scope: "省内互认", Source: src}}, base.Recognition...)
	targetM, targetRecs := sign(&target, "v2", "v1")
	ops := wire.Diff(baseRecs, targetRecs)
	if len(ops) != 1 || ops[0].Kind != bureauv1.OpKind_OP_KIND_ADD || ops[0].Record.Class != knowledge.ClassRecognitionItem {
		t.Fatalf("delta ops %+v, want one ADD of a recognition_item", ops)
	}
	delta := receive(t, &wire.Release{Manifest: targetM, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: "v1", BaseSHA256: baseM.ContentSHA256, Ops: ops})
	stored, err := st.Records(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	applied, err := delta.Apply("v1", baseM.ContentSHA256, stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.Verify(delta.Manifest, applied, trusted); err != nil {
		t.Fatal(err)
	}
	if err := st.PutRelease(ctx, delta.Manifest, applied); err != nil {
		t.Fatal(err)
	}
	if err := st.Activate(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if m, ok, err := st.Active(ctx); err != nil || !ok || m.Version != "v2" || m.Counts[knowledge.ClassRecognitionItem] != 2 {
		t.Fatalf("active %+v %v %v", m, ok, err)
	}
	if back := readContent(t, st, "v2"); !reflect.DeepEqual(back.Recognition, target.Recognition) || len(back.OutpatientConditions) != 2 {
		t.Fatalf("after delta %+v", back.Recognition)
	}
	if err := st.Verify(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, rel *wire.Release) *wire.Release {
	t.Helper()
	var chunks []*bureauv1.ReleaseChunk
	if err := wire.Send(rel, 2, func(c *bureauv1.ReleaseChunk) error { chunks = append(chunks, c); return nil }); err != nil {
		t.Fatal(err)
	}
	i := 0
	got, err := wire.Receive(func() (*bureauv1.ReleaseChunk, error) {
		if i == len(chunks) {
			return nil, io.EOF
		}
		i++
		return chunks[i-1], nil
	}, wire.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func readContent(t *testing.T, st *store.Store, version string) *knowledge.Content {
	t.Helper()
	recs, err := st.Records(context.Background(), version)
	if err != nil {
		t.Fatal(err)
	}
	c, err := knowledge.ContentFromRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

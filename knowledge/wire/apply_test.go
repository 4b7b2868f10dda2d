package wire

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

// TestHashRecordsIsKnowledgeHash pins the yielding hash to
// knowledge.HashRecords, which manifests are signed over.
func TestHashRecordsIsKnowledgeHash(t *testing.T) {
	for _, n := range []int{0, 1, yield.Batch, 3*yield.Batch + 5} {
		recs := records(n, "h")
		recs = append(recs, knowledge.Record{Class: "zz", Key: "", Value: nil}, knowledge.Record{Class: "zz", Key: "k\x00x", Value: []byte{}})
		if got, want := hashRecords(recs), knowledge.HashRecords(recs); got != want {
			t.Fatalf("n=%d: hashRecords %s, knowledge.HashRecords %s", n, got, want)
		}
	}
}

// TestApplyOpsInAnyOrder: a release's operations apply in record order
// whether the stream sends them sorted (used as they are, not modified) or
// not (sorted on a copy); both give the release, across many yield
// intervals, and a duplicate is refused either way.
func TestApplyOpsInAnyOrder(t *testing.T) {
	key := testKey(t, 1)
	base := records(5*yield.Batch+3, "a")
	baseM := signed(t, "v1", "", base, key)
	target := slices.Clone(base[100:])
	for i := 0; i < len(target); i += 7 {
		target[i].Value = []byte(`{"changed":true}`)
	}
	target = append(target, knowledge.Record{Class: knowledge.ClassInteraction, Key: "A+B", Value: []byte(`{}`)})
	targetM := signed(t, "v2", "v1", target, key)
	sorted := Diff(base, target)
	shuffled := slices.Clone(sorted)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	dup := append(slices.Clone(sorted), sorted[len(sorted)/2])
	for _, tc := range []struct {
		name string
		kind bureauv1.ReleaseKind
		ops  []Op
		m    knowledge.Manifest
		want []knowledge.Record
		err  error
	}{
		{name: "delta, sorted", kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, ops: sorted, m: targetM, want: target},
		{name: "delta, shuffled", kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, ops: shuffled, m: targetM, want: target},
		{name: "delta, duplicate", kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, ops: dup, m: targetM, err: ErrMalformed},
		{name: "full, shuffled", kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, ops: func() []Op {
			ops := FullOps(target)
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
			return ops
		}(), m: targetM, want: target},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.ops)
			rel := &Release{Manifest: tc.m, Kind: tc.kind, BaseVersion: "v1", BaseSHA256: baseM.ContentSHA256, Ops: tc.ops}
			got, err := rel.Apply("v1", baseM.ContentSHA256, base)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Apply = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.want, func(a, b knowledge.Record) bool {
				return a.Class == b.Class && a.Key == b.Key && string(a.Value) == string(b.Value)
			}) {
				t.Fatalf("Apply: %d records, not the release's %d", len(got), len(tc.want))
			}
			if !slices.EqualFunc(rel.Ops, before, func(a, b Op) bool { return a.Kind == b.Kind && a.Record.Key == b.Record.Key }) {
				t.Fatal("Apply reordered the release's operations")
			}
		})
	}
}

// Changes splits Diff: what target adds or replaces, with its values, and
// what it withdraws from base; an unchanged record is in neither.
func TestChanges(t *testing.T) {
	base := records(6, "a")
	target := slices.Clone(base[1:]) // base[0] withdrawn
	target[1] = knowledge.Record{Class: target[1].Class, Key: target[1].Key, Value: []byte(`{"changed":true}`)}
	target = append(target, knowledge.Record{Class: "zz", Key: "new", Value: []byte(`{}`)})
	changed, withdrawn := Changes(base, target)
	if len(withdrawn) != 1 || withdrawn[0].Class != base[0].Class || withdrawn[0].Key != base[0].Key {
		t.Errorf("withdrawn %v, want %s %q", withdrawn, base[0].Class, base[0].Key)
	}
	if len(changed) != 2 || changed[0].Key != target[1].Key || string(changed[0].Value) != `{"changed":true}` || changed[1].Key != "new" {
		t.Errorf("changed %v, want the replaced %q and the added \"new\"", changed, target[1].Key)
	}
	if c, w := Changes(base, base); len(c)+len(w) != 0 {
		t.Errorf("no change: %v %v", c, w)
	}
}

package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
)

func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func records(n int, tag string) []knowledge.Record {
	out := make([]knowledge.Record, n)
	for i := range out {
		out[i] = knowledge.Record{Class: knowledge.ClassDrug, Key: fmt.Sprintf("K%05d", i), Value: []byte(fmt.Sprintf(`{"v":"%s%d"}`, tag, i))}
	}
	return out
}

func signed(t testing.TB, version, parent string, recs []knowledge.Record, key ed25519.PrivateKey) knowledge.Manifest {
	t.Helper()
	m := knowledge.NewManifest(version, parent, time.Date(2026, 11, 1, 8, 0, 0, 123456789, time.UTC), recs)
	m.Publisher = "test bureau"
	m, err := knowledge.SignManifest(m, key)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// chunks collects what Send emits, and replays it as a recv function.
func chunks(t testing.TB, rel *Release, batch int) []*bureauv1.ReleaseChunk {
	t.Helper()
	var out []*bureauv1.ReleaseChunk
	// Clone: chunks share value bytes with the records, and tests mutate them.
	if err := Send(rel, batch, func(c *bureauv1.ReleaseChunk) error {
		out = append(out, proto.Clone(c).(*bureauv1.ReleaseChunk))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func replay(cs []*bureauv1.ReleaseChunk) func() (*bureauv1.ReleaseChunk, error) {
	i := 0
	return func() (*bureauv1.ReleaseChunk, error) {
		if i == len(cs) {
			return nil, io.EOF
		}
		i++
		return cs[i-1], nil
	}
}

func TestManifestRoundTripKeepsSignature(t *testing.T) {
	key := testKey(t, 1)
	m := signed(t, "v2", "v1", records(3, "a"), key)
	got, err := ManifestFromProto(ManifestToProto(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := knowledge.VerifyManifest(got, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err != nil {
		t.Fatalf("signature does not survive the wire: %v", err)
	}
}

// A delta computed by Diff, sent, received and applied to the base gives
// exactly the target, which then verifies.
func TestDeltaRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	base := records(1000, "a")
	baseM := signed(t, "v1", "", base, key)
	target := append([]knowledge.Record(nil), base[:900]...) // delete 100
	for i := 0; i < 50; i++ {                                // replace 50
		target[i*3].Value = []byte(`{"changed":true}`)
	}
	target = append(target, knowledge.Record{Class: knowledge.ClassInteraction, Key: "A+B", Value: []byte(`{}`)}) // add 1
	targetM := signed(t, "v2", "v1", target, key)

	ops := Diff(base, target)
	counts := map[bureauv1.OpKind]int{}
	for _, op := range ops {
		counts[op.Kind]++
	}
	if counts[bureauv1.OpKind_OP_KIND_DELETE] != 100 || counts[bureauv1.OpKind_OP_KIND_REPLACE] != 50 || counts[bureauv1.OpKind_OP_KIND_ADD] != 1 {
		t.Fatalf("diff counts %v, want 100 deletes, 50 replaces, 1 add", counts)
	}
	rel := &Release{Manifest: targetM, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: "v1", BaseSHA256: baseM.ContentSHA256, Ops: ops}
	got, err := Receive(replay(chunks(t, rel, 7)), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	out, err := got.Apply("v1", baseM.ContentSHA256, base)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(got.Manifest, out, trusted); err != nil {
		t.Fatal(err)
	}
}

func TestReceiveAndApplyRejects(t *testing.T) {
	key := testKey(t, 1)
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	base := records(50, "a")
	baseM := signed(t, "v1", "", base, key)
	target := records(60, "b")
	targetM := signed(t, "v2", "v1", target, key)
	delta := func() *Release {
		return &Release{Manifest: targetM, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: "v1", BaseSHA256: baseM.ContentSHA256, Ops: Diff(base, target)}
	}
	cases := []struct {
		name   string
		mutate func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk
		base   []knowledge.Record
		baseV  string
		keys   []ed25519.PublicKey
		want   error
	}{
		{"truncated before trailer", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk { return cs[:len(cs)-1] }, base, "v1", trusted, ErrTruncated},
		{"batch lost", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk { return append(cs[:1:1], cs[2:]...) }, base, "v1", trusted, ErrTruncated},
		{"one byte of a value changed", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk {
			v := cs[1].GetBatch().Ops[0].Value
			v[len(v)-2] ^= 1
			return cs
		}, base, "v1", trusted, ErrTruncated},
		{"value changed and trailer recomputed", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk {
			v := cs[1].GetBatch().Ops[0].Value
			v[len(v)-2] ^= 1
			h := newOpsHasher()
			for _, c := range cs[1 : len(cs)-1] {
				for _, op := range c.GetBatch().GetOps() {
					h.add(op)
				}
			}
			cs[len(cs)-1].GetTrailer().OpsSha256 = h.sum()
			return cs
		}, base, "v1", trusted, ErrContent},
		{"no header", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk { return cs[1:] }, base, "v1", trusted, ErrMalformed},
		{"data after trailer", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk { return append(cs, cs[1]) }, base, "v1", trusted, ErrMalformed},
		{"wrong parent", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk { return cs }, records(50, "z"), "v0", trusted, ErrBase},
		{"wrong key", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk { return cs }, base, "v1",
			[]ed25519.PublicKey{testKey(t, 2).Public().(ed25519.PublicKey)}, knowledge.ErrSignature},
		{"manifest count edited", func(cs []*bureauv1.ReleaseChunk) []*bureauv1.ReleaseChunk {
			cs[0].GetHeader().Manifest.Description = "edited"
			return cs
		}, base, "v1", trusted, knowledge.ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.mutate(chunks(t, delta(), 16))
			rel, err := Receive(replay(cs), DefaultLimits())
			if err == nil {
				var out []knowledge.Record
				baseSHA := knowledge.HashRecords(tc.base)
				out, err = rel.Apply(tc.baseV, baseSHA, tc.base)
				if err == nil {
					err = Verify(rel.Manifest, out, tc.keys)
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestApplyRejectsContradictingOps(t *testing.T) {
	base := records(3, "a")
	sha := knowledge.HashRecords(base)
	for _, tc := range []struct {
		name string
		op   Op
	}{
		{"add existing", Op{Kind: bureauv1.OpKind_OP_KIND_ADD, Record: base[0]}},
		{"replace missing", Op{Kind: bureauv1.OpKind_OP_KIND_REPLACE, Record: knowledge.Record{Class: "drug", Key: "nope", Value: []byte("{}")}}},
		{"delete missing", Op{Kind: bureauv1.OpKind_OP_KIND_DELETE, Record: knowledge.Record{Class: "drug", Key: "nope"}}},
	} {
		rel := &Release{Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: "v1", BaseSHA256: sha, Ops: []Op{tc.op}}
		if _, err := rel.Apply("v1", sha, base); !errors.Is(err, ErrBase) {
			t.Errorf("%s: got %v, want ErrBase", tc.name, err)
		}
	}
	dup := &Release{Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: FullOps([]knowledge.Record{base[0], base[0]})}
	if _, err := dup.Apply("", "", nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("duplicate keys: got %v, want ErrMalformed", err)
	}
}

func TestFileRoundTripAndDamage(t *testing.T) {
	key := testKey(t, 1)
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	recs := records(2000, "a")
	rel := &Release{Manifest: signed(t, "v1", "", recs, key), Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: FullOps(recs)}
	var buf bytes.Buffer
	if err := Encode(&buf, rel); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	got, err := Decode(bytes.NewReader(good), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	out, err := got.Apply("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(got.Manifest, out, trusted); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 5, len(good) / 2, len(good) - 1} {
		if _, err := Decode(bytes.NewReader(good[:cut]), DefaultLimits()); err == nil {
			t.Errorf("file cut at %d of %d bytes decoded", cut, len(good))
		}
	}
	// Every single flipped byte in a sample is caught somewhere before a
	// write would happen.
	for _, pos := range []int{8, 40, 200, len(good) / 3, len(good) / 2, len(good) - 40} {
		bad := bytes.Clone(good)
		bad[pos] ^= 0x01
		rel, err := Decode(bytes.NewReader(bad), DefaultLimits())
		if err == nil {
			var out []knowledge.Record
			if out, err = rel.Apply("", "", nil); err == nil {
				err = Verify(rel.Manifest, out, trusted)
			}
		}
		if err == nil {
			t.Errorf("byte %d flipped: accepted", pos)
		}
	}
}

func FuzzDecode(f *testing.F) {
	key := testKey(f, 1)
	recs := records(20, "a")
	rel := &Release{Manifest: signed(f, "v1", "", recs, key), Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: FullOps(recs)}
	var buf bytes.Buffer
	if err := Encode(&buf, rel); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(fileMagic))
	f.Add([]byte("RXGREL1\n\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxOps: 1000, MaxValueBytes: 4096, MaxKeyBytes: 128}
		rel, err := Decode(bytes.NewReader(b), lim)
		if err != nil {
			return
		}
		if len(rel.Ops) > lim.MaxOps {
			t.Fatalf("%d ops past the limit", len(rel.Ops))
		}
		_, _ = rel.Apply(rel.BaseVersion, rel.BaseSHA256, nil)
	})
}

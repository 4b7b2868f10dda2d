package decisionlog

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestDecodeValue(t *testing.T) {
	d := want(realistic(t0, 1, 10, 2, 10), "sidecar-1")
	plain, err := proto.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	huge := append([]byte{valueVersionS2}, binary.AppendUvarint(nil, maxDecodedValue+1)...)
	for _, tc := range []struct {
		name string
		v    []byte
		ok   bool
	}{
		{"plain (written before S2)", append([]byte{valueVersion}, plain...), true},
		{"s2", append([]byte{valueVersionS2}, s2.Encode(nil, plain)...), true},
		{"empty", nil, false},
		{"unknown version", append([]byte{9}, plain...), false},
		{"s2 cut short", append([]byte{valueVersionS2}, s2.Encode(nil, plain)[:100]...), false},
		{"s2 of a non-proto", append([]byte{valueVersionS2}, s2.Encode(nil, []byte{0xff, 0xff, 0xff})...), false},
		{"s2 claiming more than maxDecodedValue", huge, false},
		{"s2 bad header", []byte{valueVersionS2, 0xff}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got rxguardv1.Decision
			err := decodeValue(tc.v, &got)
			switch {
			case tc.ok && err != nil:
				t.Fatal(err)
			case tc.ok && !proto.Equal(&got, d):
				t.Fatal("decoded decision differs from the stored one")
			case !tc.ok && !errors.Is(err, errCorrupt):
				t.Fatalf("err = %v, want errCorrupt", err)
			}
		})
	}
}

// FuzzDecodeValue: any stored bytes decode or fail with errCorrupt, never
// panic or allocate past maxDecodedValue; what decodes re-encodes to a
// value that decodes to the same decision.
func FuzzDecodeValue(f *testing.F) {
	// A small decision: the fuzzer mutates it far faster than a
	// realistic one (TestDecodeValue has that).
	plain, _ := proto.Marshal(&rxguardv1.Decision{DecisionId: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Time: "2026-11-22T10:00:00+08:00", SidecarId: "s1",
		Response: &rxguardv1.CheckOrdersResponse{Verdict: rxguardv1.Verdict_VERDICT_WARN, Findings: []*rxguardv1.Finding{{FindingId: "x-1", RuleType: "DRUG_GENDER", Message: "限女性"}}}})
	f.Add(append([]byte{valueVersion}, plain...))
	f.Add(append([]byte{valueVersionS2}, s2.Encode(nil, plain)...))
	f.Add([]byte{valueVersionS2, 0})
	f.Add([]byte{valueVersionS2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		var d rxguardv1.Decision
		if err := decodeValue(v, &d); err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("err %v does not wrap errCorrupt", err)
			}
			return
		}
		again, err := proto.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		var back rxguardv1.Decision
		if err := decodeValue(append([]byte{valueVersionS2}, s2.Encode(nil, again)...), &back); err != nil || !proto.Equal(&back, &d) {
			t.Fatalf("re-encoded value: %v", err)
		}
	})
}

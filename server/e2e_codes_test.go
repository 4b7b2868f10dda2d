package server

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// The hardening cases of the README's own example: a HIS that pads the
// code (fixed-width CHAR column), lower-cases it, or sends a truncated code
// with the drug's name got PASS with no findings. Over real gRPC each must
// BLOCK, and the evidence must say why the code was read as it was.
func TestE2ECodeVariantsStillBlock(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	cases := []struct {
		name, code   string
		wantEvidence string // in the DRUG_GENDER evidence
		wantUnknown  bool
	}{
		{"as published", "ZD03AAA0043010100166", "第一批", false},
		{"trailing space", "ZD03AAA0043010100166 ", `收到"ZD03AAA0043010100166 "`, false},
		{"lower case and tab", "\tzd03aaa0043010100166", "编码已规范化", false},
		{"ideographic space", "ZD03AAA0043010100166\u3000", "编码已规范化", false},
		{"truncated code with the drug's name", "ZD03AAA", "按药品通用名“艾附暖宫丸”匹配", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := exampleRequest(t, "male-aifu-nuangong.json")
			req.Orders[0].ItemCode = c.code
			resp, err := ts.client.CheckOrders(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			f := byType(resp)["DRUG_GENDER"]
			if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || f == nil {
				t.Fatalf("verdict %v findings %v, want BLOCK with DRUG_GENDER", resp.Verdict, resp.Findings)
			}
			if !strings.Contains(f.Evidence, c.wantEvidence) {
				t.Errorf("evidence %q lacks %q", f.Evidence, c.wantEvidence)
			}
			if got := byType(resp)["UNKNOWN_ITEM"] != nil; got != c.wantUnknown {
				t.Errorf("UNKNOWN_ITEM = %v, want %v", got, c.wantUnknown)
			}
		})
	}
}

// A suspended physician whose code arrives padded or in lower case is
// blocked, not reported as unregistered.
func TestE2EPhysicianCodeVariants(t *testing.T) {
	ts := startServer(t, engine.Config{})
	ctx := context.Background()
	for _, code := range []string{"D370800000003 ", "d370800000003", "\u3000D370800000003"} {
		req := clinicalRequest(nil, [2]string{"XA10BAD9029A001010199929", "二甲双胍"})
		req.Physician.Code = code
		resp, err := ts.client.CheckOrders(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		f := byType(resp)["PHYSICIAN_QUALIFICATION"]
		if resp.Verdict != rxguardv1.Verdict_VERDICT_BLOCK || f == nil || f.Action != rxguardv1.Action_ACTION_BLOCK ||
			resp.PhysicianStatus.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED {
			t.Errorf("%q: verdict %v finding %v status %v", code, resp.Verdict, f, resp.PhysicianStatus)
		}
		if f != nil && !strings.Contains(f.Evidence, "physician.code") {
			t.Errorf("%q: evidence does not say the code was normalised: %q", code, f.Evidence)
		}
		st, err := ts.client.GetPhysicianStatus(ctx, &rxguardv1.GetPhysicianStatusRequest{PhysicianCode: code, At: "2026-11-22T10:00:00+08:00"})
		if err != nil || st.Status.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED || st.PhysicianCode != "D370800000003" {
			t.Errorf("GetPhysicianStatus(%q) = %v, %v", code, st, err)
		}
	}
}

// rawCodec sends pre-encoded bytes, so a test can put invalid UTF-8 on
// the wire (the Go protobuf encoder refuses to); into a *[]byte it
// receives the bytes as they came.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = data.Materialize()
		return nil
	}
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

var _ encoding.CodecV2 = rawCodec{}

// Invalid UTF-8 on the wire is InvalidArgument naming the field (with the
// standard codec it was a bare Internal: "grpc: error unmarshalling
// request").
func TestE2EInvalidUTF8IsInvalidArgument(t *testing.T) {
	ts := startServer(t, engine.Config{})
	req := exampleRequest(t, "male-aifu-nuangong.json")
	req.Orders[0].ItemName = "@@NAME@@"
	good, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the marker for GBK bytes of 艾附 (not UTF-8), keeping lengths
	// consistent by re-encoding the order line's field.
	bad := replaceString(t, good, "@@NAME@@", "\xb0\xac\xb8\xbd")
	var out rxguardv1.CheckOrdersResponse
	err = ts.conn.Invoke(context.Background(), "/rxguard.v1.GuardService/CheckOrders", &bad, &out, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("code %v (%v), want InvalidArgument", status.Code(err), err)
	}
	vs := validate.Violations(err)
	if len(vs) != 1 || vs[0].Field != "orders[0].item_name" {
		t.Errorf("violations %v, want one on orders[0].item_name", vs)
	}
}

// replaceString rewrites, in the encoded CheckOrdersRequest b, the order
// line whose item_name is marker so that the name becomes repl (raw bytes).
func replaceString(t *testing.T, b []byte, marker, repl string) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if n < 0 || m < 0 {
			t.Fatal("bad wire data")
		}
		field := b[:n+m]
		if num == 8 && typ == protowire.BytesType { // orders
			v, _ := protowire.ConsumeBytes(b[n:])
			var line []byte
			for len(v) > 0 {
				ln, lt, k := protowire.ConsumeTag(v)
				lm := protowire.ConsumeFieldValue(ln, lt, v[k:])
				s, _ := protowire.ConsumeBytes(v[k:])
				if lt == protowire.BytesType && string(s) == marker {
					line = protowire.AppendTag(line, ln, lt)
					line = protowire.AppendString(line, repl)
				} else {
					line = append(line, v[:k+lm]...)
				}
				v = v[k+lm:]
			}
			field = protowire.AppendBytes(protowire.AppendTag(nil, num, typ), line)
		}
		out = append(out, field...)
		b = b[n+m:]
	}
	return out
}

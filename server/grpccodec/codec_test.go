package grpccodec

import (
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// encoded is a CheckOrdersRequest with one order line whose item_name is
// name (raw bytes, possibly not UTF-8), built by hand because the protobuf
// encoder refuses invalid strings.
func encoded(requestID, name string) []byte {
	var line []byte
	line = protowire.AppendTag(line, 1, protowire.BytesType)
	line = protowire.AppendString(line, "1")
	line = protowire.AppendTag(line, 3, protowire.BytesType) // item_name
	line = protowire.AppendString(line, name)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType) // request_id
	b = protowire.AppendString(b, requestID)
	b = protowire.AppendTag(b, 8, protowire.BytesType) // orders
	b = protowire.AppendBytes(b, line)
	return b
}

func TestUnmarshalRepairsInvalidUTF8(t *testing.T) {
	c := New()
	for _, tc := range []struct {
		id, name         string
		wantID, wantName string
	}{
		{"r1", "艾附暖宫丸", "r1", "艾附暖宫丸"},
		{"r\xff", "ok", "r\uFFFD", "ok"},
		{"r1", "\xb0\xac\xb8\xbd", "r1", "\uFFFD"},
		{"r1", "头孢\xe5", "r1", "头孢\uFFFD"},
	} {
		var req rxguardv1.CheckOrdersRequest
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(encoded(tc.id, tc.name))}, &req); err != nil {
			t.Fatalf("%q/%q: %v", tc.id, tc.name, err)
		}
		if req.RequestId != tc.wantID || len(req.Orders) != 1 || req.Orders[0].ItemName != tc.wantName || req.Orders[0].LineId != "1" {
			t.Errorf("%q/%q: decoded %v", tc.id, tc.name, &req)
		}
	}
	// Damage that is not about UTF-8 stays an error.
	var req rxguardv1.CheckOrdersRequest
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0x05, 'a'})}, &req); err == nil {
		t.Error("truncated message decoded")
	}
}

func FuzzRepairUTF8(f *testing.F) {
	f.Add(encoded("r1", "\xb0\xac"))
	f.Add(encoded(strings.Repeat("x", 300), "ok"))
	f.Add([]byte{0x42, 0x80})
	md := (&rxguardv1.CheckOrdersRequest{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, b []byte) {
		out, changed, err := RepairUTF8(b, md)
		var req rxguardv1.CheckOrdersRequest
		if proto.Unmarshal(b, &req) == nil && changed {
			t.Fatalf("a valid message was changed: %x → %x", b, out)
		}
		if err == nil && changed {
			if err := proto.Unmarshal(out, &rxguardv1.CheckOrdersRequest{}); err != nil && strings.Contains(err.Error(), "UTF-8") {
				t.Fatalf("repaired message still has invalid UTF-8: %v", err)
			}
		}
	})
}

// A Received request keeps a copy of its bytes (gRPC reuses its buffers
// once Unmarshal returns) and is decoded like any other, repair included.
func TestReceivedKeepsTheBytesAsTheyCame(t *testing.T) {
	c := New()
	for _, name := range []string{"艾附暖宫丸", "\xb0\xac\xb8\xbd"} {
		in := encoded("r1", name)
		buf := append([]byte(nil), in...)
		r := &Received{Msg: new(rxguardv1.CheckOrdersRequest)}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(buf[:5]), mem.SliceBuffer(buf[5:])}, r); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		clear(buf) // what gRPC may do with its buffers afterwards
		if string(r.Wire) != string(in) {
			t.Errorf("%q: Wire = %x, received %x", name, r.Wire, in)
		}
		req := r.Msg.(*rxguardv1.CheckOrdersRequest)
		if req.RequestId != "r1" || len(req.Orders) != 1 || !strings.Contains(req.Orders[0].ItemName, map[bool]string{true: "艾", false: "\uFFFD"}[name == "艾附暖宫丸"]) {
			t.Errorf("%q: decoded %v", name, req)
		}
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0x05, 'a'})}, &Received{Msg: new(rxguardv1.CheckOrdersRequest)}); err == nil {
		t.Error("truncated message decoded into a Received")
	}
}

func TestEncodedIsSentAsItIs(t *testing.T) {
	resp := &rxguardv1.CheckOrdersResponse{RequestId: "r1", DecisionId: "d1", Verdict: rxguardv1.Verdict_VERDICT_WARN}
	wire, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	out, err := New().Marshal(&Encoded{Wire: wire})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Materialize(); string(got) != string(wire) {
		t.Errorf("Marshal(Encoded) = %x, want %x", got, wire)
	}
	// Anything else is encoded by the standard codec.
	out, err = New().Marshal(resp)
	if err != nil || string(out.Materialize()) != string(wire) {
		t.Errorf("Marshal(message) = %x, %v", out.Materialize(), err)
	}
}

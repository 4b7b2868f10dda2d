// Package grpccodec is the sidecar's gRPC codec: the standard protobuf
// codec, except that a request whose string fields carry invalid UTF-8 is
// still decoded — those bytes replaced by U+FFFD — so that validation can
// answer InvalidArgument naming the field. With the standard codec, gRPC
// turns the decode error into a bare Internal, which a HIS developer reads
// as "the sidecar is broken", not "column X of my request is mis-encoded"
// (typically GBK text sent as if it were UTF-8).
//
// Validation refuses U+FFFD in every string field (server/validate), so a
// repaired request is never judged.
package grpccodec

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the standard codec
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// New returns the codec; install it with grpc.ForceServerCodecV2.
func New() encoding.CodecV2 {
	return codec{base: encoding.GetCodecV2("proto")}
}

type codec struct{ base encoding.CodecV2 }

func (codec) Name() string { return "proto" }

// Received is what a handler decodes a request into when it also needs
// the request's bytes as they crossed the wire (the decision record keeps
// them): Unmarshal decodes into Msg and sets Wire to a copy of the bytes.
type Received struct {
	Msg  proto.Message
	Wire []byte
}

// Encoded is a response a handler has encoded itself (its bytes also go
// to the decision record): Marshal sends Wire as it is.
type Encoded struct {
	Wire []byte
}

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*Encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(e.Wire)}, nil
	}
	return c.base.Marshal(v)
}

// Unmarshal decodes with the standard codec; only when that fails does it
// look for invalid UTF-8 in string fields (the common path is unchanged).
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*Received); ok {
		r.Wire = data.Materialize()
		return c.unmarshal(mem.BufferSlice{mem.SliceBuffer(r.Wire)}, r.Msg)
	}
	return c.unmarshal(data, v)
}

func (c codec) unmarshal(data mem.BufferSlice, v any) error {
	err := c.base.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	fixed, changed, rerr := RepairUTF8(data.Materialize(), m.ProtoReflect().Descriptor())
	if rerr != nil || !changed {
		return err
	}
	proto.Reset(m)
	if err2 := proto.Unmarshal(fixed, m); err2 != nil {
		return err
	}
	return nil
}

// maxDepth bounds message nesting while repairing (protobuf's own decoder
// stops at 10000; rxguard's messages nest a few levels).
const maxDepth = 64

var errTooDeep = errors.New("message nested too deeply")

// RepairUTF8 returns the wire-format message b with every string field
// (per md) that is not valid UTF-8 rewritten with U+FFFD in place of the
// invalid bytes, and whether anything changed. Other fields are copied as
// they are. A malformed message is an error.
func RepairUTF8(b []byte, md protoreflect.MessageDescriptor) ([]byte, bool, error) {
	return repair(b, md, 0)
}

func repair(b []byte, md protoreflect.MessageDescriptor, depth int) ([]byte, bool, error) {
	if depth > maxDepth {
		return nil, false, errTooDeep
	}
	out := make([]byte, 0, len(b)+8)
	changed := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false, protowire.ParseError(n)
		}
		tag, rest := b[:n], b[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, rest)
			if m < 0 {
				return nil, false, protowire.ParseError(m)
			}
			out = append(out, b[:n+m]...)
			b = rest[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(rest)
		if m < 0 {
			return nil, false, protowire.ParseError(m)
		}
		b = rest[m:]
		if fd := md.Fields().ByNumber(num); fd != nil {
			switch fd.Kind() {
			case protoreflect.StringKind:
				if !utf8.Valid(v) {
					v, changed = []byte(strings.ToValidUTF8(string(v), "\uFFFD")), true
				}
			case protoreflect.MessageKind:
				sub, c, err := repair(v, fd.Message(), depth+1)
				if err != nil {
					return nil, false, fmt.Errorf("field %s: %w", fd.Name(), err)
				}
				if c {
					v, changed = sub, true
				}
			}
		}
		out = append(out, tag...)
		out = protowire.AppendBytes(out, v)
	}
	return out, changed, nil
}

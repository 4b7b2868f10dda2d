package validate

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// fill sets every field of m, recursively, to a value with the longest
// encoding: long strings, negative int32s (10-byte varints), three list
// elements, and an unknown field. A string or message field that sizeBound
// does not count then shows up as proto.Size exceeding the bound, so adding
// one to the proto fails this test until size.go counts it.
func fill(m protoreflect.Message) {
	long := strings.Repeat("x", 10000) // dwarfs all the slop in the bound
	fs := m.Descriptor().Fields()
	for i := range fs.Len() {
		fd := fs.Get(i)
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			l := m.Mutable(fd).List()
			for range 3 {
				e := l.NewElement()
				fill(e.Message())
				l.Append(e)
			}
		case fd.IsList() || fd.IsMap():
			panic("fill: add support for " + string(fd.FullName()))
		case fd.Kind() == protoreflect.MessageKind:
			fill(m.Mutable(fd).Message())
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(long))
		case fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte(long)))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(-1))
		case fd.Kind() == protoreflect.Int32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(math.MinInt32))
		case fd.Kind() == protoreflect.DoubleKind:
			m.Set(fd, protoreflect.ValueOfFloat64(math.MaxFloat64))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		default:
			panic("fill: add support for " + fd.Kind().String())
		}
	}
	unknown := protowire.AppendTag(nil, 1000, protowire.BytesType)
	m.SetUnknown(protowire.AppendBytes(unknown, []byte(long)))
}

func TestSizeBoundCoversEveryField(t *testing.T) {
	req := new(rxguardv1.CheckOrdersRequest)
	fill(req.ProtoReflect())
	size, bound := proto.Size(req), sizeBound(req, math.MaxInt)
	if bound < size {
		t.Fatalf("sizeBound = %d < proto.Size = %d: a string or message field is not counted in size.go", bound, size)
	}
	// Not so loose that the fast path rarely applies.
	if typical := validRequest(10, 20); sizeBound(typical, math.MaxInt) > 4*proto.Size(typical) {
		t.Errorf("sizeBound %d is over 4x proto.Size %d for a typical request", sizeBound(typical, math.MaxInt), proto.Size(typical))
	}
}

func TestWithinSizeAgreesWithProtoSize(t *testing.T) {
	req := validRequest(10, 20)
	size := proto.Size(req)
	for _, limit := range []int{1, size - 1, size, size + 1, 10 * size} {
		ok, n := withinSize(req, limit)
		if ok != (size <= limit) || (!ok && n != size) {
			t.Errorf("withinSize(limit %d) = %v, %d; proto.Size = %d", limit, ok, n, size)
		}
	}
	// Unknown fields count: a small request can still be too large.
	small := validRequest(1, 0)
	small.Orders[0].ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), make([]byte, 2<<20)))
	_, err := CheckOrders(small, DefaultLimits(), testNow)
	if vs := invalid(t, err); len(vs) != 1 || vs[0].GetField() != "request" {
		t.Errorf("2 MiB unknown field: violations %q, want only request", fields(vs))
	}
}

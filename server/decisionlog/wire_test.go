package decisionlog

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestDecisionFieldNumbers(t *testing.T) {
	fields := (&rxguardv1.Decision{}).ProtoReflect().Descriptor().Fields()
	if n := fields.ByName("request").Number(); n != decisionRequestField {
		t.Errorf("Decision.request is field %d, the writer writes %d", n, decisionRequestField)
	}
	if n := fields.ByName("response").Number(); n != decisionResponseField {
		t.Errorf("Decision.response is field %d, the writer writes %d", n, decisionResponseField)
	}
}

// A record assembled from the wire encodings is the record encoded from
// the messages, byte for byte, when the wire encodings are protobuf's own.
func TestRecordFromTheWireIsTheRecordFromTheMessages(t *testing.T) {
	l := openTest(t, Options{SidecarID: "sidecar-7"})
	for _, s := range []spec{warnSpec(1), {lines: 1}, {lines: 50}} {
		e := entry(s)
		e.Time = time.Date(2026, 12, 2, 9, 30, 0, 123456789, time.UTC) // both encodings at the same time
		var fromMessages, fromWire writer
		fromMessages.init(l)
		fromWire.init(l)
		if err := fromMessages.encode(&e); err != nil {
			t.Fatal(err)
		}
		w := e
		var err error
		if w.RequestWire, err = proto.Marshal(e.Request); err != nil {
			t.Fatal(err)
		}
		if w.ResponseWire, err = proto.Marshal(e.Response); err != nil {
			t.Fatal(err)
		}
		if err := fromWire.encode(&w); err != nil {
			t.Fatal(err)
		}
		if len(fromWire.plain) == 0 || !bytes.Equal(fromWire.plain, fromMessages.plain) {
			t.Errorf("%d lines: the record from the wire (%d B) differs from the record from the messages (%d B)", s.lines, len(fromWire.plain), len(fromMessages.plain))
		}
		if len(fromWire.ents) != len(fromMessages.ents) {
			t.Errorf("%d lines: %d entries (indexes) from the wire, %d from the messages", s.lines, len(fromWire.ents), len(fromMessages.ents))
		}
	}
}

// The record keeps the request as received: what a client sent beyond
// what this sidecar knows (a newer client's field) reads back with it.
func TestRecordKeepsTheRequestAsReceived(t *testing.T) {
	l := openTest(t, Options{})
	e := entry(warnSpec(1))
	reqWire, err := proto.Marshal(e.Request)
	if err != nil {
		t.Fatal(err)
	}
	reqWire = protowire.AppendTag(reqWire, 999, protowire.BytesType) // unknown to this sidecar
	reqWire = protowire.AppendString(reqWire, "from a newer HIS")
	respWire, err := proto.Marshal(e.Response)
	if err != nil {
		t.Fatal(err)
	}
	e.RequestWire, e.ResponseWire = reqWire, respWire
	l.Append(context.Background(), e)
	flush(t, l)
	got, err := l.Get(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.Response, e.Response) {
		t.Error("the response reads back different")
	}
	back, err := proto.Marshal(got.Request)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, reqWire) {
		t.Errorf("the request reads back as %d B, %d B were received (the unknown field lost?)", len(back), len(reqWire))
	}
}

// BenchmarkEncodeRecord is the writer's work per decision (the record, its
// compression and its index entries) from the messages and from the wire
// encodings the gRPC door passes (a 10-line order's).
func BenchmarkEncodeRecord(b *testing.B) {
	l := openTest(b, Options{SidecarID: "sidecar-7"})
	for _, lines := range []int{10, 50} {
		e := entry(spec{lines: lines})
		e.Time = time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
		wire := e
		wire.RequestWire, _ = proto.Marshal(e.Request)
		wire.ResponseWire, _ = proto.Marshal(e.Response)
		for _, c := range []struct {
			name string
			e    Entry
		}{{"from=messages", e}, {"from=wire", wire}} {
			b.Run(fmt.Sprintf("lines=%d/%s", lines, c.name), func(b *testing.B) {
				var w writer
				w.init(l)
				b.ReportAllocs()
				for b.Loop() {
					w.arena, w.ents = w.arena[:0], w.ents[:0]
					if err := w.encode(&c.e); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(w.plain)), "record-B")
			})
		}
	}
}

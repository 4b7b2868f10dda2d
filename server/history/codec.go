package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Key layout (see doc.go):
//
//	'p' '/' len16 patient '/' time64 '/' len16 item '/' len16 encounter '/' len16 line
//
// len16 is a big-endian uint16 byte count. time64 is the entry's Unix
// seconds as a big-endian uint64 with the sign bit flipped, so byte order is
// time order for negative times too.
const (
	keyPrefix = "p/"
	sep       = '/'
	// maxFieldLen bounds every string field. Real codes and ids are tens
	// of bytes; the bound keeps keys far below Badger's 64 KiB key limit
	// and one Record transaction predictable.
	maxFieldLen = 512
	// valueVersion leads every value so the encoding can change without
	// rewriting the store.
	valueVersion = 1
)

var errCorruptKey = errors.New("malformed history key")

func encodeSec(sec int64) uint64 { return uint64(sec) ^ (1 << 63) }
func decodeSec(u uint64) int64   { return int64(u ^ (1 << 63)) }

// appendPatientPrefix appends the prefix under which all of one patient's
// keys live. The length prefix makes it prefix-free: "P1"'s prefix is not a
// prefix of "P12"'s.
func appendPatientPrefix(b []byte, patientID string) []byte {
	b = append(b, keyPrefix...)
	b = appendField(b, patientID)
	return append(b, sep)
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, sec int64) []byte {
	b = binary.BigEndian.AppendUint64(b, encodeSec(sec))
	return append(b, sep)
}

// appendKey appends the full key of e; prefix is appendPatientPrefix's.
func appendKey(b, prefix []byte, e *Entry) []byte {
	b = append(b, prefix...)
	b = appendTime(b, e.Time.Unix())
	b = appendField(b, e.ItemCode)
	b = append(b, sep)
	b = appendField(b, e.EncounterID)
	b = append(b, sep)
	return appendField(b, e.LineID)
}

// keyFields are the parts of a key after the patient prefix, as byte slices
// into the key (valid only while the key is).
type keyFields struct {
	sec                     int64
	item, encounter, lineID []byte
}

// parseKeyRest parses what follows the patient prefix.
func parseKeyRest(rest []byte) (keyFields, error) {
	var f keyFields
	if len(rest) < 9 || rest[8] != sep {
		return f, errCorruptKey
	}
	f.sec = decodeSec(binary.BigEndian.Uint64(rest))
	rest = rest[9:]
	var ok bool
	if f.item, rest, ok = cutField(rest, true); !ok {
		return f, errCorruptKey
	}
	if f.encounter, rest, ok = cutField(rest, true); !ok {
		return f, errCorruptKey
	}
	if f.lineID, rest, ok = cutField(rest, false); !ok || len(rest) != 0 {
		return f, errCorruptKey
	}
	return f, nil
}

func cutField(b []byte, wantSep bool) (field, rest []byte, ok bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < n {
		return nil, nil, false
	}
	field, rest = b[:n], b[n:]
	if wantSep {
		if len(rest) == 0 || rest[0] != sep {
			return nil, nil, false
		}
		rest = rest[1:]
	}
	return field, rest, true
}

// Value layout, fixed offsets, little-endian:
//
//	0   version byte (1)
//	1   kind      int32
//	5   quantity  float64 (IEEE 754 bits)
//	13  days      int32
//	17  nanos     uint32, the sub-second part of Time (the key holds seconds)
//	21  decision  the rest of the value
//
// Item code, encounter and line id are only in the key. Fixed offsets
// rather than varints: decoding is a few loads with no branches per field,
// for ~6 bytes more per entry. A typical value is ~35 bytes; decoding does
// not allocate (see BenchmarkValueCodec for the JSON comparison).
const valueHeaderLen = 21

func appendValue(b []byte, e *Entry) []byte {
	b = append(b, valueVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(e.Kind))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Quantity))
	b = binary.LittleEndian.AppendUint32(b, uint32(e.Days))
	b = binary.LittleEndian.AppendUint32(b, uint32(e.Time.Nanosecond()))
	return append(b, e.DecisionID...)
}

type valueFields struct {
	kind     rxguardv1.ItemKind
	quantity float64
	days     int32
	nanos    int32
	decision []byte // into the value
}

func parseValue(v []byte) (valueFields, error) {
	var f valueFields
	if len(v) < valueHeaderLen {
		return f, fmt.Errorf("history value is %d bytes, shorter than %d", len(v), valueHeaderLen)
	}
	if v[0] != valueVersion {
		return f, fmt.Errorf("history value has unknown encoding version %d (written by a newer rxguard?)", v[0])
	}
	f.kind = rxguardv1.ItemKind(int32(binary.LittleEndian.Uint32(v[1:])))
	f.quantity = math.Float64frombits(binary.LittleEndian.Uint64(v[5:]))
	f.days = int32(binary.LittleEndian.Uint32(v[13:]))
	nanos := binary.LittleEndian.Uint32(v[17:])
	if nanos >= uint32(time.Second) {
		return f, fmt.Errorf("history value has sub-second part %d ns, not below 1 s", nanos)
	}
	f.nanos = int32(nanos)
	f.decision = v[valueHeaderLen:]
	return f, nil
}

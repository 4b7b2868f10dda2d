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
//	0   version byte (1 or 2)
//	1   kind      int32
//	5   quantity  float64 (IEEE 754 bits)
//	13  days      int32
//	17  nanos     uint32, the sub-second part of Time (the key holds seconds)
//	21  version 1: decision, the rest of the value
//	    version 2: len16 decision, len16 hospital, len16 report (big-endian
//	    byte counts, as in the key), nothing after
//
// Item code, encounter and line id are only in the key. Fixed offsets
// rather than varints: decoding is a few loads with no branches per field,
// for ~6 bytes more per entry. A typical value is ~35 bytes; decoding does
// not allocate (see BenchmarkValueCodec for the JSON comparison).
//
// Version 2 adds where an item was done (hospital code) and its report id
// on the regional sharing platform (检查检验结果互认). An entry without
// either is still written as version 1: the bytes are the same as before,
// and a sidecar rolled back to a build that knows only version 1 still
// reads every such entry. Both versions are always decoded: stores written
// before version 2 are read as they are, never rewritten.
const valueHeaderLen = 21

// A version byte leads every value so the encoding can change without
// rewriting the store.
const (
	valueVersion1 = 1
	valueVersion2 = 2
)

func appendValue(b []byte, e *Entry) []byte {
	v2 := e.HospitalCode != "" || e.ReportID != ""
	if v2 {
		b = append(b, valueVersion2)
	} else {
		b = append(b, valueVersion1)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(e.Kind))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Quantity))
	b = binary.LittleEndian.AppendUint32(b, uint32(e.Days))
	b = binary.LittleEndian.AppendUint32(b, uint32(e.Time.Nanosecond()))
	if !v2 {
		return append(b, e.DecisionID...)
	}
	b = appendField(b, e.DecisionID)
	b = appendField(b, e.HospitalCode)
	return appendField(b, e.ReportID)
}

type valueFields struct {
	kind     rxguardv1.ItemKind
	quantity float64
	days     int32
	nanos    int32
	// decision, hospital and report point into the value.
	decision, hospital, report []byte
}

func parseValue(v []byte) (valueFields, error) {
	var f valueFields
	if len(v) < valueHeaderLen {
		return f, fmt.Errorf("history value is %d bytes, shorter than %d", len(v), valueHeaderLen)
	}
	if v[0] != valueVersion1 && v[0] != valueVersion2 {
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
	rest := v[valueHeaderLen:]
	if v[0] == valueVersion1 {
		f.decision = rest
		return f, nil
	}
	var ok bool
	if f.decision, rest, ok = cutField(rest, false); !ok {
		return f, errors.New("history value (version 2) has a truncated decision id")
	}
	if f.hospital, rest, ok = cutField(rest, false); !ok {
		return f, errors.New("history value (version 2) has a truncated hospital code")
	}
	if f.report, rest, ok = cutField(rest, false); !ok {
		return f, errors.New("history value (version 2) has a truncated report id")
	}
	if len(rest) != 0 {
		return f, fmt.Errorf("history value (version 2) has %d bytes after its last field", len(rest))
	}
	return f, nil
}

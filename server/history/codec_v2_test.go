package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// oldValue is a value as the version-1 encoder wrote it, built by hand
// from the layout rather than with appendValue, so a change to the encoder
// cannot quietly change what "old" means.
func oldValue(kind rxguardv1.ItemKind, qty float64, days int32, nanos uint32, decision string) []byte {
	b := []byte{1}
	b = binary.LittleEndian.AppendUint32(b, uint32(kind))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(qty))
	b = binary.LittleEndian.AppendUint32(b, uint32(days))
	b = binary.LittleEndian.AppendUint32(b, nanos)
	return append(b, decision...)
}

func TestValueVersions(t *testing.T) {
	tests := []struct {
		name    string
		e       Entry
		version byte
	}{
		{"no hospital or report stays version 1", Entry{Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, DecisionID: "D1"}, 1},
		{"hospital only", Entry{Kind: rxguardv1.ItemKind_ITEM_SERVICE, Quantity: 1, HospitalCode: "H370800001"}, 2},
		{"report only", Entry{Quantity: 1, ReportID: "RPT-1"}, 2},
		{"all three", Entry{Quantity: 2.5, Days: 3, Time: time.Unix(9, 123), DecisionID: "D", HospitalCode: "H", ReportID: "R/1"}, 2},
		{"max lengths", Entry{DecisionID: strings.Repeat("d", maxFieldLen), HospitalCode: strings.Repeat("h", maxFieldLen), ReportID: strings.Repeat("r", maxFieldLen)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := appendValue(nil, &tt.e)
			if v[0] != tt.version {
				t.Fatalf("version %d, want %d", v[0], tt.version)
			}
			vf, err := parseValue(v)
			if err != nil {
				t.Fatal(err)
			}
			if vf.kind != tt.e.Kind || vf.quantity != tt.e.Quantity || vf.days != tt.e.Days || int(vf.nanos) != tt.e.Time.Nanosecond() ||
				string(vf.decision) != tt.e.DecisionID || string(vf.hospital) != tt.e.HospitalCode || string(vf.report) != tt.e.ReportID {
				t.Fatalf("round trip of %+v gave %+v", tt.e, vf)
			}
		})
	}
}

func TestOldValueDecodes(t *testing.T) {
	e := Entry{Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 2, Days: 7, Time: time.Unix(0, 5), DecisionID: "01JDECISION"}
	old := oldValue(e.Kind, e.Quantity, e.Days, 5, e.DecisionID)
	// An entry without the new fields is written exactly as before.
	if got := appendValue(nil, &e); !bytes.Equal(got, old) {
		t.Fatalf("version-1 encoding changed:\n got %x\nwant %x", got, old)
	}
	vf, err := parseValue(old)
	if err != nil {
		t.Fatal(err)
	}
	if vf.kind != e.Kind || vf.quantity != 2 || vf.days != 7 || vf.nanos != 5 || string(vf.decision) != "01JDECISION" ||
		len(vf.hospital) != 0 || len(vf.report) != 0 {
		t.Fatalf("old value decoded as %+v", vf)
	}
}

func TestBadVersion2Values(t *testing.T) {
	good := appendValue(nil, &Entry{DecisionID: "D", HospitalCode: "H", ReportID: "R"})
	for _, tt := range []struct {
		name string
		v    []byte
		want string
	}{
		{"no fields", good[:valueHeaderLen], "truncated decision"},
		{"decision cut", good[:valueHeaderLen+2], "truncated decision"},
		{"hospital cut", good[:valueHeaderLen+3+1], "truncated hospital"},
		{"report cut", good[:len(good)-1], "truncated report"},
		{"trailing", append(append([]byte{}, good...), 'x'), "after its last field"},
	} {
		if _, err := parseValue(tt.v); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// A store written before version 2 is read as it is, next to new entries.
func TestStoreReadsOldAndNewEntries(t *testing.T) {
	s := openTemp(t, Options{Now: newClock(t0).Now})
	oldE := entry("002103000010000", t0.Add(-48*time.Hour))
	oldE.DecisionID = "D-old"
	key := appendKey(nil, appendPatientPrefix(nil, "P1"), &oldE)
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key, oldValue(oldE.Kind, oldE.Quantity, oldE.Days, 0, "D-old"))
	}); err != nil {
		t.Fatal(err)
	}
	newE := entry("002103000010000", t0.Add(-time.Hour))
	newE.EncounterID, newE.LineID = "", "report:RPT-9"
	newE.HospitalCode, newE.ReportID = "H370800002", "RPT-9"
	if n := record(t, s, "P1", newE); n != 1 {
		t.Fatalf("recorded %d", n)
	}
	// Twice: the first is a miss that fills the cache, the second a hit.
	for range 2 {
		assertEntries(t, lookup(t, s, "P1", time.Time{}), []Entry{oldE, newE})
	}
	// Identity is the key: the same shared result again is not stored twice.
	if n := record(t, s, "P1", newE); n != 0 {
		t.Fatalf("re-recorded %d", n)
	}
	long := newE
	long.ReportID = strings.Repeat("r", maxFieldLen+1)
	if _, err := s.Record(context.Background(), "P1", []Entry{long}); err == nil || !strings.Contains(err.Error(), "report id") {
		t.Fatalf("oversized report id: %v", err)
	}
}

func FuzzParseValue(f *testing.F) {
	f.Add(oldValue(1, 1, 1, 0, "D"))
	f.Add(appendValue(nil, &Entry{DecisionID: "D", HospitalCode: "H", ReportID: "R"}))
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		vf, err := parseValue(v)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes (one encoding per
		// entry), unless it is a version-2 value without the new fields,
		// which the encoder writes as version 1.
		e := Entry{Kind: vf.kind, Quantity: vf.quantity, Days: vf.days, Time: time.Unix(0, int64(vf.nanos)),
			DecisionID: string(vf.decision), HospitalCode: string(vf.hospital), ReportID: string(vf.report)}
		got := appendValue(nil, &e)
		if v[0] == valueVersion2 && e.HospitalCode == "" && e.ReportID == "" {
			if got[0] != valueVersion1 {
				t.Fatalf("empty new fields encoded as version %d", got[0])
			}
			return
		}
		if !bytes.Equal(got, v) && !(math.IsNaN(vf.quantity)) {
			t.Fatalf("value %x re-encodes as %x", v, got)
		}
	})
}

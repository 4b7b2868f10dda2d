package history

import (
	"bytes"
	"math"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func TestKeyOrderIsTimeOrder(t *testing.T) {
	prefix := appendPatientPrefix(nil, "P1")
	times := []time.Time{
		time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), // negative Unix time
		time.Unix(-1, 0), time.Unix(0, 0), time.Unix(1, 0), t0, t0.Add(time.Second),
	}
	var prev []byte
	for _, at := range times {
		// A long item code must not outweigh the time.
		e := Entry{ItemCode: "\xff\xff", Time: at}
		if prev != nil {
			e.ItemCode = "\x00"
		}
		k := appendKey(nil, prefix, &e)
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			t.Fatalf("key for %v does not sort after the previous one", at)
		}
		prev = k
		kf, err := parseKeyRest(k[len(prefix):])
		if err != nil || kf.sec != at.Unix() || string(kf.item) != e.ItemCode {
			t.Fatalf("parse %v: %+v %v", at, kf, err)
		}
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		{},
		{Kind: rxguardv1.ItemKind_ITEM_HERB, Quantity: -0.25, Days: math.MaxInt32, Time: time.Unix(5, 999999999), DecisionID: "x"},
		{Kind: -7, Quantity: math.MaxFloat64, Days: math.MinInt32, DecisionID: string(make([]byte, 300))},
	} {
		vf, err := parseValue(appendValue(nil, &e))
		if err != nil {
			t.Fatal(err)
		}
		if vf.kind != e.Kind || vf.quantity != e.Quantity || vf.days != e.Days ||
			int(vf.nanos) != e.Time.Nanosecond() || string(vf.decision) != e.DecisionID {
			t.Fatalf("round trip of %+v gave %+v", e, vf)
		}
	}
}

func FuzzParse(f *testing.F) {
	e := entry("A", t0)
	e.LineID = "L"
	f.Add(appendKey(nil, nil, &e), appendValue(nil, &e))
	f.Add([]byte{}, []byte{valueVersion1, 0, 0})
	f.Fuzz(func(t *testing.T, key, val []byte) {
		// Must not panic; if it parses, re-encoding gives the same bytes.
		if kf, err := parseKeyRest(key); err == nil {
			e := Entry{ItemCode: string(kf.item), EncounterID: string(kf.encounter), LineID: string(kf.lineID), Time: time.Unix(kf.sec, 0)}
			if got := appendKey(nil, nil, &e); !bytes.Equal(got, key) {
				t.Fatalf("key %x re-encodes as %x", key, got)
			}
		}
		_, _ = parseValue(val)
	})
}

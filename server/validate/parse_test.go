package validate

import (
	"testing"
	"time"
)

func TestParseRFC3339(t *testing.T) {
	zone := shanghai()
	accept := []string{
		"2024-05-01T08:30:00+08:00",
		"2024-05-01T00:30:00Z",
		"2024-02-29T23:59:59-12:30",
		"0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59+23:59",
		"1970-01-01T00:00:00.5Z",
		"2024-05-01T08:30:00.123456789+08:00",
		"2024-05-01T08:30:00.1234567891234-03:00", // digits past ns dropped
	}
	for _, s := range accept {
		got, ok := parseRFC3339(s, zone)
		want, err := time.Parse(time.RFC3339, s)
		if !ok || err != nil || !got.Equal(want) || got.Location() != zone {
			t.Errorf("parseRFC3339(%q) = %v, %v; time.Parse = %v, %v", s, got, ok, want, err)
		}
	}
	reject := []string{
		"", "2024-05-01", "2024-05-01T08:30:00", "2024-05-01 08:30:00Z", "2024-05-01t08:30:00Z",
		"2024-05-01T08:30:00z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z",
		"2024-04-31T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T23:60:00Z", "2024-05-01T23:59:60Z",
		"2024-05-01T08:30:00+08:60", "2024-05-01T08:30:00+0800", "2024-5-01T08:30:00Z",
		"2024-05-01T08:30:00.Z", "2024-05-01T08:30:00ZZ", "+024-05-01T08:30:00Z",
		"2024-05-01T08:30:00+08:00 ", " 2024-05-01T08:30:00Z",
		// time.Parse accepts these through its lenient fallback; RFC 3339
		// does not, and a HIS that sends them has a formatting bug.
		"2024-05-01T8:30:00Z", "2024-05-01T08:30:00,5Z", "2024-05-01T08:30:00+24:00",
	}
	for _, s := range reject {
		if got, ok := parseRFC3339(s, zone); ok {
			t.Errorf("parseRFC3339(%q) = %v, want rejection", s, got)
		}
	}
}

func TestParseDate(t *testing.T) {
	zone := shanghai()
	for _, s := range []string{"1990-02-28", "2000-02-29", "0000-01-01", "9999-12-31", "1988-07-01"} {
		got, ok := parseDate(s, zone)
		want, err := time.ParseInLocation(dateLayout, s, zone)
		if !ok || err != nil || !got.Equal(want) || got.Location() != zone {
			t.Errorf("parseDate(%q) = %v, %v; time.ParseInLocation = %v, %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "1900-02-29", "2020/01/02", "2020-1-2", "20200102", "2020-01-02T00:00:00Z", "2020-01-32", "２０２０-01-02", "-020-01-02"} {
		if got, ok := parseDate(s, zone); ok {
			t.Errorf("parseDate(%q) = %v, want rejection", s, got)
		}
	}
}

// FuzzParseTimes holds the hand-written parsers to the standard library:
// a date is accepted exactly when time.ParseInLocation accepts it, and an
// accepted RFC 3339 time is one time.Parse accepts, at the same instant.
func FuzzParseTimes(f *testing.F) {
	for _, s := range []string{"2024-05-01T08:30:00+08:00", "2024-05-01T08:30:00.123Z", "1990-02-28", "2024-02-30", "0000-02-29T00:00:00-00:00"} {
		f.Add(s)
	}
	zone := shanghai()
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseDate(s, zone)
		want, err := time.ParseInLocation(dateLayout, s, zone)
		if ok != (err == nil) || (ok && !d.Equal(want)) {
			t.Fatalf("parseDate(%q) = %v, %v; time.ParseInLocation = %v, %v", s, d, ok, want, err)
		}
		if got, ok := parseRFC3339(s, zone); ok {
			want, err := time.Parse(time.RFC3339, s)
			if err != nil || !got.Equal(want) {
				t.Fatalf("parseRFC3339(%q) = %v; time.Parse = %v, %v", s, got, want, err)
			}
		}
	})
}

func TestDaysSinceEpoch(t *testing.T) {
	check := func(d time.Time) {
		t.Helper()
		if got := daysSinceEpoch(d.Year(), int(d.Month()), d.Day()); got*86400 != d.Unix() {
			t.Fatalf("daysSinceEpoch(%s) = %d, want %d", d.Format(dateLayout), got, d.Unix()/86400)
		}
	}
	// Every day where real dates fall, and the year boundaries and leap
	// days of every year the parsers accept.
	for d := time.Date(1890, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2110; d = d.AddDate(0, 0, 1) {
		check(d)
	}
	for y := range 10000 {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {3, 1}, {12, 31}} {
			check(time.Date(y, time.Month(md[0]), md[1], 0, 0, 0, 0, time.UTC))
		}
		if daysIn(2, y) == 29 {
			check(time.Date(y, 2, 29, 0, 0, 0, 0, time.UTC))
		}
	}
}

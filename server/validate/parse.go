package validate

import (
	"sync"
	"time"
)

const dateLayout = "2006-01-02"

// shanghai is the zone of all calendar-day logic (RULES.md). Loaded lazily so
// importing the package does no file I/O. Without tzdata on the host, +08:00
// is exact for any date since 1991 (China's last daylight saving time); a
// binary that must not depend on the host imports time/tzdata in main.
var shanghai = sync.OnceValue(func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
})

// The parsers below are hand-written because every order line and history
// entry carries a time, and time.Parse costs ~100 ns each (its generic path
// and zone lookups) where these cost ~10. They accept exactly what
// time.Parse's strict RFC 3339 path accepts, or less; the fuzz tests hold
// them to that. Unlike time.Parse they never fall back to the lenient
// layout parser, so "2024-05-01T9:00:00Z" (one-digit hour) is rejected, as
// RFC 3339 requires.

// parseDate parses strict YYYY-MM-DD, calendar-checked (no 2023-02-29), as
// midnight in zone, like time.ParseInLocation(dateLayout, s, zone).
func parseDate(s string, zone *time.Location) (time.Time, bool) {
	if len(s) != len(dateLayout) || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	y, m, d, ok := ymd(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, zone), true
}

// parseRFC3339 parses an RFC 3339 date-time, which must carry its offset
// ("Z" or "+08:00"): a bare local time would have to be guessed, and a guess
// is off by hours. The result is in zone.
func parseRFC3339(s string, zone *time.Location) (time.Time, bool) {
	const base = len("2006-01-02T15:04:05")
	if len(s) < base+1 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	y, mo, d, ok := ymd(s)
	h, ok1 := num2(s[11:13], 23)
	mi, ok2 := num2(s[14:16], 59)
	sec, ok3 := num2(s[17:19], 59)
	if !ok || !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	rest := s[base:]

	var nsec int
	if len(rest) >= 2 && rest[0] == '.' && isDigit(rest[1]) {
		n, scale := 1, 100_000_000
		for ; n < len(rest) && isDigit(rest[n]); n++ {
			if scale > 0 { // digits past nanoseconds are dropped, as time.Parse does
				nsec += int(rest[n]-'0') * scale
				scale /= 10
			}
		}
		rest = rest[n:]
	}

	var offset int
	switch {
	case rest == "Z":
	case len(rest) == len("+08:00") && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num2(rest[1:3], 23)
		om, ok2 := num2(rest[4:6], 59)
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}

	unix := daysSinceEpoch(y, mo, d)*86400 + int64(h*3600+mi*60+sec-offset)
	return time.Unix(unix, int64(nsec)).In(zone), true
}

// ymd parses the YYYY-MM-DD at the start of s (len(s) >= 10, separators
// already checked).
func ymd(s string) (y, m, d int, ok bool) {
	y1, ok1 := num2(s[0:2], 99)
	y2, ok2 := num2(s[2:4], 99)
	m, ok3 := num2(s[5:7], 12)
	d, ok4 := num2(s[8:10], 31)
	y = y1*100 + y2
	if !ok1 || !ok2 || !ok3 || !ok4 || m < 1 || d < 1 || d > daysIn(m, y) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// num2 parses two decimal digits no greater than max.
func num2(s string, max int) (int, bool) {
	if !isDigit(s[0]) || !isDigit(s[1]) {
		return 0, false
	}
	n := int(s[0]-'0')*10 + int(s[1]-'0')
	return n, n <= max
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch counts days from 1970-01-01 to y-m-d in the proleptic
// Gregorian calendar, for years 0..9999 (Hinnant's days_from_civil). Years
// are shifted by one 400-year era so the arithmetic stays unsigned, which
// turns the divisions into multiplications.
func daysSinceEpoch(y, m, d int) int64 {
	yy := uint(y + 400)
	mm := uint(m)
	if mm <= 2 {
		yy--
	}
	era := yy / 400
	yoe := yy - era*400 // [0, 399]
	mp := (mm + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + uint(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 146097 - 719468
}

package engine

import (
	"math/rand/v2"
	"testing"
	"time"
)

// dayNumber's fixed-offset arithmetic gives the day the zone's rules give,
// across Shanghai's last transitions (daylight saving time 1986–1991),
// day boundaries, and times before 1970.
func TestDayNumberFixedOffset(t *testing.T) {
	if shanghaiFixedFrom == 0 || shanghaiOffset != 8*3600 {
		t.Fatalf("Shanghai fixed from %d with offset %d, want +08:00", shanghaiFixedFrom, shanghaiOffset)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	from := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	to := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	times := []time.Time{
		time.Date(1991, 9, 15, 1, 59, 59, 0, Shanghai), time.Date(1991, 9, 15, 2, 0, 0, 0, Shanghai),
		time.Date(2026, 11, 30, 23, 59, 59, 999999999, Shanghai), time.Date(2026, 12, 1, 0, 0, 0, 0, Shanghai),
		time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC), time.Unix(0, 0), time.Unix(-1, 0), {},
	}
	for range 20000 {
		times = append(times, time.Unix(from+rng.Int64N(to-from), rng.Int64N(1e9)))
	}
	for _, tm := range times {
		if got, want := dayNumber(tm), dayNumberZone(tm); got != want {
			t.Fatalf("dayNumber(%v) = %d, the zone's rules give %d", tm, got, want)
		}
	}
	// A fixed zone (the fallback without tzdata) is fixed for all time.
	if f, off := fixedOffset(time.FixedZone("CST", 8*3600)); off != 8*3600 || f > -1<<40 {
		t.Fatalf("fixed zone: from %d offset %d", f, off)
	}
}

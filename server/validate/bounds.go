package validate

import (
	"time"
)

// Value bounds (docs/api.md, "Value bounds"). A value outside them is not a
// prescription any HIS meant to send: it is a unit mix-up, an unset column
// read as a huge number, or an attempt to overflow a counter and switch a
// rule off. Such a request is refused with the field's path rather than
// judged, because a number the rules cannot count with is a way to a PASS.
const (
	// MaxQuantity bounds orders[].quantity and history[].quantity: a year
	// of 4 tablets a day is ~1,500; 100,000 covers millilitres, units of
	// insulin and hourly-charged items over a long stay.
	MaxQuantity = 100_000
	// MaxDays bounds supply days (orders[].days, history[].days): the
	// longest payable prescription is 84 days; a long-term inpatient order
	// can run a year or more; ten years is a typing error.
	MaxDays = 3660
	// MaxTimesPerDay bounds orders[].times_per_day: once a minute.
	MaxTimesPerDay = 1440
	// MaxUnitPrice bounds orders[].unit_price in yuan: the most expensive
	// listed therapies cost a few million yuan a unit.
	MaxUnitPrice = 100_000_000
)

// Time bounds. Every date and time in a request is checked against them,
// with the field's path when out of range.
var (
	// EarliestTime is the earliest date or time accepted anywhere (birth
	// dates included): 1900-01-01 in Asia/Shanghai.
	EarliestTime = time.Date(1900, 1, 1, 0, 0, 0, 0, shanghai())
)

// MaxFutureSkew is how far after the check time (for check_time itself:
// after the server's clock) an order's start_time, a history entry's time or
// an admission date may lie: an order may be scheduled for the next
// morning, and HIS clocks drift; anything later would move the event out of
// the windows the rules count in.
const MaxFutureSkew = 24 * time.Hour

// between reports a violation unless lo (<, or <= when loIncl) v <= hi. It is
// written so that NaN, which fails every comparison, fails it too.
func (r *report) between(at path, name, zh string, v, lo float64, loIncl bool, hi float64) {
	ok := v <= hi && (v > lo || loIncl && v >= lo)
	if ok || r.full() {
		return
	}
	op := ">"
	if loIncl {
		op = ">="
	}
	r.addf(at.field(name), "%s须为%s%s且不超过%s的有限数 (%s must be a finite number %s %s and <= %s): got %s",
		zh, op, formatFloat(lo), formatFloat(hi), name, op, formatFloat(lo), formatFloat(hi), formatFloat(v))
}

func (r *report) intBetween(at path, name, zh string, v int32, lo, hi int32) {
	if (v >= lo && v <= hi) || r.full() {
		return
	}
	r.addf(at.field(name), "%s须在%d到%d之间 (%s must be between %d and %d): got %d", zh, lo, hi, name, lo, hi, v)
}

// timeWithin reports a violation unless EarliestTime <= t <= latest.
// latestWhat names the bound in the description ("check_time + 24h").
func (r *report) timeWithin(at path, name, zh string, t, latest time.Time, latestWhat string) bool {
	if !r.notBeforeEarliest(at, name, zh, t) {
		return false
	}
	if !t.After(latest) {
		return true
	}
	if !r.full() {
		r.addf(at.field(name), "%s晚于%s (%s is after %s): got %s, latest %s", zh, latestWhat, name, latestWhat,
			t.Format(time.RFC3339), latest.Format(time.RFC3339))
	}
	return false
}

// notBeforeEarliest reports a violation unless t is at or after
// EarliestTime.
func (r *report) notBeforeEarliest(at path, name, zh string, t time.Time) bool {
	if !t.Before(EarliestTime) {
		return true
	}
	if !r.full() {
		r.addf(at.field(name), "%s早于1900-01-01 (%s is before 1900-01-01): got %s", zh, name, t.Format(time.RFC3339))
	}
	return false
}

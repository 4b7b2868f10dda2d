package validate

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// collectBudget bounds the bytes of violations one validation collects, so
// a request with thousands of errors costs about as much as one with a
// hundred. Violations past it are only counted. Each transport trims further
// to what it can carry (the gRPC adapter to a trailer's budget).
const collectBudget = 32 << 10

// report collects violations. Its zero value is ready and allocation-free
// until the first violation.
type report struct {
	vs      []*errdetails.BadRequest_FieldViolation
	used    int // approximate encoded bytes of vs
	omitted int
}

func (r *report) failed() bool { return len(r.vs) > 0 || r.omitted > 0 }

// full counts a violation when the budget is already spent, and reports
// whether it did. Per-element checks ask it before formatting anything.
func (r *report) full() bool {
	if r.omitted == 0 {
		return false
	}
	r.omitted++
	return true
}

// addf adds a violation. Once one has not fit, later ones are only counted,
// so the listed ones stay a prefix in request order.
func (r *report) addf(field, format string, args ...any) {
	if r.omitted > 0 {
		r.omitted++
		return
	}
	desc := fmt.Sprintf(format, args...)
	n := len(field) + len(desc) + 8 // tags and lengths
	if r.used+n > collectBudget {
		r.omitted++
		return
	}
	r.used += n
	r.vs = append(r.vs, &errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
}

// err builds the typed error.
func (r *report) err(what string) error {
	return &Error{What: what, Violations: r.vs, Omitted: r.omitted}
}

// Error is bad input: the field violations of one request, in request
// order, and how many more were found but not listed. Every door maps it to
// its transport (gRPC InvalidArgument with a google.rpc.BadRequest, national
// infcode -1, HTTP 400).
type Error struct {
	What       string // the message type, e.g. "CheckOrdersRequest"
	Violations []*errdetails.BadRequest_FieldViolation
	Omitted    int
}

// IsInvalid reports whether err is (or wraps) a validation error.
func IsInvalid(err error) bool {
	var ve *Error
	return errors.As(err, &ve)
}

// Total is the number of violations found.
func (e *Error) Total() int { return len(e.Violations) + e.Omitted }

// Error repeats the first violation for callers that log the message and
// never read the details.
func (e *Error) Error() string {
	first := "request: invalid"
	if len(e.Violations) > 0 {
		first = e.Violations[0].Field + ": " + e.Violations[0].Description
	}
	return fmt.Sprintf("invalid %s (请求参数错误): %d violation(s); first: %s", e.What, e.Total(), first)
}

// OmittedViolation is the violation a transport appends for n violations it
// did not list.
func OmittedViolation(n int) *errdetails.BadRequest_FieldViolation {
	return &errdetails.BadRequest_FieldViolation{
		Field:       "request",
		Description: fmt.Sprintf("另有%d处错误未列出 (%d more violations not listed; fix the above and retry)", n, n),
	}
}

// Violations returns the field violations of a validation error or of a
// status error with BadRequest details, nil for other errors.
func Violations(err error) []*errdetails.BadRequest_FieldViolation {
	var ve *Error
	if errors.As(err, &ve) {
		if ve.Omitted > 0 {
			return append(ve.Violations[:len(ve.Violations):len(ve.Violations)], OmittedViolation(ve.Omitted))
		}
		return ve.Violations
	}
	st, ok := status.FromError(err)
	if !ok || st == nil {
		return nil
	}
	var out []*errdetails.BadRequest_FieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			out = append(out, br.GetFieldViolations()...)
		}
	}
	return out
}

// date reports a violation unless s is a date parseDate accepts.
func (r *report) date(at path, name, zh, s string, zone *time.Location) (time.Time, bool) {
	t, ok := parseDate(s, zone)
	if !ok && !r.full() {
		r.addf(at.field(name), "%s格式应为YYYY-MM-DD (%s must be YYYY-MM-DD): got %q", zh, name, Clip(s))
	}
	return t, ok
}

// rfc3339 reports a violation unless s is a time parseRFC3339 accepts.
func (r *report) rfc3339(at path, name, zh, s string, zone *time.Location) (time.Time, bool) {
	t, ok := parseRFC3339(s, zone)
	if !ok && !r.full() {
		r.badRFC3339(at.field(name), zh, name, s)
	}
	return t, ok
}

func (r *report) badRFC3339(field, zh, name, s string) {
	r.addf(field, "%s应为带时区的RFC 3339时间, 如2024-05-01T08:30:00+08:00 (%s must be RFC 3339 with offset): got %q",
		zh, name, Clip(s))
}

// Clip shortens a caller's value echoed in a description (at most 40 bytes,
// cut at a rune boundary), so one bad field cannot use up the detail
// budget. The other doors (nhsa) quote callers' values through it too.
func Clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

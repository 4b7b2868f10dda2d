package validate

import (
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// detailBudget bounds the bytes of violations put in one BadRequest. Status
// details travel base64-encoded in the grpc-status-details-bin trailer, and
// grpc-java (and C-core based clients) refuse metadata over 8 KiB by default:
// the HIS would get INTERNAL instead of the violations. 3.5 KiB of details
// plus the percent-encoded grpc-message stay well inside that. Violations past
// the budget are counted in a last one on "request".
const detailBudget = 3584

// report collects violations. Its zero value is ready and allocation-free
// until the first violation.
type report struct {
	vs      []*errdetails.BadRequest_FieldViolation
	used    int // approximate encoded bytes of vs
	omitted int
}

func (r *report) failed() bool { return len(r.vs) > 0 || r.omitted > 0 }

// full counts a violation when the budget is already spent, and reports
// whether it did. Per-element checks ask it before formatting anything, so a
// request with thousands of errors costs about as much as one with forty.
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
	if r.used+n > detailBudget {
		r.omitted++
		return
	}
	r.used += n
	r.vs = append(r.vs, &errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
}

// err builds the InvalidArgument status. The message repeats the first
// violation for clients that log the message and never read details.
func (r *report) err(what string) error {
	vs := r.vs
	if r.omitted > 0 {
		vs = append(vs, &errdetails.BadRequest_FieldViolation{
			Field: "request",
			Description: fmt.Sprintf("另有%d处错误未列出 (%d more violations not listed; fix the above and retry)",
				r.omitted, r.omitted),
		})
	}
	total := len(r.vs) + r.omitted
	msg := fmt.Sprintf("invalid %s (请求参数错误): %d violation(s); first: %s: %s",
		what, total, vs[0].Field, vs[0].Description)
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.BadRequest{FieldViolations: vs})
	if err != nil {
		// Only a marshalling failure, which a BadRequest cannot have; the
		// code and message are still right.
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// Violations returns the field violations of a CheckOrders or ExplainItem
// error (or any status error with BadRequest details), nil for other errors.
func Violations(err error) []*errdetails.BadRequest_FieldViolation {
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
		r.addf(at.field(name), "%s格式应为YYYY-MM-DD (%s must be YYYY-MM-DD): got %q", zh, name, clip(s))
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
		zh, name, clip(s))
}

// clip shortens a caller's value echoed in a description, so one bad field
// cannot use up the detail budget.
func clip(s string) string {
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

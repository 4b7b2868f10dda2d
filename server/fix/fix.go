// Package fix applies a structured suggestion (rxguard.v1.Fix, a finding's
// fixes[]) to the request it was given for. The result is what the HIS
// would send after the physician clicked the suggestion's button; checking
// it again passes the finding (docs/api.md, "Structured suggestions").
//
// HIS examples, CDS Hooks actions and tests use this one implementation, so
// "what does REDUCE_DAYS change" has a single answer.
package fix

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// The kinds of error Apply returns, for errors.Is. Every error is an *Error
// naming the field of the fix (or the request) that is wrong.
var (
	// ErrUnknownKind: the fix's kind is unspecified or not one this build knows.
	ErrUnknownKind = errors.New("unknown fix kind")
	// ErrUnknownLine: no order line has the fix's line_id.
	ErrUnknownLine = errors.New("unknown order line")
	// ErrInvalidValue: the fix's value cannot be applied (not a reduction,
	// not positive, not finite, missing).
	ErrInvalidValue = errors.New("invalid fix value")
	// ErrEmptyOrder: removing the line would leave an order with no lines,
	// which is not a check but a cancellation.
	ErrEmptyOrder = errors.New("order would be empty")
)

// Error is an Apply failure: the field path, what is wrong, and one of the
// Err* kinds above.
type Error struct {
	Field  string // e.g. "fix.quantity", "request.orders"
	Reason string
	Kind   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns the kind, so callers can decide with errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...), Kind: kind}
}

// Apply returns a copy of req with f applied; req itself is never changed.
//
//   - REDUCE_QUANTITY sets the line's quantity to f.quantity: finite, > 0,
//     and not above the line's quantity when it has one.
//   - REDUCE_DAYS sets the line's days to f.days: ≥ 1 and not above the
//     line's days when it has them. The dispensed quantity is left to the
//     HIS, which knows the dose (the rules judge supply days).
//   - MARK_SELF_PAY sets self_pay (after the patient's informed consent).
//   - ATTEST_RESTRICTION sets restriction_attested.
//   - REMOVE_LINE removes the line; the last line of an order cannot be
//     removed (ErrEmptyOrder): the HIS cancels such an order instead.
//   - CHANGE_ITEM replaces item_code and item_name by the fix's; an
//     attestation given for the old item is cleared, it does not carry over.
func Apply(req *rxguardv1.CheckOrdersRequest, f *rxguardv1.Fix) (*rxguardv1.CheckOrdersRequest, error) {
	at, err := find(req, f)
	if err != nil {
		return nil, err
	}
	out := proto.Clone(req).(*rxguardv1.CheckOrdersRequest)
	o := out.Orders[at]
	switch f.Kind {
	case rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY:
		o.Quantity = f.Quantity
	case rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS:
		o.Days = f.Days
	case rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY:
		o.SelfPay = true
	case rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION:
		o.RestrictionAttested = true
	case rxguardv1.FixKind_FIX_KIND_REMOVE_LINE:
		out.Orders = append(out.Orders[:at], out.Orders[at+1:]...)
	case rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM:
		o.ItemCode, o.ItemName = f.ItemCode, f.ItemName
		o.RestrictionAttested = false
	}
	return out, nil
}

// Validate reports whether Apply would accept f for req, without copying
// anything: the error Apply would return, or nil. The plugin host uses it to
// drop a plugin's fix that could not be applied.
func Validate(req *rxguardv1.CheckOrdersRequest, f *rxguardv1.Fix) error {
	_, err := find(req, f)
	return err
}

// find checks f against req and returns the index of the line it changes.
func find(req *rxguardv1.CheckOrdersRequest, f *rxguardv1.Fix) (int, error) {
	if req == nil {
		return -1, fail(ErrInvalidValue, "request", "no request to apply the fix to")
	}
	if f == nil {
		return -1, fail(ErrInvalidValue, "fix", "no fix given")
	}
	if _, known := rxguardv1.FixKind_name[int32(f.Kind)]; !known || f.Kind == rxguardv1.FixKind_FIX_KIND_UNSPECIFIED {
		return -1, fail(ErrUnknownKind, "fix.kind", "kind %d is not a fix this version applies; update the client or ignore this suggestion", int32(f.Kind))
	}
	if f.LineId == "" {
		return -1, fail(ErrUnknownLine, "fix.line_id", "empty: a fix names the order line it changes")
	}
	at := -1
	for i, o := range req.Orders {
		if o.GetLineId() != f.LineId {
			continue
		}
		if at >= 0 {
			return -1, fail(ErrUnknownLine, "fix.line_id", "%q names orders[%d] and orders[%d]; line ids must be unique", f.LineId, at, i)
		}
		at = i
	}
	if at < 0 {
		return -1, fail(ErrUnknownLine, "fix.line_id", "%q is not a line of this order; apply a fix only to the request it was given for", f.LineId)
	}
	if err := check(f, req.Orders[at], len(req.Orders)); err != nil {
		return -1, err
	}
	return at, nil
}

// check validates f's value against the line it changes, before anything
// is copied.
func check(f *rxguardv1.Fix, cur *rxguardv1.OrderLine, lines int) error {
	switch f.Kind {
	case rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY:
		q := f.Quantity
		switch {
		case math.IsNaN(q) || math.IsInf(q, 0):
			return fail(ErrInvalidValue, "fix.quantity", "%v is not a number of units", q)
		case q <= 0:
			return fail(ErrInvalidValue, "fix.quantity", "%v: a reduced quantity is above 0 (to drop the line use REMOVE_LINE)", q)
		case cur.Quantity > 0 && q > cur.Quantity:
			return fail(ErrInvalidValue, "fix.quantity", "%v is more than the line's quantity %v: a reduction never raises it", q, cur.Quantity)
		}
	case rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS:
		switch d := f.Days; {
		case d < 1:
			return fail(ErrInvalidValue, "fix.days", "%d: reduced supply days are at least 1 (to drop the line use REMOVE_LINE)", d)
		case cur.Days > 0 && d > cur.Days:
			return fail(ErrInvalidValue, "fix.days", "%d is more than the line's %d days: a reduction never raises them", d, cur.Days)
		}
	case rxguardv1.FixKind_FIX_KIND_REMOVE_LINE:
		if lines == 1 {
			return fail(ErrEmptyOrder, "fix.line_id", "%q is the order's only line; cancel the order in the HIS instead of re-checking it", f.LineId)
		}
	case rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM:
		if f.ItemCode == "" {
			return fail(ErrInvalidValue, "fix.item_code", "empty: CHANGE_ITEM names the replacement item")
		}
	}
	return nil
}

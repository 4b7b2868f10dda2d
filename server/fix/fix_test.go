package fix

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func request() *rxguardv1.CheckOrdersRequest {
	return &rxguardv1.CheckOrdersRequest{
		RequestId: "r1",
		Orders: []*rxguardv1.OrderLine{
			{LineId: "1", ItemCode: "XA10BAD9029A001010199929", ItemName: "二甲双胍片", Quantity: 90, Days: 90, RestrictionAttested: true},
			{LineId: "2", ItemCode: "001109000010000", ItemName: "普通病房床位费", Quantity: 2},
			{LineId: "3", ItemCode: "XC10AAD9004A001010199904", ItemName: "辛伐他汀片"},
		},
	}
}

func TestApply(t *testing.T) {
	type want func(t *testing.T, out *rxguardv1.CheckOrdersRequest)
	line := func(out *rxguardv1.CheckOrdersRequest, id string) *rxguardv1.OrderLine {
		for _, o := range out.Orders {
			if o.LineId == id {
				return o
			}
		}
		return nil
	}
	cases := []struct {
		name  string
		fix   *rxguardv1.Fix
		check want
	}{
		{"reduce quantity", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY, LineId: "2", Quantity: 1}, func(t *testing.T, out *rxguardv1.CheckOrdersRequest) {
			if q := line(out, "2").Quantity; q != 1 {
				t.Errorf("quantity = %v, want 1", q)
			}
		}},
		{"reduce quantity of a line without one", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY, LineId: "3", Quantity: 0.5}, func(t *testing.T, out *rxguardv1.CheckOrdersRequest) {
			if q := line(out, "3").Quantity; q != 0.5 {
				t.Errorf("quantity = %v, want 0.5", q)
			}
		}},
		{"reduce days keeps the quantity", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS, LineId: "1", Days: 30}, func(t *testing.T, out *rxguardv1.CheckOrdersRequest) {
			if l := line(out, "1"); l.Days != 30 || l.Quantity != 90 {
				t.Errorf("days %d quantity %v, want 30 and 90", l.Days, l.Quantity)
			}
		}},
		{"mark self-pay", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "2"}, func(t *testing.T, out *rxguardv1.CheckOrdersRequest) {
			if !line(out, "2").SelfPay || line(out, "1").SelfPay {
				t.Errorf("self_pay should be set on line 2 only")
			}
		}},
		{"attest", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION, LineId: "3"}, func(t *testing.T, out *rxguardv1.CheckOrdersRequest) {
			if !line(out, "3").RestrictionAttested {
				t.Errorf("restriction_attested not set")
			}
		}},
		{"remove a middle line keeps the order", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: "2"}, func(t *testing.T, out *rxguardv1.CheckOrdersRequest) {
			if len(out.Orders) != 2 || out.Orders[0].LineId != "1" || out.Orders[1].LineId != "3" {
				t.Errorf("orders after removal: %v", out.Orders)
			}
		}},
		{"change item clears the old attestation", &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM, LineId: "1", ItemCode: "XA10BAD9029A001010199930", ItemName: "二甲双胍缓释片"}, func(t *testing.T, out *rxguardv1.CheckOrdersRequest) {
			l := line(out, "1")
			if l.ItemCode != "XA10BAD9029A001010199930" || l.ItemName != "二甲双胍缓释片" || l.RestrictionAttested {
				t.Errorf("changed line: %v", l)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := request()
			orig := proto.Clone(req)
			if err := Validate(req, c.fix); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			out, err := Apply(req, c.fix)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(req, orig) {
				t.Fatalf("Apply changed its input: %v", req)
			}
			if out.RequestId != "r1" {
				t.Errorf("the rest of the request should be kept: %v", out)
			}
			c.check(t, out)
		})
	}
}

func TestApplyErrors(t *testing.T) {
	q := func(id string, v float64) *rxguardv1.Fix {
		return &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY, LineId: id, Quantity: v}
	}
	only := &rxguardv1.CheckOrdersRequest{Orders: []*rxguardv1.OrderLine{{LineId: "1"}}}
	dup := &rxguardv1.CheckOrdersRequest{Orders: []*rxguardv1.OrderLine{{LineId: "1"}, {LineId: "1"}}}
	cases := []struct {
		name  string
		req   *rxguardv1.CheckOrdersRequest
		fix   *rxguardv1.Fix
		kind  error
		field string
	}{
		{"no request", nil, q("1", 1), ErrInvalidValue, "request"},
		{"no fix", request(), nil, ErrInvalidValue, "fix"},
		{"unspecified kind", request(), &rxguardv1.Fix{LineId: "1"}, ErrUnknownKind, "fix.kind"},
		{"kind from a newer version", request(), &rxguardv1.Fix{Kind: 99, LineId: "1"}, ErrUnknownKind, "fix.kind"},
		{"empty line id", request(), q("", 1), ErrUnknownLine, "fix.line_id"},
		{"line not in the order", request(), q("9", 1), ErrUnknownLine, "fix.line_id"},
		{"ambiguous line id", dup, &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "1"}, ErrUnknownLine, "fix.line_id"},
		{"NaN quantity", request(), q("2", math.NaN()), ErrInvalidValue, "fix.quantity"},
		{"infinite quantity", request(), q("3", math.Inf(1)), ErrInvalidValue, "fix.quantity"},
		{"zero quantity", request(), q("2", 0), ErrInvalidValue, "fix.quantity"},
		{"negative quantity", request(), q("2", -1), ErrInvalidValue, "fix.quantity"},
		{"a reduction that raises", request(), q("2", 3), ErrInvalidValue, "fix.quantity"},
		{"zero days", request(), &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS, LineId: "1"}, ErrInvalidValue, "fix.days"},
		{"more days", request(), &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS, LineId: "1", Days: 91}, ErrInvalidValue, "fix.days"},
		{"remove the only line", only, &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: "1"}, ErrEmptyOrder, "fix.line_id"},
		{"change to nothing", request(), &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM, LineId: "1"}, ErrInvalidValue, "fix.item_code"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Apply(c.req, c.fix)
			if out != nil || err == nil {
				t.Fatalf("Apply = %v, %v; want an error", out, err)
			}
			var fe *Error
			if !errors.As(err, &fe) || !errors.Is(err, c.kind) || fe.Field != c.field {
				t.Fatalf("error %v (%T): want kind %v on field %s", err, err, c.kind, c.field)
			}
			if !strings.HasPrefix(err.Error(), c.field+": ") {
				t.Errorf("message %q should start with the field path", err)
			}
			if v := Validate(c.req, c.fix); v == nil || v.Error() != err.Error() {
				t.Errorf("Validate = %v, want Apply's %v", v, err)
			}
		})
	}
}

// FuzzApply: whatever the fix, Apply never panics, never changes its input,
// and on success changes exactly the named line (or removes it).
func FuzzApply(f *testing.F) {
	f.Add(int32(1), "2", 1.0, int32(0), "")
	f.Add(int32(2), "1", 0.0, int32(30), "")
	f.Add(int32(3), "3", 0.0, int32(0), "")
	f.Add(int32(4), "3", 0.0, int32(0), "")
	f.Add(int32(5), "2", 0.0, int32(0), "")
	f.Add(int32(6), "1", 0.0, int32(0), "XA10BAD9029A001010199930")
	f.Add(int32(0), "", math.NaN(), int32(-1), "")
	f.Add(int32(-7), "9", math.Inf(-1), int32(1<<30), "\x00")
	f.Fuzz(func(t *testing.T, kind int32, lineID string, qty float64, days int32, code string) {
		req := request()
		orig := proto.Clone(req)
		out, err := Apply(req, &rxguardv1.Fix{Kind: rxguardv1.FixKind(kind), LineId: lineID, Quantity: qty, Days: days, ItemCode: code})
		if !proto.Equal(req, orig) {
			t.Fatalf("Apply changed its input")
		}
		if err != nil {
			var fe *Error
			if out != nil || !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("failure %v with result %v", err, out)
			}
			return
		}
		removed := rxguardv1.FixKind(kind) == rxguardv1.FixKind_FIX_KIND_REMOVE_LINE
		if want := len(req.Orders) - map[bool]int{true: 1}[removed]; len(out.Orders) != want {
			t.Fatalf("%d lines after the fix, want %d", len(out.Orders), want)
		}
		changed := 0
		for _, o := range out.Orders {
			if o.LineId == lineID && removed {
				t.Fatalf("line %q not removed", lineID)
			}
			for _, p := range req.Orders {
				if p.LineId == o.LineId && !proto.Equal(p, o) {
					if o.LineId != lineID {
						t.Fatalf("line %q changed by a fix for %q", o.LineId, lineID)
					}
					changed++
				}
			}
		}
		if o := out.Orders; rxguardv1.FixKind(kind) == rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY {
			for _, l := range o {
				if l.LineId == lineID && (l.Quantity != qty || !(qty > 0)) {
					t.Fatalf("quantity %v after reducing to %v", l.Quantity, qty)
				}
			}
		}
		if changed > 1 {
			t.Fatalf("%d lines changed", changed)
		}
	})
}

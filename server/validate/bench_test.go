package validate

import "testing"

// BenchmarkCheckOrders is the cost a valid request adds to every check.
func BenchmarkCheckOrders(b *testing.B) {
	req := validRequest(10, 20)
	lim := DefaultLimits()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckOrders(req, lim, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckOrdersMaxLines bounds the worst accepted shape.
func BenchmarkCheckOrdersMaxLines(b *testing.B) {
	req := validRequest(200, 2000)
	lim := DefaultLimits()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckOrders(req, lim, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckOrdersAllInvalid is the error path at its worst: every field
// of every line wrong. Past the detail budget violations are only counted.
func BenchmarkCheckOrdersAllInvalid(b *testing.B) {
	req := validRequest(200, 0)
	for _, o := range req.Orders {
		o.LineId, o.ItemCode, o.Kind, o.Quantity, o.Days = "", "", 0, -1, -1
	}
	lim := DefaultLimits()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckOrders(req, lim, testNow); err == nil {
			b.Fatal("no error")
		}
	}
}

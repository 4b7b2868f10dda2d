package benchorder

import (
	"testing"
	"time"

	"github.com/rxguard/rxguard/server/validate"
)

// Every order size passes the sidecar's own validation.
func TestOrdersAreValid(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c] {
			t.Fatalf("code %s listed twice", c)
		}
		seen[c] = true
	}
	for _, n := range []int{1, 10, 50} {
		req := Order(n)
		if len(req.Orders) != n {
			t.Fatalf("Order(%d) has %d lines", n, len(req.Orders))
		}
		if _, err := validate.CheckOrders(req, validate.DefaultLimits(), time.Now()); err != nil {
			t.Errorf("Order(%d): %v", n, err)
		}
	}
}

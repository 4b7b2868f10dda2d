package synth

import (
	"fmt"
	"strconv"

	"github.com/rxguard/rxguard/knowledge"
)

// Revise changes n records of c in place, the way a bureau's revision
// does: eight in ten are restrictions whose published description is
// revised (a replace), one in ten is a new restriction cloned from an
// existing one under a new code (an add), the rest are restrictions
// withdrawn (a delete). The same content, n and seed give the same
// revision; the release built from c afterwards differs from the one before
// by exactly n records.
func Revise(c *knowledge.Content, n int, seed uint64) error {
	if n < 0 {
		return fmt.Errorf("synth: delta records (%d) must not be negative", n)
	}
	adds := n / 10
	replaces := n * 8 / 10
	deletes := n - adds - replaces
	if replaces+deletes > len(c.Restrictions) {
		return fmt.Errorf("synth: a %d-record delta revises or withdraws %d restrictions, the release has only %d; ask for fewer -delta-records",
			n, replaces+deletes, len(c.Restrictions))
	}
	g := newGenerator(c, seed)
	picked := g.rng.Perm(len(c.Restrictions))[:replaces+deletes]
	tag := "（修订 " + strconv.FormatUint(seed, 10) + "）"
	for _, i := range picked[:replaces] {
		c.Restrictions[i].Description += tag
	}
	drop := make(map[int]bool, deletes)
	for _, i := range picked[replaces:] {
		drop[i] = true
	}
	kept := c.Restrictions[:0:0]
	for i := range c.Restrictions {
		if !drop[i] {
			kept = append(kept, c.Restrictions[i])
		}
	}
	c.Restrictions = kept
	return g.restrictions(c, adds)
}

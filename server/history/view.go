package history

import (
	"context"
	"slices"
	"time"
)

// View is a patient's entries as Lookup returns them (oldest first,
// read-only: possibly the cache's own), with what lets Filter cost the
// patient's distinct item codes instead of all their entries: a long-stay
// inpatient's 10,000 entries are on a few hundred items, of which an
// order's rules read a handful (issue 14).
type View struct {
	entries []Entry // read-only; capacity = length
	off     int     // entries[0] is the indexed history's entry off
	codes   *codeIndex
}

// codeIndex lists the positions of each item code in a cached history.
// Built once when the history is cached and never written after, like the
// history itself.
type codeIndex struct {
	codes []string
	pos   [][]int32 // ascending, per code; sub-slices of one array
}

func indexCodes(hist []Entry) *codeIndex {
	at := make(map[string]int, 16)
	var count []int32
	ci := &codeIndex{}
	for i := range hist {
		k, ok := at[hist[i].ItemCode]
		if !ok {
			k = len(ci.codes)
			at[hist[i].ItemCode] = k
			ci.codes = append(ci.codes, hist[i].ItemCode)
			count = append(count, 0)
		}
		count[k]++
	}
	all := make([]int32, len(hist))
	ci.pos = make([][]int32, len(ci.codes))
	next := 0
	for k, n := range count {
		ci.pos[k] = all[next : next : next+int(n)]
		next += int(n)
	}
	for i := range hist {
		k := at[hist[i].ItemCode]
		ci.pos[k] = append(ci.pos[k], int32(i))
	}
	return ci
}

// ViewOf is a view of entries (read-only, not indexed) from elsewhere.
func ViewOf(entries []Entry) View { return View{entries: entries[:len(entries):len(entries)]} }

// codeRun is the positions pos[k][a:b] of code k that Filter keeps.
type codeRun struct{ k, a, b int }

// Len is the number of entries.
func (v View) Len() int { return len(v.entries) }

// Entries returns the entries, oldest first. The slice is read-only (see
// Lookup).
func (v View) Entries() []Entry { return v.entries }

// Filter returns, oldest first as in Entries, the entries whose item code
// keep accepts, in a new slice the caller owns: Entries()[p] for each p of
// Positions. A caller that only reads them saves the copy with Positions.
func (v View) Filter(keep func(code string) bool) []Entry {
	pos := v.Positions(keep, nil)
	if len(pos) == 0 {
		return nil
	}
	out := make([]Entry, len(pos))
	for i, p := range pos {
		out[i] = v.entries[p]
	}
	return out
}

// Positions appends to dst, ascending (oldest first), the positions in
// Entries of the entries whose item code keep accepts. The entries are not
// copied: a check reads the few hundred an order's rules need in place
// instead of copying ~100 kB of string-holding structs, with their GC
// write barriers, twice (issue 14). keep is called at most once per
// distinct item code when the view is indexed (served from the cache),
// else once per entry; it must not retain or change anything.
func (v View) Positions(keep func(code string) bool, dst []int32) []int32 {
	if len(v.entries) == 0 {
		return dst
	}
	if v.codes == nil {
		for i := range v.entries {
			if keep(v.entries[i].ItemCode) {
				dst = append(dst, int32(i))
			}
		}
		return dst
	}
	lo, hi := int32(v.off), int32(v.off+len(v.entries))
	// First the kept codes' ranges (on the stack for a usual order), so
	// the positions are gathered into one allocation.
	var buf [32]codeRun
	runs, total := buf[:0], 0
	for k, code := range v.codes.codes {
		ps := v.codes.pos[k]
		if ps[len(ps)-1] < lo || ps[0] >= hi || !keep(code) {
			continue
		}
		a, _ := slices.BinarySearch(ps, lo)
		b, _ := slices.BinarySearch(ps, hi)
		runs = append(runs, codeRun{k, a, b})
		total += b - a
	}
	if total == 0 {
		return dst
	}
	start := len(dst)
	dst = slices.Grow(dst, total)
	if total == len(v.entries) {
		// Every entry kept (an order's own items, as usual for a short
		// history): the positions are all of them, with no sort.
		for i := range total {
			dst = append(dst, int32(i))
		}
		return dst
	}
	for _, r := range runs {
		for _, p := range v.codes.pos[r.k][r.a:r.b] {
			dst = append(dst, p-lo)
		}
	}
	if len(runs) > 1 {
		slices.Sort(dst[start:])
	}
	return dst
}

// LookupView is Lookup as a View, for callers that read only some item
// codes (Filter).
func (s *Store) LookupView(ctx context.Context, patientID string, since, until time.Time) (View, error) {
	return s.lookup(ctx, patientID, since, until)
}

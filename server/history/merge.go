package history

import (
	"cmp"
	"slices"
)

// Merge returns request followed by the recorded entries that are not
// already in request, in their given order. A recorded entry is "already
// in request" when some request entry has the same item code, the same
// encounter id and a Time in the same second (the HIS's history carries no
// line id, and its times may be rounded to the second). Every such recorded
// entry is dropped, even if several match one request entry. Request
// entries are never dropped, duplicates among them included: the HIS's
// history is taken as sent. The result is a new slice.
func Merge(request, recorded []Entry) []Entry {
	out := make([]Entry, 0, len(request)+len(recorded))
	out = append(out, request...)
	if len(request) == 0 || len(recorded) == 0 {
		return append(out, recorded...)
	}
	var buf [64]secondEntry
	x := indexBySecond(request, buf[:])
	for i := range recorded {
		if r := &recorded[i]; !x.has(request, r.Time.Unix(), r.ItemCode, r.EncounterID) {
			out = append(out, recorded[i])
		}
	}
	return out
}

// NotInRequest is Merge's result after request, computed in place: it
// compacts recorded, which the caller owns and must not use otherwise
// afterwards, to the entries not already in request, in their order. A
// caller that needs only the recorded part saves Merge's copy of both.
func NotInRequest(request, recorded []Entry) []Entry {
	if len(request) == 0 || len(recorded) == 0 {
		return recorded
	}
	var buf [64]secondEntry
	x := indexBySecond(request, buf[:])
	n := 0
	for i := range recorded {
		if r := &recorded[i]; !x.has(request, r.Time.Unix(), r.ItemCode, r.EncounterID) {
			recorded[n] = recorded[i]
			n++
		}
	}
	clear(recorded[n:]) // no stale strings kept alive past the result
	return recorded[:n]
}

// NotInRequestAt is NotInRequest for the entries at positions pos of
// recorded, which is only read (a cached view's entries): it compacts pos,
// which the caller owns, to the positions of the entries not already in
// request, in their order. code, if not nil, maps a recorded item code to
// the form request's codes are in (entries recorded before codes were
// canonicalised compare canonical); it must not allocate for codes already
// in that form.
func NotInRequestAt(request, recorded []Entry, pos []int32, code func(string) string) []int32 {
	if len(request) == 0 || len(pos) == 0 {
		return pos
	}
	var buf [64]secondEntry
	x := indexBySecond(request, buf[:])
	// A recorded entry outside the seconds the request spans is in no
	// request entry: most of a long stay's are, and cost a comparison.
	first, last := x[0].sec, x[len(x)-1].sec
	n := 0
	for _, p := range pos {
		r := &recorded[p]
		sec := r.Time.Unix()
		if sec < first || sec > last {
			pos[n] = p
			n++
			continue
		}
		c := r.ItemCode
		if code != nil {
			c = code(c)
		}
		if !x.has(request, sec, c, r.EncounterID) {
			pos[n] = p
			n++
		}
	}
	return pos[:n]
}

// secondIndex is the request's entries sorted by their second, so a
// recorded entry finds the request entries of its second by a binary
// search over integers (no hashing, no map to build) and compares strings
// only with those.
type secondIndex []secondEntry

type secondEntry struct {
	sec int64
	i   int32 // index into request
}

// indexBySecond indexes request by second, in buf when it has room (a
// usual request's history[] fits on the caller's stack).
func indexBySecond(request []Entry, buf []secondEntry) secondIndex {
	x := buf[:0]
	for i := range request {
		x = append(x, secondEntry{sec: request[i].Time.Unix(), i: int32(i)})
	}
	slices.SortFunc(x, func(a, b secondEntry) int { return cmp.Compare(a.sec, b.sec) })
	return x
}

// has reports whether some request entry has code and encounter and a
// time in second sec.
func (x secondIndex) has(request []Entry, sec int64, code, encounter string) bool {
	k, _ := slices.BinarySearchFunc(x, sec, func(e secondEntry, s int64) int { return cmp.Compare(e.sec, s) })
	for ; k < len(x) && x[k].sec == sec; k++ {
		if q := &request[x[k].i]; q.ItemCode == code && q.EncounterID == encounter {
			return true
		}
	}
	return false
}

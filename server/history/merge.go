package history

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
	bySec, prev := indexBySecond(request)
	for i := range recorded {
		if !inRequest(request, prev, bySec, &recorded[i]) {
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
	bySec, prev := indexBySecond(request)
	n := 0
	for i := range recorded {
		if !inRequest(request, prev, bySec, &recorded[i]) {
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
	bySec, prev := indexBySecond(request)
	n := 0
	for _, p := range pos {
		r := &recorded[p]
		c := r.ItemCode
		if code != nil {
			c = code(c)
		}
		if !inRequestAs(request, prev, bySec, c, r) {
			pos[n] = p
			n++
		}
	}
	return pos[:n]
}

// indexBySecond indexes request by second: integer keys hash and compare
// far cheaper than strings, which are then compared only within a second.
func indexBySecond(request []Entry) (bySec map[int64]int32, prev []int32) {
	bySec = make(map[int64]int32, len(request)) // second → 1 + index of the last request entry in it
	prev = make([]int32, len(request))          // 1 + index of the previous one in the same second; 0 ends
	for i := range request {
		sec := request[i].Time.Unix()
		prev[i] = bySec[sec]
		bySec[sec] = int32(i + 1)
	}
	return bySec, prev
}

func inRequest(request []Entry, prev []int32, bySec map[int64]int32, r *Entry) bool {
	return inRequestAs(request, prev, bySec, r.ItemCode, r)
}

// inRequestAs is inRequest for r judged with item code code.
func inRequestAs(request []Entry, prev []int32, bySec map[int64]int32, code string, r *Entry) bool {
	for j := bySec[r.Time.Unix()]; j != 0; j = prev[j-1] {
		q := &request[j-1]
		if q.ItemCode == code && q.EncounterID == r.EncounterID {
			return true
		}
	}
	return false
}

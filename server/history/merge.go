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
	for j := bySec[r.Time.Unix()]; j != 0; j = prev[j-1] {
		q := &request[j-1]
		if q.ItemCode == r.ItemCode && q.EncounterID == r.EncounterID {
			return true
		}
	}
	return false
}

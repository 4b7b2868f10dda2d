package decisionlog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// idLen is a decision id's binary length (a UUID).
const idLen = 16

type id [idLen]byte

// idGen is the process-wide state that makes NewID monotonic.
var idGen struct {
	mu   sync.Mutex
	last id // the previous id; zero before the first
}

// NewID returns a new decision id: a UUIDv7 (RFC 9562) in its canonical
// 36-character form, e.g. "01890a5d-ac96-774b-bcce-b302099a8057".
//
// The first 48 bits are the Unix time in milliseconds of now, so ids sort
// (as strings and as bytes) in time order, and the decision log serves time
// ranges from that order. The remaining 74 bits (after the version and
// variant) are random from crypto/rand, which makes ids unique across
// sidecars. Within a process ids are strictly increasing (RFC 9562 §6.2,
// method 2, with the whole random part as the counter): an id made in the
// same millisecond as the previous one, or while the clock stepped back,
// is the previous one plus one, keeping its timestamp.
func NewID(now time.Time) string {
	ms := uint64(now.UnixMilli())
	if now.Before(time.Unix(0, 0)) {
		ms = 0
	}
	var u id
	idGen.mu.Lock()
	lastMS := idGen.last.millis()
	if ms > lastMS {
		putMillis(&u, ms)
		if _, err := rand.Read(u[6:]); err != nil {
			// crypto/rand does not fail on supported platforms (Go 1.24+
			// crashes the program instead); keep monotonic regardless.
			u = idGen.last
			u.increment()
		}
	} else {
		u = idGen.last
		u.increment()
	}
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // variant 10
	idGen.last = u
	idGen.mu.Unlock()
	return u.String()
}

// millis is the id's Unix time in milliseconds.
func (u *id) millis() uint64 {
	return uint64(u[0])<<40 | uint64(u[1])<<32 | uint64(u[2])<<24 | uint64(u[3])<<16 | uint64(u[4])<<8 | uint64(u[5])
}

func putMillis(u *id, ms uint64) {
	for i := 5; i >= 0; i-- {
		u[i] = byte(ms)
		ms >>= 8
	}
}

// increment adds one to the 74 random bits (skipping the version and
// variant bits); on overflow it moves to the next millisecond.
func (u *id) increment() {
	// Byte 15 … 9 are fully random; byte 8 has 6 random bits, byte 7 all
	// 8, byte 6 the low 4.
	for i := 15; i >= 9; i-- {
		u[i]++
		if u[i] != 0 {
			return
		}
	}
	if u[8]&0x3f != 0x3f {
		u[8]++
		return
	}
	u[8] &^= 0x3f
	u[7]++
	if u[7] != 0 {
		return
	}
	if u[6]&0x0f != 0x0f {
		u[6]++
		return
	}
	u[6] &^= 0x0f
	ms := u.millis() + 1
	putMillis(u, ms)
}

// Time is the id's timestamp (millisecond resolution).
func (u *id) Time() time.Time { return time.UnixMilli(int64(u.millis())) }

// String formats the id as 8-4-4-4-12 lower-case hex.
func (u id) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

var errBadID = errors.New("not a UUID (8-4-4-4-12 hex digits)")

// parseID parses a canonical UUID (either case). It accepts any version:
// the log only relies on the leading 48-bit timestamp, which every id it
// writes has.
func parseID(s string) (id, error) {
	var u id
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, errBadID
	}
	// Hex digits in pairs within each group: a dash anywhere else is not a
	// digit (skipping it would misalign the pairs and run off the end).
	j := 0
	for _, g := range idGroups {
		for i := g[0]; i < g[1]; i += 2 {
			hi, ok1 := fromHex(s[i])
			lo, ok2 := fromHex(s[i+1])
			if !ok1 || !ok2 {
				return u, errBadID
			}
			u[j] = hi<<4 | lo
			j++
		}
	}
	return u, nil
}

// idGroups are the [start, end) offsets of a UUID's five groups of hex
// digits.
var idGroups = [...][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// floorID is the smallest id with t's millisecond: [floorID(from),
// floorID(to)) holds exactly the ids made in [from, to) at millisecond
// resolution.
func floorID(t time.Time) id {
	var u id
	if ms := t.UnixMilli(); ms > 0 {
		putMillis(&u, uint64(ms))
	}
	return u
}

// maxID is above every id.
var maxID = id{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

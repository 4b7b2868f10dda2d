package engine

import (
	"strconv"
	"strings"
	"time"

	"github.com/rxguard/rxguard/knowledge"
)

// text is the per-check arena the findings' texts (rule ids, messages,
// evidence, suggestions, fix labels) are built in. A 10-line order with
// ten findings builds some fifty such strings; made by `+` each is its own
// allocation, which was a third of a check's time. Here they share a few
// chunks: each chunk is a strings.Builder grown once to its size, and a
// text is a substring of its String(). A Builder only ever appends past
// its end and never changes bytes a String() already covers, and a chunk
// is only replaced (never grown) when it is full, so every text stays
// valid and unchanged for as long as anything refers to it.
type text struct {
	chunk strings.Builder
	// first is the first chunk's size: about 1 KiB per order line (a
	// 10-line order with ten findings writes 8.5 KiB). Later chunks
	// double, up to textChunkMax; a longer text gets a chunk of its own.
	first int
}

const textChunkMax = 16 << 10

// textFirstChunk sizes the first chunk for an order of n lines.
func textFirstChunk(n int) int { return min(max(n+1, 2)<<10, textChunkMax) }

// reserve makes room for n more bytes in the current chunk.
func (t *text) reserve(n int) {
	if t.chunk.Cap()-t.chunk.Len() >= n {
		return
	}
	size := t.first
	if c := t.chunk.Cap(); c > 0 {
		size = min(2*c, textChunkMax)
	}
	t.chunk = strings.Builder{}
	t.chunk.Grow(max(size, n))
}

// since is what was written since start, as a string sharing the chunk.
func (t *text) since(start int) string { return t.chunk.String()[start:] }

// cat is parts joined, built in the check's arena.
func (ev *evaluation) cat(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return ""
	}
	t := &ev.text
	t.reserve(n)
	start := t.chunk.Len()
	for _, p := range parts {
		t.chunk.WriteString(p)
	}
	return t.since(start)
}

// bytes is string(b), built in the check's arena.
func (ev *evaluation) bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	t := &ev.text
	t.reserve(len(b))
	start := t.chunk.Len()
	t.chunk.Write(b)
	return t.since(start)
}

// itoa is strconv.Itoa in the check's arena.
func (ev *evaluation) itoa(n int) string {
	if 0 <= n && n < 100 {
		return strconv.Itoa(n) // small numbers are static strings
	}
	var buf [24]byte
	return ev.bytes(strconv.AppendInt(buf[:0], int64(n), 10))
}

// dayText is dayString in the check's arena.
func (ev *evaluation) dayText(day int) string {
	return ev.timeText(time.Unix(int64(day)*86400, 0).UTC(), "2006-01-02")
}

// timeText is tm.Format(layout) in the check's arena.
func (ev *evaluation) timeText(tm time.Time, layout string) string {
	var buf [48]byte
	return ev.bytes(tm.AppendFormat(buf[:0], layout))
}

// textFor is ev's arena, or for work outside a check (Explain) a text of
// its own.
func textFor(ev *evaluation) *text {
	if ev == nil {
		return &text{}
	}
	return &ev.text
}

// begin reserves n bytes for one text and returns where it starts; the
// caller writes it into t.chunk and takes it with t.since(start).
func (t *text) begin(n int) int {
	t.reserve(n)
	return t.chunk.Len()
}

// restrictionKey is r.Key() (a finding's rule_id) in the check's arena.
func (ev *evaluation) restrictionKey(r *knowledge.Restriction) string {
	if r.Type == knowledge.RuleDuplicateCharge {
		return ev.cat(string(r.Type), "/", r.Code, "/", r.PrimaryCode, "/", string(r.Window))
	}
	return ev.cat(string(r.Type), "/", r.Code)
}

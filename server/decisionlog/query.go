package decisionlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Query selects decisions (QueryDecisionsRequest with parsed times). Every
// filter set must match; the time range is [From, To) at millisecond
// resolution, by the decision id's timestamp. The physician and department
// codes match in canonical form (knowledge.CanonicalCode) on both sides:
// " d370800000001" finds the decisions sent with "D370800000001 ".
type Query struct {
	From, To       time.Time // zero: unbounded
	PhysicianCode  string
	DepartmentCode string // the encounter's department, else the physician's
	PatientID      string
	Verdict        rxguardv1.Verdict // VERDICT_UNSPECIFIED: any
	RuleType       string            // some finding has this rule_type
	// UnansweredOnly: some overridable WARN/BLOCK finding has no response.
	UnansweredOnly bool
	// PageSize: 0 means DefaultPageSize; at most MaxPageSize.
	PageSize int
	// PageToken continues a previous Query with the same filters.
	PageToken string
}

// Page sizes of Query.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// exportPage: Export reads this many decisions per transaction.
const exportPage = 256

// ctxEvery: loops check their context every this many steps.
const ctxEvery = 64

// Get returns one decision with its responses and signed lines;
// ErrDecisionNotFound if there is none (or it expired). A decision
// appended in Async mode is visible once its group is committed (Flush).
func (l *Log) Get(ctx context.Context, decisionID string) (*rxguardv1.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, err := parseID(decisionID)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrDecisionNotFound, decisionID)
	}
	db, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer l.life.Leave()
	txn := db.NewTransaction(false)
	defer txn.Discard()
	d, _, err := loadDecision(txn, &u, decisionID)
	return d, err
}

// Query returns the decisions matching q, newest first, a page at a time:
// nextPageToken is empty on the last page. It is served from the secondary
// indexes (several filters are intersected on them), so it reads only the
// decisions it returns; without filters it walks the decisions in id
// order. ErrBadPageToken for a token not issued for q's filters.
func (l *Log) Query(ctx context.Context, q Query) (decisions []*rxguardv1.Decision, nextPageToken string, err error) {
	size := q.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	q.canonicalize() // the page token is issued for the canonical filters
	more, err := l.walk(ctx, q, size, func(d *rxguardv1.Decision) { decisions = append(decisions, d) })
	if err != nil || !more {
		return decisions, "", err
	}
	last, _ := parseID(decisions[len(decisions)-1].DecisionId)
	return decisions, q.token(&last), nil
}

// scan calls fn for every decision matching q's filters and range (not
// its page size or token), newest first, in one transaction.
func (l *Log) scan(ctx context.Context, q Query, fn func(*rxguardv1.Decision)) error {
	q.PageToken = ""
	_, err := l.walk(ctx, q, 0, fn)
	return err
}

// walk calls fn for the decisions matching q (from its page token), newest
// first, in one transaction, and stops after limit of them (0: no limit);
// more reports whether another one follows. The next match is found before
// a decision is loaded, so that look-ahead costs no read.
func (l *Log) walk(ctx context.Context, q Query, limit int, fn func(*rxguardv1.Decision)) (more bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	q.canonicalize()
	lower, upper, err := q.bounds()
	if err != nil {
		return false, err
	}
	db, err := l.enter()
	if err != nil {
		return false, err
	}
	defer l.life.Leave()
	txn := db.NewTransaction(false)
	defer txn.Discard()
	m := newMatcher(txn, &q, lower, upper)
	defer m.close()
	n := 0
	for steps := 0; ; steps++ {
		if steps%ctxEvery == ctxEvery-1 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		u, ok := m.next()
		if !ok {
			return false, nil
		}
		if limit > 0 && n == limit {
			return true, nil
		}
		d, _, err := loadDecision(txn, &u, "")
		if errors.Is(err, ErrDecisionNotFound) {
			continue // an index key whose decision expired a moment before it
		}
		if err != nil {
			return false, err
		}
		fn(d)
		n++
	}
}

// Export writes every decision matching q (from its page token, if any;
// its page size is ignored) to w as JSON Lines, newest first: one
// protojson Decision (with its responses) per line. It streams: memory
// does not grow with the number of decisions. It returns how many it
// wrote.
func (l *Log) Export(ctx context.Context, q Query, w io.Writer) (n int, err error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	q.PageSize = exportPage
	var line []byte
	for {
		decs, next, err := l.Query(ctx, q)
		if err != nil {
			return n, err
		}
		for _, d := range decs {
			line, err = protojson.MarshalOptions{}.MarshalAppend(line[:0], d)
			if err != nil {
				return n, fmt.Errorf("export decision %s: %w", d.DecisionId, err)
			}
			line = append(line, '\n')
			if _, err := bw.Write(line); err != nil {
				return n, err
			}
			n++
		}
		if next == "" {
			return n, bw.Flush()
		}
		q.PageToken = next
	}
}

// canonicalize puts q's codes in the form they are indexed in (before its
// filters are hashed for a page token, too).
func (q *Query) canonicalize() {
	q.PhysicianCode, q.DepartmentCode = canonical(q.PhysicianCode), canonical(q.DepartmentCode)
}

// bounds is q's id range [lower, upper), narrowed by its page token.
func (q *Query) bounds() (lower, upper id, err error) {
	upper = maxID
	if !q.To.IsZero() {
		upper = floorID(q.To)
	}
	if !q.From.IsZero() {
		lower = floorID(q.From)
	}
	if q.PageToken != "" {
		last, err := q.parseToken(q.PageToken)
		if err != nil {
			return lower, upper, err
		}
		if bytes.Compare(last[:], upper[:]) < 0 {
			upper = last
		}
	}
	return lower, upper, nil
}

// A page token is base64url of: version byte, the last id returned, and a
// hash of the filters it was issued for.
const tokenVersion = 1

func (q *Query) filterHash() uint64 {
	h := fnv.New64a()
	var b []byte
	for _, s := range []string{q.PhysicianCode, q.DepartmentCode, q.PatientID, q.RuleType} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(q.Verdict))
	if q.UnansweredOnly {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	from, to := floorID(q.From), floorID(q.To)
	b = append(b, from[:6]...)
	b = append(b, to[:6]...)
	h.Write(b)
	return h.Sum64()
}

func (q *Query) token(last *id) string {
	b := make([]byte, 0, 1+idLen+8)
	b = append(b, tokenVersion)
	b = append(b, last[:]...)
	b = binary.BigEndian.AppendUint64(b, q.filterHash())
	return base64.RawURLEncoding.EncodeToString(b)
}

func (q *Query) parseToken(s string) (id, error) {
	var u id
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 1+idLen+8 || b[0] != tokenVersion {
		return u, ErrBadPageToken
	}
	if binary.BigEndian.Uint64(b[1+idLen:]) != q.filterHash() {
		return u, fmt.Errorf("%w: it was issued for other filters", ErrBadPageToken)
	}
	copy(u[:], b[1:1+idLen])
	return u, nil
}

// matcher yields the ids matching a query, newest first: a leapfrog join
// of one reverse cursor per filter (or one over the decisions themselves
// without filters).
type matcher struct {
	cs           []*cursor
	lower, upper id
	started      bool
	done         bool
}

func newMatcher(txn *badger.Txn, q *Query, lower, upper id) *matcher {
	m := &matcher{lower: lower, upper: upper}
	add := func(prefix []byte) {
		m.cs = append(m.cs, newCursor(txn, prefix))
	}
	if q.PatientID != "" {
		add(appendIndexPrefix(nil, indexPatient, q.PatientID))
	}
	if q.PhysicianCode != "" {
		add(appendIndexPrefix(nil, indexPhysician, q.PhysicianCode))
	}
	if q.DepartmentCode != "" {
		add(appendIndexPrefix(nil, indexDepartment, q.DepartmentCode))
	}
	if q.RuleType != "" {
		add(appendIndexPrefix(nil, indexRuleType, q.RuleType))
	}
	if q.Verdict != rxguardv1.Verdict_VERDICT_UNSPECIFIED {
		add(appendIndexPrefix(nil, indexVerdict, verdictValue(q.Verdict)))
	}
	if q.UnansweredOnly {
		add(appendIndexPrefix(nil, indexUnanswered, ""))
	}
	if len(m.cs) == 0 {
		add([]byte{prefixDecision})
	}
	return m
}

func (m *matcher) close() {
	for _, c := range m.cs {
		c.it.Close()
	}
}

// next returns the next matching id below the previous one (below upper
// at first) and at least lower.
func (m *matcher) next() (id, bool) {
	if m.done {
		return id{}, false
	}
	if !m.started {
		m.started = true
		for _, c := range m.cs {
			c.seekBelow(&m.upper)
		}
	} else {
		for _, c := range m.cs {
			c.next()
		}
	}
	for {
		// The candidate is the smallest current id: no match can be above
		// it, since that cursor has nothing between it and the bound.
		var cand *id
		for _, c := range m.cs {
			if !c.valid {
				m.done = true
				return id{}, false
			}
			if cand == nil || bytes.Compare(c.cur[:], cand[:]) < 0 {
				cand = &c.cur
			}
		}
		if bytes.Compare(cand[:], m.lower[:]) < 0 {
			m.done = true
			return id{}, false
		}
		target := *cand
		agree := true
		for _, c := range m.cs {
			if c.cur != target {
				c.seekAtMost(&target)
				if !c.valid || c.cur != target {
					agree = false
				}
			}
		}
		if agree {
			return target, true
		}
	}
}

// cursor walks the ids under one key prefix, newest first.
type cursor struct {
	it     *badger.Iterator
	prefix []byte
	key    []byte // seek scratch
	cur    id
	valid  bool
}

func newCursor(txn *badger.Txn, prefix []byte) *cursor {
	return &cursor{it: txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: prefix}), prefix: prefix}
}

// seekAtMost moves to the largest id ≤ u.
func (c *cursor) seekAtMost(u *id) {
	c.key = append(append(c.key[:0], c.prefix...), u[:]...)
	c.it.Seek(c.key)
	c.read()
}

// seekBelow moves to the largest id < u.
func (c *cursor) seekBelow(u *id) {
	c.seekAtMost(u)
	if c.valid && c.cur == *u {
		c.next()
	}
}

func (c *cursor) next() {
	c.it.Next()
	c.read()
}

// read takes the id of the current key, skipping keys that are not
// prefix + id (a decision's responses under the 'd' prefix).
func (c *cursor) read() {
	for ; c.it.ValidForPrefix(c.prefix); c.it.Next() {
		k := c.it.Item().Key()
		if len(k) != len(c.prefix)+idLen {
			continue
		}
		copy(c.cur[:], k[len(c.prefix):])
		c.valid = true
		return
	}
	c.valid = false
}

// loadDecision reads decision u: its record, then its responses (keys
// seq 0, 1, … until one is missing) and signed lines. Point lookups, not
// an iterator's Seek: a Get consults each table's bloom filter and reads
// one block, where a Seek positions an iterator in every level.
func loadDecision(txn *badger.Txn, u *id, decisionID string) (*rxguardv1.Decision, uint64, error) {
	var kb [decisionKeyLen + 3]byte
	key := appendDecisionKey(kb[:0], u)
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		if decisionID == "" {
			decisionID = u.String()
		}
		return nil, 0, fmt.Errorf("%w: %s", ErrDecisionNotFound, decisionID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("decision %s: %w", u.String(), err)
	}
	exp := item.ExpiresAt()
	d := new(rxguardv1.Decision)
	if err := item.Value(func(v []byte) error { return decodeValue(v, d) }); err != nil {
		return nil, 0, fmt.Errorf("decision %s: %w", u.String(), err)
	}
	for seq := 0; seq < maxResponseRevisions; seq++ {
		item, err := txn.Get(appendResponseKey(kb[:0], u, uint16(seq)))
		if errors.Is(err, badger.ErrKeyNotFound) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("decision %s: response: %w", u.String(), err)
		}
		rr := new(rxguardv1.RecordedResponse)
		if err := item.Value(func(v []byte) error { return decodeValue(v, rr) }); err != nil {
			return nil, 0, fmt.Errorf("decision %s: response: %w", u.String(), err)
		}
		d.Responses = append(d.Responses, rr)
	}
	switch item, err := txn.Get(appendSignedKey(kb[:0], u)); {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return nil, 0, fmt.Errorf("decision %s: signed lines: %w", u.String(), err)
	default:
		var s rxguardv1.Decision
		if err := item.Value(func(v []byte) error { return decodeValue(v, &s) }); err != nil {
			return nil, 0, fmt.Errorf("decision %s: signed lines: %w", u.String(), err)
		}
		d.SignedLineIds = s.SignedLineIds
	}
	return d, exp, nil
}

// errCorrupt: a stored value does not decode.
var errCorrupt = errors.New("stored value does not decode")

// decodeValue decodes a stored value (keys.go has the versions) into m.
func decodeValue(v []byte, m proto.Message) error {
	if len(v) == 0 {
		return fmt.Errorf("%w: empty value", errCorrupt)
	}
	body := v[1:]
	switch v[0] {
	case valueVersion:
	case valueVersionS2:
		n, err := s2.DecodedLen(body)
		if err != nil {
			return fmt.Errorf("%w: s2 block header: %w", errCorrupt, err)
		}
		if n > maxDecodedValue {
			return fmt.Errorf("%w: s2 block claims %d bytes, more than %d", errCorrupt, n, maxDecodedValue)
		}
		// Decoded into its own buffer: v is Badger's (valid only in
		// item.Value) and m may keep slices of what it decodes.
		if body, err = s2.Decode(make([]byte, n), body); err != nil {
			return fmt.Errorf("%w: s2 block: %w", errCorrupt, err)
		}
	default:
		return fmt.Errorf("%w: unknown value version %d", errCorrupt, v[0])
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return nil
}

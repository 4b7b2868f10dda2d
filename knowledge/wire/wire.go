// Package wire moves releases and physician events between the bureau and
// the sidecar: the rxguard.bureau.v1 messages, release streams (full or
// delta) and release files. It proves what it receives (structure, counts,
// operation hash, resulting content hash, signature) before a caller may
// write anything.
package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/timestamppb"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/internal/yield"
	"github.com/rxguard/rxguard/knowledge"
)

var (
	// ErrMalformed: the stream or file is not a well-formed release
	// (chunks out of order, bad fields, limits exceeded).
	ErrMalformed = errors.New("malformed release stream")
	// ErrTruncated: the stream ended before its trailer, or the trailer
	// does not match what arrived.
	ErrTruncated = errors.New("release stream truncated or damaged in transfer")
	// ErrBase: a delta does not fit the release it is applied to (wrong
	// parent, or operations that contradict it).
	ErrBase = errors.New("delta does not apply to this release")
	// ErrContent: the records do not hash to the manifest's SHA-256.
	ErrContent = errors.New("release content does not match its manifest")
)

// Limits bound what a reader accepts from a stream or file.
type Limits struct {
	MaxOps        int // operations per release
	MaxValueBytes int // bytes per record value
	MaxKeyBytes   int // bytes per class or key
}

// DefaultLimits fit the national two libraries with ample room (the full
// official set is about 15 000 records).
func DefaultLimits() Limits {
	return Limits{MaxOps: 2_000_000, MaxValueBytes: 1 << 20, MaxKeyBytes: 512}
}

// DefaultBatchSize is how many operations a RecordBatch carries.
const DefaultBatchSize = 512

// ManifestToProto converts a manifest for the wire.
func ManifestToProto(m knowledge.Manifest) *bureauv1.Manifest {
	counts := make(map[string]int64, len(m.Counts))
	for c, n := range m.Counts {
		counts[string(c)] = int64(n)
	}
	return &bureauv1.Manifest{
		Version: m.Version, Parent: m.Parent, Created: timestamppb.New(m.Created),
		Publisher: m.Publisher, Description: m.Description, Counts: counts,
		RecordCount: int64(m.RecordCount), ContentSha256: m.ContentSHA256, Signature: m.Signature,
	}
}

// ManifestFromProto converts a manifest from the wire. The result is what
// the publisher signed when the conversion is exact (it is: TestManifestRoundTrip).
func ManifestFromProto(p *bureauv1.Manifest) (knowledge.Manifest, error) {
	if p == nil {
		return knowledge.Manifest{}, fmt.Errorf("%w: no manifest", ErrMalformed)
	}
	m := knowledge.Manifest{
		Version: p.GetVersion(), Parent: p.GetParent(), Publisher: p.GetPublisher(),
		Description: p.GetDescription(), RecordCount: int(p.GetRecordCount()),
		ContentSHA256: p.GetContentSha256(), Signature: p.GetSignature(),
		Counts: make(map[knowledge.Class]int, len(p.GetCounts())),
	}
	if p.GetCreated() != nil {
		if err := p.GetCreated().CheckValid(); err != nil {
			return m, fmt.Errorf("%w: manifest %s created: %v", ErrMalformed, m.Version, err)
		}
		m.Created = p.GetCreated().AsTime().UTC()
	} else {
		m.Created = time.Time{}
	}
	for c, n := range p.GetCounts() {
		m.Counts[knowledge.Class(c)] = int(n)
	}
	if m.Version == "" || len(m.ContentSHA256) != 64 || m.RecordCount < 0 {
		return m, fmt.Errorf("%w: manifest needs a version, a 64-digit content_sha256 and record_count ≥ 0", ErrMalformed)
	}
	return m, nil
}

// Op is one record operation of a release stream.
type Op struct {
	Kind   bureauv1.OpKind
	Record knowledge.Record // Value empty for DELETE
}

func cmpRecord(a, b knowledge.Record) int {
	if c := strings.Compare(string(a.Class), string(b.Class)); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}

// FullOps is a full release as operations: every record added.
func FullOps(records []knowledge.Record) []Op {
	ops := make([]Op, len(records))
	for i, r := range records {
		ops[i] = Op{Kind: bureauv1.OpKind_OP_KIND_ADD, Record: r}
	}
	return ops
}

// Diff returns the operations that turn base into target. Both must be
// sorted by (class, key), as store and knowledge produce them.
func Diff(base, target []knowledge.Record) []Op {
	var ops []Op
	i, j := 0, 0
	for i < len(base) || j < len(target) {
		switch {
		case j == len(target) || (i < len(base) && cmpRecord(base[i], target[j]) < 0):
			ops = append(ops, Op{Kind: bureauv1.OpKind_OP_KIND_DELETE, Record: knowledge.Record{Class: base[i].Class, Key: base[i].Key}})
			i++
		case i == len(base) || cmpRecord(base[i], target[j]) > 0:
			ops = append(ops, Op{Kind: bureauv1.OpKind_OP_KIND_ADD, Record: target[j]})
			j++
		default:
			if string(base[i].Value) != string(target[j].Value) {
				ops = append(ops, Op{Kind: bureauv1.OpKind_OP_KIND_REPLACE, Record: target[j]})
			}
			i++
			j++
		}
	}
	return ops
}

// Changes is Diff split: the records target adds or replaces (its
// records) and the ones it withdraws (base's, by class and key).
func Changes(base, target []knowledge.Record) (changed, withdrawn []knowledge.Record) {
	for _, op := range Diff(base, target) {
		if op.Kind == bureauv1.OpKind_OP_KIND_DELETE {
			withdrawn = append(withdrawn, op.Record)
		} else {
			changed = append(changed, op.Record)
		}
	}
	return changed, withdrawn
}

// Release is a release stream's content: header and operations.
type Release struct {
	Manifest knowledge.Manifest
	Kind     bureauv1.ReleaseKind
	// DELTA only: the release the operations apply to.
	BaseVersion string
	BaseSHA256  string
	Ops         []Op
}

// opsHasher hashes operations in stream order, length-prefixed.
type opsHasher struct {
	h   hash.Hash
	buf [8]byte
}

func newOpsHasher() *opsHasher { return &opsHasher{h: sha256.New()} }

func (o *opsHasher) field(b []byte) {
	binary.LittleEndian.PutUint64(o.buf[:], uint64(len(b)))
	o.h.Write(o.buf[:])
	o.h.Write(b)
}

func (o *opsHasher) add(op *bureauv1.RecordOp) {
	binary.LittleEndian.PutUint64(o.buf[:], uint64(op.GetKind()))
	o.h.Write(o.buf[:])
	o.field([]byte(op.GetClass()))
	o.field([]byte(op.GetKey()))
	o.field(op.GetValue())
}

func (o *opsHasher) sum() string { return hex.EncodeToString(o.h.Sum(nil)) }

// Send writes rel as chunks: a header, batches of batchSize operations and
// a trailer.
func Send(rel *Release, batchSize int, send func(*bureauv1.ReleaseChunk) error) error {
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	hdr := &bureauv1.ReleaseHeader{
		Manifest: ManifestToProto(rel.Manifest), Kind: rel.Kind,
		BaseVersion: rel.BaseVersion, BaseContentSha256: rel.BaseSHA256, OpCount: int64(len(rel.Ops)),
	}
	if err := send(&bureauv1.ReleaseChunk{Part: &bureauv1.ReleaseChunk_Header{Header: hdr}}); err != nil {
		return err
	}
	h := newOpsHasher()
	for start := 0; start < len(rel.Ops); start += batchSize {
		end := min(start+batchSize, len(rel.Ops))
		batch := &bureauv1.RecordBatch{Ops: make([]*bureauv1.RecordOp, 0, end-start)}
		for _, op := range rel.Ops[start:end] {
			p := &bureauv1.RecordOp{Kind: op.Kind, Class: string(op.Record.Class), Key: op.Record.Key, Value: op.Record.Value}
			h.add(p)
			batch.Ops = append(batch.Ops, p)
		}
		if err := send(&bureauv1.ReleaseChunk{Part: &bureauv1.ReleaseChunk_Batch{Batch: batch}}); err != nil {
			return err
		}
	}
	return send(&bureauv1.ReleaseChunk{Part: &bureauv1.ReleaseChunk_Trailer{Trailer: &bureauv1.ReleaseTrailer{
		OpCount: int64(len(rel.Ops)), OpsSha256: h.sum(),
	}}})
}

// Receive reads one release from recv (which returns io.EOF after the last
// chunk). It checks structure, limits, the operation count and hash; it
// does not check the signature or the content hash (see Apply and Verify).
func Receive(recv func() (*bureauv1.ReleaseChunk, error), lim Limits) (*Release, error) {
	first, err := recv()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty stream (no header)", ErrTruncated)
	}
	if err != nil {
		return nil, err
	}
	hdr := first.GetHeader()
	if hdr == nil {
		return nil, fmt.Errorf("%w: first chunk is not a header", ErrMalformed)
	}
	m, err := ManifestFromProto(hdr.GetManifest())
	if err != nil {
		return nil, err
	}
	rel := &Release{Manifest: m, Kind: hdr.GetKind(), BaseVersion: hdr.GetBaseVersion(), BaseSHA256: hdr.GetBaseContentSha256()}
	switch rel.Kind {
	case bureauv1.ReleaseKind_RELEASE_KIND_FULL:
		if rel.BaseVersion != "" || rel.BaseSHA256 != "" {
			return nil, fmt.Errorf("%w: a full release names a base release", ErrMalformed)
		}
	case bureauv1.ReleaseKind_RELEASE_KIND_DELTA:
		if rel.BaseVersion == "" || len(rel.BaseSHA256) != 64 {
			return nil, fmt.Errorf("%w: a delta needs base_version and a 64-digit base_content_sha256", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: release kind %v", ErrMalformed, rel.Kind)
	}
	want := hdr.GetOpCount()
	if want < 0 || want > int64(lim.MaxOps) {
		return nil, fmt.Errorf("%w: header announces %d operations (limit %d)", ErrMalformed, want, lim.MaxOps)
	}
	rel.Ops = make([]Op, 0, want)
	h := newOpsHasher()
	for {
		c, err := recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: stream ended after %d of %d operations without a trailer", ErrTruncated, len(rel.Ops), want)
		}
		if err != nil {
			return nil, err
		}
		switch part := c.GetPart().(type) {
		case *bureauv1.ReleaseChunk_Batch:
			for _, op := range part.Batch.GetOps() {
				if int64(len(rel.Ops)) >= want {
					return nil, fmt.Errorf("%w: more operations than the %d the header announced", ErrMalformed, want)
				}
				o, err := checkOp(op, rel.Kind, lim)
				if err != nil {
					return nil, fmt.Errorf("operation %d: %w", len(rel.Ops)+1, err)
				}
				h.add(op)
				rel.Ops = append(rel.Ops, o)
			}
		case *bureauv1.ReleaseChunk_Trailer:
			t := part.Trailer
			if t.GetOpCount() != int64(len(rel.Ops)) || int64(len(rel.Ops)) != want {
				return nil, fmt.Errorf("%w: %d operations arrived, header said %d, trailer %d", ErrTruncated, len(rel.Ops), want, t.GetOpCount())
			}
			if got := h.sum(); got != t.GetOpsSha256() {
				return nil, fmt.Errorf("%w: operations hash %s, trailer says %s", ErrTruncated, got[:12], short(t.GetOpsSha256()))
			}
			if _, err := recv(); !errors.Is(err, io.EOF) {
				if err != nil {
					return nil, err
				}
				return nil, fmt.Errorf("%w: data after the trailer", ErrMalformed)
			}
			return rel, nil
		default:
			return nil, fmt.Errorf("%w: a second header or an empty chunk after %d operations", ErrMalformed, len(rel.Ops))
		}
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return fmt.Sprintf("%q", s)
}

func checkOp(op *bureauv1.RecordOp, kind bureauv1.ReleaseKind, lim Limits) (Op, error) {
	switch {
	case op.GetClass() == "" || len(op.GetClass()) > lim.MaxKeyBytes:
		return Op{}, fmt.Errorf("%w: class must be 1–%d bytes", ErrMalformed, lim.MaxKeyBytes)
	case len(op.GetKey()) > lim.MaxKeyBytes:
		return Op{}, fmt.Errorf("%w: key of %s longer than %d bytes", ErrMalformed, op.GetClass(), lim.MaxKeyBytes)
	case len(op.GetValue()) > lim.MaxValueBytes:
		return Op{}, fmt.Errorf("%w: value of %s %q longer than %d bytes", ErrMalformed, op.GetClass(), op.GetKey(), lim.MaxValueBytes)
	}
	for i := 0; i < len(op.GetClass()); i++ {
		if op.GetClass()[i] == 0 {
			return Op{}, fmt.Errorf("%w: class contains a NUL byte", ErrMalformed)
		}
	}
	switch op.GetKind() {
	case bureauv1.OpKind_OP_KIND_ADD:
	case bureauv1.OpKind_OP_KIND_REPLACE, bureauv1.OpKind_OP_KIND_DELETE:
		if kind != bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
			return Op{}, fmt.Errorf("%w: %v in a full release", ErrMalformed, op.GetKind())
		}
		if op.GetKind() == bureauv1.OpKind_OP_KIND_DELETE && len(op.GetValue()) != 0 {
			return Op{}, fmt.Errorf("%w: DELETE with a value", ErrMalformed)
		}
	default:
		return Op{}, fmt.Errorf("%w: operation kind %v", ErrMalformed, op.GetKind())
	}
	return Op{Kind: op.GetKind(), Record: knowledge.Record{Class: knowledge.Class(op.GetClass()), Key: op.GetKey(), Value: op.GetValue()}}, nil
}

// Apply computes the release's records and proves them against its
// manifest (count, counts per class, SHA-256): for a full release its
// operations, for a delta the base records (sorted, as the store returns
// them) with the operations applied. base must be the release named by
// BaseVersion, with baseSHA256 its content hash. The signature is the
// caller's to check (knowledge.VerifyManifest): a release built here is
// not signed by a trusted key.
func (rel *Release) Apply(baseVersion, baseSHA256 string, base []knowledge.Record) ([]knowledge.Record, error) {
	records, err := rel.apply(baseVersion, baseSHA256, base)
	if err != nil {
		return nil, err
	}
	if err := verifyContent(rel.Manifest, records); err != nil {
		return nil, err
	}
	return records, nil
}

// SortedOps is rel's operations in record order, refusing two on one
// record (ErrMalformed). A bureau sends them in that order, so the (not
// yielding) sort is only paid for a stream that is not: checking is a
// yielding pass, and rel.Ops is then returned as it is.
func (rel *Release) SortedOps() ([]Op, error) {
	ops := rel.Ops
	sorted := true
	for i := 1; i < len(ops) && sorted; i++ {
		yield.Sometimes(i)
		sorted = cmpRecord(ops[i-1].Record, ops[i].Record) <= 0
	}
	if !sorted {
		ops = slices.Clone(rel.Ops)
		slices.SortStableFunc(ops, func(a, b Op) int { return cmpRecord(a.Record, b.Record) })
	}
	for i := 1; i < len(ops); i++ {
		yield.Sometimes(i)
		if cmpRecord(ops[i-1].Record, ops[i].Record) == 0 {
			return nil, fmt.Errorf("%w: two operations on %s %q", ErrMalformed, ops[i].Record.Class, ops[i].Record.Key)
		}
	}
	return ops, nil
}

func (rel *Release) apply(baseVersion, baseSHA256 string, base []knowledge.Record) ([]knowledge.Record, error) {
	ops, err := rel.SortedOps()
	if err != nil {
		return nil, err
	}
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_FULL {
		out := make([]knowledge.Record, len(ops))
		for i, op := range ops {
			yield.Sometimes(i)
			out[i] = op.Record
		}
		return out, nil
	}
	if rel.BaseVersion != baseVersion || rel.BaseSHA256 != baseSHA256 {
		return nil, fmt.Errorf("%w: release %s is a delta against %s (sha256 %s…), but the release here is %s (sha256 %s…); fetch the full release or the delta against %s",
			ErrBase, rel.Manifest.Version, rel.BaseVersion, short(rel.BaseSHA256), baseVersion, short(baseSHA256), baseVersion)
	}
	out := make([]knowledge.Record, 0, len(base)+len(ops))
	i := 0
	for _, op := range ops {
		for i < len(base) && cmpRecord(base[i], op.Record) < 0 {
			out = append(out, base[i])
			i++
			yield.Sometimes(i)
		}
		present := i < len(base) && cmpRecord(base[i], op.Record) == 0
		switch op.Kind {
		case bureauv1.OpKind_OP_KIND_ADD:
			if present {
				return nil, fmt.Errorf("%w: ADD of %s %q, which %s already has", ErrBase, op.Record.Class, op.Record.Key, baseVersion)
			}
			out = append(out, op.Record)
		case bureauv1.OpKind_OP_KIND_REPLACE, bureauv1.OpKind_OP_KIND_DELETE:
			if !present {
				return nil, fmt.Errorf("%w: %v of %s %q, which %s does not have", ErrBase, op.Kind, op.Record.Class, op.Record.Key, baseVersion)
			}
			if op.Kind == bureauv1.OpKind_OP_KIND_REPLACE {
				out = append(out, op.Record)
			}
			i++
		}
	}
	for ; i < len(base); i += yield.Batch {
		out = append(out, base[i:min(i+yield.Batch, len(base))]...)
		yield.Now()
	}
	return out, nil
}

// hashRecords is knowledge.HashRecords as a pass that yields: hashing
// 767,000 records in one call would hold a one-core sidecar's checks for
// its whole length. TestHashRecordsIsKnowledgeHash pins the two together.
func hashRecords(records []knowledge.Record) string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	// SHA-256's Write only reads its argument: a string's bytes are passed
	// as they are, not copied (3 allocations a record).
	str := func(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
	for i := range records {
		yield.Sometimes(i)
		r := &records[i]
		field(str(string(r.Class)))
		field(str(r.Key))
		field(r.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Verify proves that records are exactly the release m describes and that m
// is signed by one of the trusted keys. Callers write nothing before it
// returns nil.
func Verify(m knowledge.Manifest, records []knowledge.Record, trusted []ed25519.PublicKey) error {
	if err := knowledge.VerifyManifest(m, trusted); err != nil {
		return err
	}
	return verifyContent(m, records)
}

// verifyContent proves records against m's counts and SHA-256 (no
// signature).
func verifyContent(m knowledge.Manifest, records []knowledge.Record) error {
	if len(records) != m.RecordCount {
		return fmt.Errorf("%w: release %s has %d records, its manifest says %d", ErrContent, m.Version, len(records), m.RecordCount)
	}
	if got := hashRecords(records); got != m.ContentSHA256 {
		return fmt.Errorf("%w: release %s hashes to %s…, its manifest says %s…", ErrContent, m.Version, got[:12], short(m.ContentSHA256))
	}
	counts := map[knowledge.Class]int{}
	for i := range records {
		yield.Sometimes(i)
		counts[records[i].Class]++
	}
	for c, n := range m.Counts {
		if counts[c] != n {
			return fmt.Errorf("%w: release %s has %d %s records, its manifest says %d", ErrContent, m.Version, counts[c], c, n)
		}
	}
	for c, n := range counts {
		if m.Counts[c] != n {
			return fmt.Errorf("%w: release %s has %d %s records, its manifest says %d", ErrContent, m.Version, n, c, m.Counts[c])
		}
	}
	return nil
}

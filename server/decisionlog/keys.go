package decisionlog

import (
	"encoding/binary"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// Key prefixes and index kinds (doc.go has the layout).
const (
	prefixDecision = 'd'
	prefixIndex    = 'x'

	childResponse = 'r'
	childSigned   = 's'

	indexPhysician  = 'p'
	indexDepartment = 'd'
	indexPatient    = 'a'
	indexVerdict    = 'v'
	indexRuleType   = 't'
	indexUnanswered = 'u'
)

// maxIndexValue bounds an indexed value (a physician code, a patient id …).
// Validation bounds them far lower; a longer one is not indexed rather
// than written into an unbounded key.
const maxIndexValue = 1024

// The first byte of every stored value says how the rest is encoded.
const (
	// valueVersion: a protobuf message as it is (responses, signed lines,
	// and decisions written before valueVersionS2).
	valueVersion = 1
	// valueVersionS2: a decision record, its protobuf in one S2 block
	// (github.com/klauspost/compress/s2, block format). Decisions go to
	// the value log, which Badger does not compress (doc.go, Storage).
	valueVersionS2 = 2
)

// maxDecodedValue bounds what one stored value may decode to: an S2
// block's header gives its decoded length, and a corrupt one must not make
// a read allocate gigabytes. A decision is bounded far lower by the
// request limits (server/validate) and the gRPC message size.
const maxDecodedValue = 64 << 20

// decisionKeyLen is the length of a decision's own key: 'd' id.
const decisionKeyLen = 1 + idLen

func appendDecisionKey(b []byte, u *id) []byte {
	b = append(b, prefixDecision)
	return append(b, u[:]...)
}

func appendResponseKey(b []byte, u *id, seq uint16) []byte {
	b = appendDecisionKey(b, u)
	b = append(b, childResponse)
	return binary.BigEndian.AppendUint16(b, seq)
}

func appendSignedKey(b []byte, u *id) []byte {
	b = appendDecisionKey(b, u)
	return append(b, childSigned)
}

// appendIndexPrefix appends 'x' kind len16 value: every key of one indexed
// value shares it, and no value's prefix is a prefix of another's.
func appendIndexPrefix(b []byte, kind byte, value string) []byte {
	b = append(b, prefixIndex, kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

func appendIndexKey(b []byte, kind byte, value string, u *id) []byte {
	b = appendIndexPrefix(b, kind, value)
	return append(b, u[:]...)
}

// indexable reports whether value gets an index key.
func indexable(value string) bool { return value != "" && len(value) <= maxIndexValue }

// verdictValue is the indexed value of a verdict: its enum number as one
// byte.
func verdictValue(v rxguardv1.Verdict) string {
	if v < 0 || v > 255 {
		v = 255
	}
	return oneByte[v : v+1]
}

var oneByte = func() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}()

// canonical is knowledge.CanonicalCode, the form every code is indexed,
// queried and reported in (the stored request keeps the codes as
// received): a HIS that sends "d370800000001 " from a fixed-width column
// is found by D370800000001.
func canonical(code string) string {
	c, _ := knowledge.CanonicalCode(code)
	return c
}

// physicianOf is the physician code a decision is indexed under.
func physicianOf(req *rxguardv1.CheckOrdersRequest) string {
	return canonical(req.GetPhysician().GetCode())
}

// DepartmentOf is the department a decision is indexed under: the
// encounter's, else (none, or only padding) the physician's.
func DepartmentOf(req *rxguardv1.CheckOrdersRequest) string {
	if d := canonical(req.GetEncounter().GetDepartmentCode()); d != "" {
		return d
	}
	return canonical(req.GetPhysician().GetDepartmentCode())
}

// NeedsAnswer reports whether a finding expects the physician's response:
// it can be overridden and asks for something (an INFO finding asks for
// nothing; a BLOCK that cannot be overridden can only be modified, which
// the physician may still report).
func NeedsAnswer(f *rxguardv1.Finding) bool {
	return f.GetOverridable() && f.GetAction() != rxguardv1.Action_ACTION_INFO
}

// LatestResponses maps each answered finding of d to its latest response
// revision (d.Responses are in the order recorded).
func LatestResponses(d *rxguardv1.Decision) map[string]*rxguardv1.RecordedResponse {
	m := make(map[string]*rxguardv1.RecordedResponse, len(d.GetResponses()))
	for _, r := range d.GetResponses() {
		m[r.GetFindingId()] = r
	}
	return m
}

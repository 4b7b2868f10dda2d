package nhsa

import (
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The reply is written by appending to a pooled buffer rather than by
// encoding/json's reflection: the same bytes (field order, omitempty,
// string escaping with SetEscapeHTML(false), the trailing newline of
// Encoder.Encode; TestAppendReplyMatchesEncodingJSON and
// FuzzAppendReply pin them), a quarter of a request's cost less. A new
// field of reply, output, result, detail, decisionRef or Note must be
// added here too; the differential test fails until it is.

// bufs holds request and reply buffers between requests. A buffer grown
// past maxPooledBuf (a body or reply of hundreds of lines) is left to the
// collector, so one large request does not pin its memory.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufs.Put(b)
}

// readBody appends all of r to b, growing it at most by doubling; io.ReadAll
// would start from 512 bytes and allocate at every step of every request.
func readBody(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// appendReply appends rep as encoding/json's Encoder (SetEscapeHTML
// false) writes it, newline included.
func appendReply(b []byte, rep *reply) []byte {
	b = append(b, `{"infcode":`...)
	b = strconv.AppendInt(b, int64(rep.Infcode), 10)
	b = appendField(b, "err_msg", rep.ErrMsg)
	b = appendField(b, "inf_refmsgid", rep.InfRefmsgid)
	b = appendField(b, "refmsg_time", rep.RefmsgTime)
	b = appendField(b, "respond_time", rep.RespondTime)
	if o := rep.Output; o != nil {
		b = append(b, `,"output":{"result":`...)
		b = appendResults(b, o.Result)
		if len(o.Decisions) > 0 {
			b = append(b, `,"decisions":[`...)
			for i := range o.Decisions {
				d := &o.Decisions[i]
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"patn_id":`...)
				b = appendString(b, d.PatnID)
				b = appendField(b, "mdtrt_id", d.MdtrtID)
				b = appendField(b, "decision_id", d.DecisionID)
				b = appendField(b, "verdict", d.Verdict)
				b = appendField(b, "knowledge_version", d.KnowledgeVersion)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if len(o.Ignored) > 0 {
			b = append(b, `,"ignored":`...)
			b = appendNotes(b, o.Ignored)
		}
		if o.IgnoredOmitted != 0 {
			b = append(b, `,"ignored_omitted":`...)
			b = strconv.AppendInt(b, int64(o.IgnoredOmitted), 10)
		}
		if o.Recorded != nil {
			b = append(b, `,"recorded":`...)
			b = strconv.AppendInt(b, int64(*o.Recorded), 10)
		}
		b = append(b, '}')
	}
	if len(rep.Violations) > 0 {
		b = append(b, `,"violations":`...)
		b = appendNotes(b, rep.Violations)
	}
	return append(b, "}\n"...)
}

func appendResults(b []byte, rs []result) []byte {
	if rs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"jr_id":`...)
		b = appendString(b, r.JrID)
		b = appendField(b, "rule_id", r.RuleID)
		b = appendField(b, "rule_name", r.RuleName)
		b = appendField(b, "vola_cont", r.VolaCont)
		b = appendField(b, "patn_id", r.PatnID)
		b = appendField(b, "mdtrt_id", r.MdtrtID)
		b = append(b, `,"vola_amt":`...)
		b = r.VolaAmt.append(b)
		b = appendField(b, "vola_amt_stas", r.VolaAmtStas)
		b = appendField(b, "sev_deg", r.SevDeg)
		b = appendField(b, "vola_evid", r.VolaEvid)
		b = appendField(b, "vola_bhvr_type", r.VolaBhvrType)
		b = appendField(b, "task_id", r.TaskID)
		b = append(b, `,"judge_result_detail_dtos":`...)
		if r.Details == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for k := range r.Details {
				d := &r.Details[k]
				if k > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"jrd_id":`...)
				b = appendString(b, d.JrdID)
				b = appendField(b, "patn_id", d.PatnID)
				b = appendField(b, "mdtrt_id", d.MdtrtID)
				b = appendField(b, "rx_id", d.RxID)
				b = appendField(b, "vola_item_type", d.VolaItemType)
				b = append(b, `,"vola_amt":`...)
				b = d.VolaAmt.append(b)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if r.Suggestion != "" {
			b = appendField(b, "rxguard_suggestion", r.Suggestion)
		}
		b = append(b, `,"rxguard_overridable":`...)
		b = strconv.AppendBool(b, r.Overridable)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendNotes(b []byte, ns []Note) []byte {
	b = append(b, '[')
	for i := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"path":`...)
		b = appendString(b, ns[i].Path)
		b = appendField(b, "reason", ns[i].Reason)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendField appends ,"key":"value"; key is one of ours (plain ASCII).
func appendField(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does without HTML escaping:
// ", \ and control characters escaped, invalid UTF-8 as \ufffd, U+2028
// and U+2029 escaped (JSONP-safe), everything else as is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

package nhsa

import (
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The national endpoints decode every body into the generic tree of
// parseTree. encoding/json's Decoder built that tree at a third of a
// request's cost (reflection, a copy of the body, a string allocation per
// key and value), so a small scanner builds it instead: the same tree and
// the same accept/refuse decisions (FuzzScanMatchesEncodingJSON pins
// both), with keys, values and numbers as substrings of one copy of the
// body, so text without escapes costs no allocation of its own.

// maxDepth is encoding/json's nesting limit, kept so a body refused
// before is refused now: nesting this deep is no national payload.
const maxDepth = 10000

// scanner reads one JSON value from src, a string copy of the body that
// every string and number of the tree points into.
type scanner struct {
	src   string
	pos   int
	depth int
	err   *FieldError
}

// scanTree decodes body (valid UTF-8, checked by the caller) into the
// tree encoding/json would build with UseNumber: map[string]any, []any,
// json.Number, string, bool and nil; a repeated key keeps its last value.
func scanTree(body []byte) (any, *FieldError) {
	s := &scanner{src: string(body)}
	s.space()
	if s.pos == len(s.src) {
		return nil, truncated()
	}
	v := s.value()
	if s.err != nil {
		return nil, s.err
	}
	s.space()
	if s.pos != len(s.src) {
		return nil, fieldErr("body", "JSON之后还有多余内容 (trailing data after the JSON object)")
	}
	return v, nil
}

func truncated() *FieldError {
	return fieldErr("body", "JSON不完整或为空 (empty or truncated JSON)")
}

// fail records the first syntax error at the current byte; at the end of
// the body it is a truncated body, as encoding/json reports it.
func (s *scanner) fail(what string) {
	if s.err != nil {
		return
	}
	if s.pos >= len(s.src) {
		s.err = truncated()
		return
	}
	s.err = fieldErr("body", "JSON格式错误, 位置%d: %s (malformed JSON at byte %d)", s.pos+1, what, s.pos+1)
}

func (s *scanner) space() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads the value at pos (white space already skipped).
func (s *scanner) value() any {
	if s.pos >= len(s.src) {
		s.fail("")
		return nil
	}
	switch c := s.src[s.pos]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		str, _ := s.string()
		return str
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		s.literal("true")
		return true
	case c == 'f':
		s.literal("false")
		return false
	case c == 'n':
		s.literal("null")
		return nil
	default:
		s.fail("invalid character " + strconv.QuoteRune(rune(c)) + " looking for beginning of value")
		return nil
	}
}

func (s *scanner) literal(lit string) {
	for i := 0; i < len(lit); i++ {
		if s.pos >= len(s.src) || s.src[s.pos] != lit[i] {
			s.fail("invalid character in literal " + lit)
			return
		}
		s.pos++
	}
}

func (s *scanner) enter() bool {
	s.depth++
	if s.depth > maxDepth {
		s.fail("exceeded max depth")
		return false
	}
	return true
}

func (s *scanner) object() map[string]any {
	if !s.enter() {
		return nil
	}
	defer func() { s.depth-- }()
	s.pos++ // '{'
	m := make(map[string]any)
	s.space()
	if s.pos < len(s.src) && s.src[s.pos] == '}' {
		s.pos++
		return m
	}
	for {
		if s.pos >= len(s.src) || s.src[s.pos] != '"' {
			s.fail("looking for beginning of object key string")
			return nil
		}
		key, ok := s.string()
		if !ok {
			return nil
		}
		s.space()
		if s.pos >= len(s.src) || s.src[s.pos] != ':' {
			s.fail("after object key")
			return nil
		}
		s.pos++
		s.space()
		v := s.value()
		if s.err != nil {
			return nil
		}
		m[key] = v
		s.space()
		if s.pos >= len(s.src) {
			s.fail("")
			return nil
		}
		switch s.src[s.pos] {
		case ',':
			s.pos++
			s.space()
		case '}':
			s.pos++
			return m
		default:
			s.fail("after object key:value pair")
			return nil
		}
	}
}

func (s *scanner) array() []any {
	if !s.enter() {
		return nil
	}
	defer func() { s.depth-- }()
	s.pos++ // '['
	list := []any{}
	s.space()
	if s.pos < len(s.src) && s.src[s.pos] == ']' {
		s.pos++
		return list
	}
	for {
		v := s.value()
		if s.err != nil {
			return nil
		}
		list = append(list, v)
		s.space()
		if s.pos >= len(s.src) {
			s.fail("")
			return nil
		}
		switch s.src[s.pos] {
		case ',':
			s.pos++
			s.space()
		case ']':
			s.pos++
			return list
		default:
			s.fail("after array element")
			return nil
		}
	}
}

// number reads a JSON number and returns its literal text.
func (s *scanner) number() json.Number {
	start := s.pos
	if s.src[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.src) && s.src[s.pos] == '0':
		s.pos++
	case s.pos < len(s.src) && s.src[s.pos] >= '1' && s.src[s.pos] <= '9':
		s.digits()
	default:
		s.fail("in numeric literal")
		return ""
	}
	if s.pos < len(s.src) && s.src[s.pos] == '.' {
		s.pos++
		if !s.digits() {
			s.fail("after decimal point in numeric literal")
			return ""
		}
	}
	if s.pos < len(s.src) && (s.src[s.pos] == 'e' || s.src[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.src) && (s.src[s.pos] == '+' || s.src[s.pos] == '-') {
			s.pos++
		}
		if !s.digits() {
			s.fail("in exponent of numeric literal")
			return ""
		}
	}
	return json.Number(s.src[start:s.pos])
}

func (s *scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// string reads the string at pos ('"'). Without escapes it is a substring
// of src; with them it is unquoted the way encoding/json does, a lone or
// broken surrogate becoming U+FFFD.
func (s *scanner) string() (string, bool) {
	s.pos++ // '"'
	start := s.pos
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; {
		case c == '"':
			str := s.src[start:s.pos]
			s.pos++
			return str, true
		case c == '\\':
			return s.unquote(start)
		case c < 0x20:
			s.fail("invalid character " + strconv.QuoteRune(rune(c)) + " in string literal")
			return "", false
		default:
			s.pos++
		}
	}
	s.fail("")
	return "", false
}

// unquote finishes a string with escapes; src[start:pos] has none.
func (s *scanner) unquote(start int) (string, bool) {
	b := make([]byte, 0, s.pos-start+16)
	b = append(b, s.src[start:s.pos]...)
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '"':
			s.pos++
			return string(b), true
		case c < 0x20:
			s.fail("invalid character " + strconv.QuoteRune(rune(c)) + " in string literal")
			return "", false
		case c != '\\':
			b = append(b, c)
			s.pos++
			continue
		}
		s.pos++ // '\\'
		if s.pos >= len(s.src) {
			s.fail("")
			return "", false
		}
		e := s.src[s.pos]
		s.pos++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := s.hex4(s.pos)
			if !ok {
				return "", false
			}
			s.pos += 4
			if utf16.IsSurrogate(r) {
				// A pair only when a valid low surrogate follows;
				// otherwise U+FFFD and the next escape is read on its
				// own, as encoding/json does.
				if s.pos+1 < len(s.src) && s.src[s.pos] == '\\' && s.src[s.pos+1] == 'u' {
					if r2, ok := s.peekHex4(s.pos + 2); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b = utf8.AppendRune(b, d)
							s.pos += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
		default:
			s.pos--
			s.fail("invalid character " + strconv.QuoteRune(rune(e)) + " in string escape code")
			return "", false
		}
	}
	s.fail("")
	return "", false
}

// hex4 reads the four hex digits of a \u escape at i, failing at the
// first bad one.
func (s *scanner) hex4(i int) (rune, bool) {
	var r rune
	for k := 0; k < 4; k++ {
		if i+k >= len(s.src) {
			s.pos = len(s.src)
			s.fail("")
			return 0, false
		}
		d, ok := hexVal(s.src[i+k])
		if !ok {
			s.pos = i + k
			s.fail("invalid character " + strconv.QuoteRune(rune(s.src[i+k])) + " in \\u hexadecimal character escape")
			return 0, false
		}
		r = r<<4 | d
	}
	return r, true
}

// peekHex4 reads four hex digits at i without failing.
func (s *scanner) peekHex4(i int) (rune, bool) {
	if i+4 > len(s.src) {
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		d, ok := hexVal(s.src[i+k])
		if !ok {
			return 0, false
		}
		r = r<<4 | d
	}
	return r, true
}

func hexVal(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}

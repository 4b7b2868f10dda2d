package knowledge

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CanonicalCode is the one normalisation rxguard applies to every national
// code it receives (item, history item, physician, diagnosis, department,
// hospital) before any lookup, and to every code a release carries before it
// is indexed: surrounding whitespace, NUL padding and zero-width characters
// are removed (what a HIS reading a fixed-width CHAR column, or pasting
// from a spreadsheet, sends), and ASCII letters are upper-cased (every
// national code family is written in upper case). Nothing else is changed:
// a code that is still malformed afterwards stays malformed and is judged
// as such (UNKNOWN_ITEM for items); it is never completed or guessed.
//
// changed reports whether s was not already canonical. A canonical s is
// returned as is, without allocating, so clean requests cost a byte scan.
func CanonicalCode(s string) (canonical string, changed bool) {
	if isCanonicalCode(s) {
		return s, false
	}
	t := strings.TrimFunc(s, isCodePadding)
	var b []byte
	for i := 0; i < len(t); i++ {
		if c := t[i]; c >= 'a' && c <= 'z' {
			if b == nil {
				b = []byte(t)
			}
			b[i] = c - ('a' - 'A')
		}
	}
	if b != nil {
		t = string(b)
	}
	return t, t != s
}

// isCanonicalCode is the allocation-free fast path: no lower-case ASCII
// letter anywhere, and printable ASCII at both ends (padding is only ever
// whitespace or control/format characters, never a printable one).
func isCanonicalCode(s string) bool {
	if s == "" {
		return true
	}
	if !printableASCII(s[0]) || !printableASCII(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return false
		}
	}
	return true
}

func printableASCII(c byte) bool { return c > ' ' && c < 0x7f }

// isCodePadding: Unicode white space (including the ideographic space
// U+3000 of Chinese input methods), control characters such as NUL, and
// format characters such as the zero-width space and the byte-order mark.
// An invalid UTF-8 byte is not padding (validation refuses it first).
func isCodePadding(r rune) bool {
	if r == utf8.RuneError {
		return false
	}
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

package cdshooks

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A quoted client value is cut at a rune boundary: Chinese names must not
// turn into invalid UTF-8 in an OperationOutcome.
func TestClipSKeepsUTF8(t *testing.T) {
	for n := 70; n < 90; n++ {
		s := strings.Repeat("a", n%3) + strings.Repeat("艾附暖宫丸", 10)
		got := clipS(s)
		if !utf8.ValidString(got) || len(got) > 80+len("…") {
			t.Errorf("clipS(%d bytes) = %q (%d bytes)", len(s), got, len(got))
		}
	}
	if clipS("short") != "short" {
		t.Error("a short value is quoted whole")
	}
}

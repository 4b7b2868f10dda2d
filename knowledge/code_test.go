package knowledge

import "testing"

func TestCanonicalCode(t *testing.T) {
	for _, c := range []struct {
		in, want string
		changed  bool
	}{
		{"ZD03AAA0043010100166", "ZD03AAA0043010100166", false},
		{"ZD03AAA0043010100166 ", "ZD03AAA0043010100166", true},
		{"  zd03aaa0043010100166\t\r\n", "ZD03AAA0043010100166", true},
		{"\u3000D370800000003\u3000", "D370800000003", true},
		{"\ufeffJ18.900", "J18.900", true},
		{"001103000010000\x00\x00\x00", "001103000010000", true},
		{"\u200bA03\u00a0", "A03", true},
		{"ZD03 AAA", "ZD03 AAA", false}, // inner space stays: malformed, judged as such
		{"zd03 aaa", "ZD03 AAA", true},  // only case changes
		{"ＺＤ０３", "ＺＤ０３", false},         // full-width stays: not a national code
		{"   ", "", true},               // nothing left: a missing code
		{"", "", false},
		{"h37080200145", "H37080200145", true},
		{"j18.9\xff", "J18.9\xff", true}, // invalid bytes are validation's to refuse, not padding
	} {
		got, changed := CanonicalCode(c.in)
		if got != c.want || changed != c.changed {
			t.Errorf("CanonicalCode(%q) = %q, %v; want %q, %v", c.in, got, changed, c.want, c.changed)
		}
		if again, ch := CanonicalCode(got); again != got || ch {
			t.Errorf("CanonicalCode is not idempotent on %q: %q, %v", got, again, ch)
		}
	}
}

func TestCanonicalCodeCleanDoesNotAllocate(t *testing.T) {
	code := "XJ01DDT018A001010101445"
	if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalCode(code) }); n != 0 {
		t.Errorf("CanonicalCode of a canonical code: %.0f allocations, want 0", n)
	}
}

func FuzzCanonicalCode(f *testing.F) {
	for _, s := range []string{"ZD03AAA0043010100166 ", "\u3000d37\u3000", "\x00", "a\xffb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, changed := CanonicalCode(s)
		if again, ch := CanonicalCode(c); again != c || ch {
			t.Fatalf("not idempotent: %q → %q → %q", s, c, again)
		}
		if changed == (c == s) {
			t.Fatalf("changed = %v but %q → %q", changed, s, c)
		}
		if len(c) > len(s) {
			t.Fatalf("grew: %q → %q", s, c)
		}
	})
}

package jwtauth

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzJWT: any token string is refused with a reason or accepted; the
// parser never panics, and nothing but a token signed by a configured key
// is accepted (the fuzzer has no private key, so only the seeds signed
// here may pass, and each only once).
func FuzzJWT(f *testing.F) {
	fx := newFixture(f)
	now := fx.clock.now()
	valid := map[string]bool{}
	for _, tok := range []string{
		sign(f, map[string]any{"alg": "ES384", "kid": "ec-1"}, claims(now, "ehr-file"), "ec"),
		sign(f, map[string]any{"alg": "RS384", "kid": "rsa-1"}, claims(now, "ehr-url"), "rsa"),
	} {
		valid[tok] = true
		f.Add(tok)
	}
	f.Add(sign(f, map[string]any{"alg": "none"}, claims(now, "ehr-file"), "none"))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJFUzM4NCJ9.e30.")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := fx.v.Verify(context.Background(), tok, aud)
		if err == nil {
			if !valid[tok] || c == nil {
				t.Fatalf("accepted a token nobody signed: %q", tok)
			}
			return
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Reason == "" {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}

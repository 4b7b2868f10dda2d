package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const aud = "https://rxguard.hosp.local:7601/cds-services/rxguard-order-sign"

var b64 = base64.RawURLEncoding

// testKeys are generated once per test binary (RSA generation is slow).
var testKeys = sync.OnceValue(func() struct {
	ec, ec2 *ecdsa.PrivateKey
	rsa     *rsa.PrivateKey
} {
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	ec2, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return struct {
		ec, ec2 *ecdsa.PrivateKey
		rsa     *rsa.PrivateKey
	}{ec, ec2, rk}
})

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	b, err := k.Bytes() // uncompressed point
	if err != nil {
		panic(err)
	}
	return map[string]string{"kty": "EC", "crv": "P-384", "kid": kid, "use": "sig", "alg": "ES384",
		"x": b64.EncodeToString(b[1:49]), "y": b64.EncodeToString(b[49:])}
}

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS384",
		"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
}

func jwks(keys ...map[string]string) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

func part(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b64.EncodeToString(b)
}

// sign builds a compact JWS; alg picks the key and the algorithm as given
// (so tests can lie in the header).
func sign(t testing.TB, hdr, claims map[string]any, signer string) string {
	t.Helper()
	in := part(hdr) + "." + part(claims)
	k := testKeys()
	var sig []byte
	switch signer {
	case "ec", "ec2":
		key := k.ec
		if signer == "ec2" {
			key = k.ec2
		}
		sum := sha512.Sum384([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 96)
		r.FillBytes(sig[:48])
		s.FillBytes(sig[48:])
	case "rsa":
		sum := sha512.Sum384([]byte(in))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA384, sum[:]); err != nil {
			t.Fatal(err)
		}
	case "hmac-public":
		// The classic attack: HS256 keyed with the issuer's public key.
		pub, _ := k.ec.PublicKey.Bytes()
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(in))
		sig = m.Sum(nil)
	case "none":
	}
	return in + "." + b64.EncodeToString(sig)
}

type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// fixture: issuer "ehr-file" with an ES384 key in a JWKS file, issuer
// "ehr-url" with an RS384 key served over loopback HTTP.
type fixture struct {
	v       *Verifier
	clock   *clock
	served  atomic.Pointer[[]byte]
	fetches atomic.Int32
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{}}
	f.clock.set(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	k := testKeys()
	file := filepath.Join(t.TempDir(), "ehr.jwks.json")
	// A P-256 key and an HMAC key in the same set are skipped, not errors.
	other := map[string]string{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
	if err := os.WriteFile(file, jwks(ecJWK("ec-1", &k.ec.PublicKey), other), 0o600); err != nil {
		t.Fatal(err)
	}
	set := jwks(rsaJWK("rsa-1", &k.rsa.PublicKey))
	f.served.Store(&set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.fetches.Add(1)
		w.Write(*f.served.Load())
	}))
	t.Cleanup(srv.Close)
	v, err := New(Options{
		Issuers:   []Issuer{{Iss: "ehr-file", JWKSFile: file}, {Iss: "ehr-url", JWKSURL: srv.URL + "/jwks"}},
		MaxIATAge: 5 * time.Minute, Now: f.clock.now, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

var jtiSeq atomic.Int64

func claims(now time.Time, iss string) map[string]any {
	return map[string]any{"iss": iss, "aud": aud, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"jti": "jti-" + big.NewInt(jtiSeq.Add(1)).String()}
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	now := f.clock.now()
	es := map[string]any{"alg": "ES384", "kid": "ec-1", "typ": "JWT"}
	rs := map[string]any{"alg": "RS384", "kid": "rsa-1", "typ": "JWT"}
	with := func(c map[string]any, k string, v any) map[string]any {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tampered := func() string {
		tok := sign(t, es, claims(now, "ehr-file"), "ec")
		// Swap the payload for another one signed by nobody.
		other := part(with(claims(now, "ehr-file"), "aud", aud))
		return tok[:len(part(es))+1] + other + tok[len(part(es))+1+len(part(claims(now, "ehr-file"))):]
	}
	for _, tc := range []struct {
		name   string
		token  string
		reason string // "" = accepted
	}{
		{"valid ES384 (file JWKS)", sign(t, es, claims(now, "ehr-file"), "ec"), ""},
		{"valid RS384 (URL JWKS)", sign(t, rs, claims(now, "ehr-url"), "rsa"), ""},
		{"aud as an array", sign(t, es, with(claims(now, "ehr-file"), "aud", []string{"other", aud}), "ec"), ""},
		{"expired", sign(t, es, with(claims(now, "ehr-file"), "exp", now.Add(-time.Minute).Unix()), "ec"), ReasonExpired},
		{"no exp", sign(t, es, with(claims(now, "ehr-file"), "exp", nil), "ec"), ReasonExpired},
		{"wrong aud", sign(t, es, with(claims(now, "ehr-file"), "aud", "https://rxguard.hosp.local:7601/cds-services/rxguard-order-select"), "ec"), ReasonAud},
		{"unknown iss", sign(t, es, claims(now, "someone-else"), "ec"), ReasonUnknownIss},
		{"unknown kid", sign(t, map[string]any{"alg": "ES384", "kid": "ec-9"}, claims(now, "ehr-file"), "ec"), ReasonUnknownKid},
		{"alg none", sign(t, map[string]any{"alg": "none", "kid": "ec-1"}, claims(now, "ehr-file"), "none"), ReasonAlg},
		{"HS256 with the public key", sign(t, map[string]any{"alg": "HS256", "kid": "ec-1"}, claims(now, "ehr-file"), "hmac-public"), ReasonAlg},
		{"HS384 naming the set's oct key", sign(t, map[string]any{"alg": "HS384", "kid": "hmac"}, claims(now, "ehr-file"), "hmac-public"), ReasonAlg},
		{"ES256", sign(t, map[string]any{"alg": "ES256", "kid": "ec-1"}, claims(now, "ehr-file"), "ec"), ReasonAlg},
		{"RS384 header on the EC key", sign(t, map[string]any{"alg": "RS384", "kid": "ec-1"}, claims(now, "ehr-file"), "rsa"), ReasonAlg},
		{"bad signature (other key)", sign(t, es, claims(now, "ehr-file"), "ec2"), ReasonSignature},
		{"bad signature (payload swapped)", tampered(), ReasonSignature},
		{"missing jti", sign(t, es, with(claims(now, "ehr-file"), "jti", nil), "ec"), ReasonJTI},
		{"stale iat", sign(t, es, with(claims(now, "ehr-file"), "iat", now.Add(-6*time.Minute).Unix()), "ec"), ReasonIAT},
		{"iat in the future", sign(t, es, with(claims(now, "ehr-file"), "iat", now.Add(2*time.Minute).Unix()), "ec"), ReasonIAT},
		{"no iat", sign(t, es, with(claims(now, "ehr-file"), "iat", nil), "ec"), ReasonIAT},
		{"empty", "", ReasonMissing},
		{"two parts", "abc.def", ReasonMalformed},
		{"header not JSON", b64.EncodeToString([]byte("{")) + ".e30.", ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.v.Verify(context.Background(), tc.token, aud)
			if tc.reason == "" {
				if err != nil || c == nil || c.JTI == "" {
					t.Fatalf("refused a valid token: %v", err)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Reason != tc.reason {
				t.Fatalf("got %v, want reason %s", err, tc.reason)
			}
		})
	}
}

// A jti is accepted once per issuer; the same jti of another issuer is
// another token.
func TestReplay(t *testing.T) {
	f := newFixture(t)
	now := f.clock.now()
	c := claims(now, "ehr-file")
	tok := sign(t, map[string]any{"alg": "ES384", "kid": "ec-1"}, c, "ec")
	if _, err := f.v.Verify(context.Background(), tok, aud); err != nil {
		t.Fatal(err)
	}
	var ae *Error
	if _, err := f.v.Verify(context.Background(), tok, aud); !errors.As(err, &ae) || ae.Reason != ReasonReplay {
		t.Fatalf("replay: %v", err)
	}
	c2 := claims(now, "ehr-url")
	c2["jti"] = c["jti"]
	if _, err := f.v.Verify(context.Background(), sign(t, map[string]any{"alg": "RS384", "kid": "rsa-1"}, c2, "rsa"), aud); err != nil {
		t.Errorf("same jti, other issuer: %v", err)
	}
}

// The replay cache is bounded: when full of live entries new tokens are
// refused; once they expire there is room again.
func TestReplayCacheBound(t *testing.T) {
	c := newReplayCache(2)
	now := time.Unix(1000, 0)
	for i, want := range []replayResult{replayNew, replayNew, replayFull} {
		if got := c.add(string(rune('a'+i)), now.Add(time.Minute), now); got != want {
			t.Fatalf("add #%d: %v, want %v", i, got, want)
		}
	}
	if got := c.add("a", now.Add(time.Minute), now); got != replaySeen {
		t.Errorf("seen: %v", got)
	}
	later := now.Add(2 * time.Minute)
	if got := c.add("c", later.Add(time.Minute), later); got != replayNew {
		t.Errorf("after expiry: %v", got)
	}
	if len(c.until) != 1 {
		t.Errorf("expired entries kept: %v", c.until)
	}
}

// A new kid (key rotation) refetches the URL key set, at most once a
// minute.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	k := testKeys()
	hdr := map[string]any{"alg": "ES384", "kid": "ec-new"}
	if _, err := f.v.Verify(context.Background(), sign(t, map[string]any{"alg": "RS384", "kid": "rsa-1"}, claims(f.clock.now(), "ehr-url"), "rsa"), aud); err != nil {
		t.Fatal(err)
	}
	set := jwks(rsaJWK("rsa-1", &k.rsa.PublicKey), ecJWK("ec-new", &k.ec2.PublicKey))
	f.served.Store(&set)
	var ae *Error
	// The first fetch was just now: the unknown kid does not refetch yet.
	if _, err := f.v.Verify(context.Background(), sign(t, hdr, claims(f.clock.now(), "ehr-url"), "ec2"), aud); !errors.As(err, &ae) || ae.Reason != ReasonUnknownKid {
		t.Fatalf("within a minute: %v", err)
	}
	before := f.fetches.Load()
	f.clock.add(RefreshInterval)
	if _, err := f.v.Verify(context.Background(), sign(t, hdr, claims(f.clock.now(), "ehr-url"), "ec2"), aud); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
	if n := f.fetches.Load() - before; n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	// Made-up kids in a burst cost one fetch a minute, not one each.
	before = f.fetches.Load()
	for range 20 {
		f.v.Verify(context.Background(), sign(t, map[string]any{"alg": "ES384", "kid": "junk"}, claims(f.clock.now(), "ehr-url"), "ec2"), aud)
	}
	if n := f.fetches.Load() - before; n > 1 {
		t.Errorf("%d fetches for 20 unknown kids", n)
	}
}

func TestParseJWKS(t *testing.T) {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	bad := ecJWK("bad", &k.ec.PublicKey)
	bad["y"] = bad["x"] // not on the curve
	for _, tc := range []struct {
		name string
		doc  []byte
		ok   bool
	}{
		{"ec and rsa", jwks(ecJWK("a", &k.ec.PublicKey), rsaJWK("b", &k.rsa.PublicKey)), true},
		{"not JSON", []byte("{"), false},
		{"only unusable keys", jwks(map[string]string{"kty": "oct", "k": "c2VjcmV0"}), false},
		{"point not on the curve", jwks(bad), false},
		{"weak RSA", jwks(rsaJWK("w", &small.PublicKey)), false},
		{"duplicate kid", jwks(ecJWK("a", &k.ec.PublicKey), ecJWK("a", &k.ec2.PublicKey)), false},
	} {
		_, err := parseJWKS(tc.doc)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// An unreadable key set file stops the start, naming the issuer.
func TestNewBadFile(t *testing.T) {
	_, err := New(Options{Issuers: []Issuer{{Iss: "ehr", JWKSFile: filepath.Join(t.TempDir(), "missing.json")}}, MaxIATAge: time.Minute})
	if err == nil {
		t.Fatal("missing JWKS file accepted")
	}
}

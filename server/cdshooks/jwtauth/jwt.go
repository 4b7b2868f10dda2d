// Package jwtauth verifies the JWTs CDS Hooks 2.0 clients (EHRs) send as
// "Authorization: Bearer": ES384 or RS384 only, issuers from an allow-list
// each with its JWKS, aud the exact service URL, exp, a fresh iat and a jti
// used once. It is a small verifier on the standard library: a general JWT
// library accepts more than a prescribing guard should (alg none, HMAC with
// a public key as the secret, keys named by the token's jku).
package jwtauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// Defaults.
const (
	// Leeway tolerates clock skew between the EHR and this host on exp
	// and iat.
	Leeway = 30 * time.Second
	// DefaultReplayCapacity bounds the jti cache (entries live at most
	// max_iat_age + leeway).
	DefaultReplayCapacity = 100_000
	// MaxTokenBytes bounds a token before anything is decoded.
	MaxTokenBytes = 16 << 10
)

// Reasons a token is refused: the label of the auth-failure metric and the
// error description of WWW-Authenticate.
const (
	ReasonMissing       = "missing_token"
	ReasonMalformed     = "malformed"
	ReasonAlg           = "alg_not_allowed"
	ReasonUnknownIss    = "unknown_iss"
	ReasonUnknownKid    = "unknown_kid"
	ReasonKeys          = "jwks_unavailable"
	ReasonSignature     = "bad_signature"
	ReasonAud           = "wrong_aud"
	ReasonExpired       = "expired"
	ReasonIAT           = "bad_iat"
	ReasonJTI           = "missing_jti"
	ReasonReplay        = "replayed_jti"
	ReasonReplayCapFull = "replay_cache_full"
)

// Reasons lists every reason, in a stable order (metrics).
var Reasons = []string{ReasonMissing, ReasonMalformed, ReasonAlg, ReasonUnknownIss, ReasonUnknownKid, ReasonKeys,
	ReasonSignature, ReasonAud, ReasonExpired, ReasonIAT, ReasonJTI, ReasonReplay, ReasonReplayCapFull}

// Error is a refused token. Msg never quotes the token.
type Error struct {
	Reason string
	Msg    string
}

func (e *Error) Error() string { return e.Reason + ": " + e.Msg }

func refuse(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Issuer is one allowed client: exactly one of JWKSFile and JWKSURL.
type Issuer struct {
	Iss      string
	JWKSFile string
	JWKSURL  string
}

// Options configure a Verifier.
type Options struct {
	Issuers []Issuer
	// MaxIATAge: an older iat is refused (required, > 0).
	MaxIATAge time.Duration
	// ReplayCapacity bounds the jti cache; 0: DefaultReplayCapacity.
	ReplayCapacity int
	// HTTPClient fetches JWKS URLs; nil: a client with FetchTimeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Verifier checks client tokens. Safe for concurrent use.
type Verifier struct {
	issuers   map[string]*keySet
	maxIATAge time.Duration
	now       func() time.Time
	replay    *replayCache
}

// New builds a verifier; key set files are read now (an unreadable or
// unusable one is an error naming it), URLs on the first token.
func New(o Options) (*Verifier, error) {
	if o.MaxIATAge <= 0 {
		return nil, errors.New("jwtauth: MaxIATAge must be positive")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: FetchTimeout}
	}
	if o.ReplayCapacity <= 0 {
		o.ReplayCapacity = DefaultReplayCapacity
	}
	v := &Verifier{issuers: map[string]*keySet{}, maxIATAge: o.MaxIATAge, now: o.Now, replay: newReplayCache(o.ReplayCapacity)}
	for _, is := range o.Issuers {
		switch {
		case is.JWKSFile != "":
			ks := fileKeySet(is.JWKSFile, o.Now, o.Logger)
			if err := ks.refresh(context.Background(), true); err != nil {
				return nil, fmt.Errorf("issuer %q: %w; fix the file or the issuer's jwks_file", is.Iss, err)
			}
			v.issuers[is.Iss] = ks
		case is.JWKSURL != "":
			v.issuers[is.Iss] = urlKeySet(is.JWKSURL, o.HTTPClient, o.Now, o.Logger)
		default:
			return nil, fmt.Errorf("issuer %q: no jwks_file or jwks_url", is.Iss)
		}
	}
	return v, nil
}

// Claims are the verified claims rxguard uses.
type Claims struct {
	Iss, JTI, Tenant string
	Exp, IAT         time.Time
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type claimsJSON struct {
	Iss    string          `json:"iss"`
	Aud    json.RawMessage `json:"aud"`
	Exp    *json.Number    `json:"exp"`
	IAT    *json.Number    `json:"iat"`
	JTI    string          `json:"jti"`
	Tenant string          `json:"tenant"`
}

// Verify checks token (the Bearer value) for a request to aud, the exact
// service URL. The order matters: nothing from the payload is trusted
// until the signature of an allowed issuer's key checks, and the jti is
// remembered only for a token that passed everything else.
func (v *Verifier) Verify(ctx context.Context, token, aud string) (*Claims, error) {
	if token == "" {
		return nil, refuse(ReasonMissing, "no bearer token")
	}
	if len(token) > MaxTokenBytes {
		return nil, refuse(ReasonMalformed, "token longer than %d bytes", MaxTokenBytes)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, refuse(ReasonMalformed, "not a compact JWS (three base64url parts)")
	}
	var h header
	if err := decodePart(h64, &h); err != nil {
		return nil, refuse(ReasonMalformed, "header: %v", err)
	}
	if h.Alg != "ES384" && h.Alg != "RS384" {
		return nil, refuse(ReasonAlg, "alg %q is not allowed: use ES384 or RS384", clip(h.Alg))
	}
	var c claimsJSON
	if err := decodePart(p64, &c); err != nil {
		return nil, refuse(ReasonMalformed, "payload: %v", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil {
		return nil, refuse(ReasonMalformed, "signature is not base64url")
	}
	ks, ok := v.issuers[c.Iss]
	if !ok {
		return nil, refuse(ReasonUnknownIss, "iss %q is not an allowed client", clip(c.Iss))
	}
	k, ok, err := ks.lookup(ctx, h.Kid)
	if err != nil {
		return nil, refuse(ReasonKeys, "the key set of iss %q cannot be read now", clip(c.Iss))
	}
	if !ok {
		return nil, refuse(ReasonUnknownKid, "kid %q is not in the key set of iss %q", clip(h.Kid), clip(c.Iss))
	}
	if k.alg != h.Alg {
		return nil, refuse(ReasonAlg, "kid %q is a %s key, the token says %s", clip(h.Kid), k.alg, h.Alg)
	}
	if !verifySignature(k, h64+"."+p64, sig) {
		return nil, refuse(ReasonSignature, "signature does not verify with kid %q of iss %q", clip(h.Kid), clip(c.Iss))
	}

	if !audContains(c.Aud, aud) {
		return nil, refuse(ReasonAud, "aud must be %q", aud)
	}
	now := v.now()
	exp, ok := numericDate(c.Exp)
	if !ok {
		return nil, refuse(ReasonExpired, "exp is required (NumericDate)")
	}
	if !now.Before(exp.Add(Leeway)) {
		return nil, refuse(ReasonExpired, "token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	iat, ok := numericDate(c.IAT)
	switch {
	case !ok:
		return nil, refuse(ReasonIAT, "iat is required (NumericDate)")
	case iat.After(now.Add(Leeway)):
		return nil, refuse(ReasonIAT, "iat %s is in the future (check the EHR's clock)", iat.UTC().Format(time.RFC3339))
	case iat.Before(now.Add(-v.maxIATAge - Leeway)):
		return nil, refuse(ReasonIAT, "iat %s is older than %s: send a fresh token per request", iat.UTC().Format(time.RFC3339), v.maxIATAge)
	}
	if c.JTI == "" {
		return nil, refuse(ReasonJTI, "jti is required (a unique id per token)")
	}
	// The token is refused as stale after iat + max age anyway, so its jti
	// need not be remembered longer (nor past its exp).
	until := iat.Add(v.maxIATAge + Leeway)
	if e := exp.Add(Leeway); e.Before(until) {
		until = e
	}
	switch v.replay.add(c.Iss+"\x00"+c.JTI, until, now) {
	case replaySeen:
		return nil, refuse(ReasonReplay, "jti %q of iss %q was already used", clip(c.JTI), clip(c.Iss))
	case replayFull:
		return nil, refuse(ReasonReplayCapFull, "too many tokens in the last %s; retry shortly", v.maxIATAge)
	}
	return &Claims{Iss: c.Iss, JTI: c.JTI, Tenant: c.Tenant, Exp: exp, IAT: iat}, nil
}

func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not base64url")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return errors.New("not a JSON object of the expected shape")
	}
	if d.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func verifySignature(k key, signingInput string, sig []byte) bool {
	sum := sha512.Sum384([]byte(signingInput))
	switch k.alg {
	case "ES384":
		// JWS ES384 signatures are R || S, 48 bytes each (RFC 7518 §3.4),
		// not ASN.1.
		if len(sig) != 96 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])
		return ecdsa.Verify(k.ec, sum[:], r, s)
	case "RS384":
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA384, sum[:], sig) == nil
	}
	return false
}

// audContains: aud is a string or an array of strings (RFC 7519 §4.1.3).
func audContains(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

func numericDate(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// clip bounds what a message quotes of a claim.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

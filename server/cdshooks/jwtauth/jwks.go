package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of fetching a key set from a URL.
const (
	// MaxJWKSBytes bounds a key set document: a few keys are a few KiB.
	MaxJWKSBytes = 256 << 10
	// FetchTimeout bounds one key-set fetch.
	FetchTimeout = 5 * time.Second
	// RefreshInterval: an unknown kid refetches the key set at most this
	// often, so a stream of tokens with made-up kids cannot make rxguard
	// hammer the EHR's key endpoint.
	RefreshInterval = time.Minute
	// CacheTTL: a fetched key set is used this long before it is fetched
	// again on the next token (keys the EHR removed stop working).
	CacheTTL = time.Hour
	// minRSABits refuses weak RSA keys.
	minRSABits = 2048
)

// key is one public key of a key set, usable for one algorithm.
type key struct {
	alg string // ES384 or RS384
	ec  *ecdsa.PublicKey
	rsa *rsa.PublicKey
}

// keySet is one issuer's JWKS, from a file or a URL. Readers load the
// current map with one atomic load; refreshing takes mu.
type keySet struct {
	source string // file path or URL, for messages
	load   func(ctx context.Context) ([]byte, error)
	now    func() time.Time
	log    *slog.Logger

	keys atomic.Pointer[map[string]key]

	mu          sync.Mutex
	lastAttempt time.Time // last fetch, successful or not
	fetched     time.Time // last successful fetch
	ttl         time.Duration
}

func fileKeySet(path string, now func() time.Time, log *slog.Logger) *keySet {
	return &keySet{source: path, now: now, log: log, load: func(context.Context) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}}
}

func urlKeySet(u string, client *http.Client, now func() time.Time, log *slog.Logger) *keySet {
	return &keySet{source: u, now: now, log: log, ttl: CacheTTL, load: func(ctx context.Context) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %s", resp.Status)
		}
		return readLimited(resp.Body)
	}}
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxJWKSBytes {
		return nil, fmt.Errorf("key set larger than %d bytes", MaxJWKSBytes)
	}
	return b, nil
}

// refresh loads the key set again unless it was tried within
// RefreshInterval (force: the load at start).
func (s *keySet) refresh(ctx context.Context, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !force && !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < RefreshInterval {
		return nil
	}
	s.lastAttempt = now
	b, err := s.load(ctx)
	if err == nil {
		var m map[string]key
		if m, err = parseJWKS(b); err == nil {
			s.keys.Store(&m)
			s.fetched = now
			return nil
		}
	}
	return fmt.Errorf("key set %s: %w", s.source, err)
}

// lookup returns the key kid names, refreshing the set when the kid is
// unknown (at most once per RefreshInterval) or the cache has expired.
func (s *keySet) lookup(ctx context.Context, kid string) (key, bool, error) {
	m := s.keys.Load()
	if m == nil || (s.ttl > 0 && s.expired()) {
		if err := s.refresh(ctx, false); err != nil {
			if m == nil {
				return key{}, false, err
			}
			// Keep serving the last good set: the EHR's key endpoint
			// being down must not lock every physician out.
			s.log.Warn("CDS Hooks client key set refresh failed; using the cached keys", "err", err)
		}
		m = s.keys.Load()
	}
	if k, ok := (*m)[kid]; ok {
		return k, true, nil
	}
	if err := s.refresh(ctx, false); err != nil {
		s.log.Warn("CDS Hooks client key set refresh failed", "err", err)
	}
	m = s.keys.Load()
	if m == nil {
		return key{}, false, nil
	}
	k, ok := (*m)[kid]
	return k, ok, nil
}

func (s *keySet) expired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now().Sub(s.fetched) >= s.ttl && s.now().Sub(s.lastAttempt) >= RefreshInterval
}

// jwk is the part of RFC 7517/7518 a public ES384 or RS384 key uses.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS reads a key set. Keys rxguard cannot use (other curves, HMAC
// "oct", encryption keys) are skipped, since one JWKS often serves several
// purposes; a malformed usable key is an error, and so is a set with no
// usable key, or two usable keys with one kid.
func parseJWKS(b []byte) (map[string]key, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	out := map[string]key{}
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pk key
		switch {
		case k.Kty == "EC" && k.Crv == "P-384" && (k.Alg == "" || k.Alg == "ES384"):
			x, errX := b64Int(k.X)
			y, errY := b64Int(k.Y)
			if err := errors.Join(errX, errY); err != nil {
				return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, k.Kid, err)
			}
			if x.BitLen() > 384 || y.BitLen() > 384 {
				return nil, fmt.Errorf("keys[%d] (kid %q): coordinate is not a P-384 field element", i, k.Kid)
			}
			// Parsing the uncompressed point checks it is on the curve.
			buf := make([]byte, 1+2*48)
			buf[0] = 4
			x.FillBytes(buf[1:49])
			y.FillBytes(buf[49:])
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), buf)
			if err != nil {
				return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, k.Kid, err)
			}
			pk = key{alg: "ES384", ec: pub}
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS384"):
			n, errN := b64Int(k.N)
			e, errE := b64Int(k.E)
			if err := errors.Join(errN, errE); err != nil {
				return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, k.Kid, err)
			}
			if n.BitLen() < minRSABits {
				return nil, fmt.Errorf("keys[%d] (kid %q): RSA modulus of %d bits; at least %d required", i, k.Kid, n.BitLen(), minRSABits)
			}
			if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
				return nil, fmt.Errorf("keys[%d] (kid %q): unusable RSA exponent", i, k.Kid)
			}
			pk = key{alg: "RS384", rsa: &rsa.PublicKey{N: n, E: int(e.Int64())}}
		default:
			continue
		}
		if _, dup := out[k.Kid]; dup {
			return nil, fmt.Errorf("keys[%d]: kid %q appears twice", i, k.Kid)
		}
		out[k.Kid] = pk
	}
	if len(out) == 0 {
		return nil, errors.New("no ES384 (EC P-384) or RS384 (RSA ≥ 2048 bits) signing key")
	}
	return out, nil
}

func b64Int(s string) (*big.Int, error) {
	if s == "" {
		return nil, errors.New("missing key parameter")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key parameter is not base64url: %w", err)
	}
	return new(big.Int).SetBytes(b), nil
}

package knowledge

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrSignature is returned (wrapped) when a manifest's signature is
// missing, malformed, or made by no trusted key.
var ErrSignature = errors.New("release signature not valid")

// signedBytes is what a publisher signs: the manifest without its
// signature, as JSON. encoding/json writes struct fields in declaration
// order and map keys sorted, so the bytes are canonical for a manifest; the
// manifest in turn covers every record through ContentSHA256.
func signedBytes(m Manifest) ([]byte, error) {
	m.Signature = ""
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest %s for signing: %w", m.Version, err)
	}
	return append([]byte("rxguard-release-manifest-v1\n"), b...), nil
}

// SignManifest returns m signed with key: Signature is "ed25519:" followed
// by the hex key id (first 8 bytes of the public key) and the base64
// signature, so a verifier can tell which of its keys to try.
func SignManifest(m Manifest, key ed25519.PrivateKey) (Manifest, error) {
	msg, err := signedBytes(m)
	if err != nil {
		return m, err
	}
	m.Signature = sign(key, msg)
	return m, nil
}

func sign(key ed25519.PrivateKey, msg []byte) string {
	pub := key.Public().(ed25519.PublicKey)
	return "ed25519:" + KeyID(pub) + ":" + base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
}

// KeyID names a public key in signatures and messages.
func KeyID(pub ed25519.PublicKey) string { return hex.EncodeToString(pub[:8]) }

// VerifyManifest checks m's signature against the trusted keys (the
// publisher keys pinned in the sidecar's configuration). It says which key
// id signed, or why nothing verifies, in terms an operator can act on.
func VerifyManifest(m Manifest, trusted []ed25519.PublicKey) error {
	msg, err := signedBytes(m)
	if err != nil {
		return err
	}
	return verify("release "+m.Version, m.Signature, msg, trusted)
}

// eventPage is what a bureau signs for one page of the physician-status
// feed: the cursor the page follows and its events (without Source, which
// the receiver fills in).
type eventPage struct {
	AfterSeq int64            `json:"after_seq"`
	Events   []PhysicianEvent `json:"events"`
}

func eventPageBytes(afterSeq int64, events []PhysicianEvent) ([]byte, error) {
	p := eventPage{AfterSeq: afterSeq, Events: make([]PhysicianEvent, len(events))}
	for i, e := range events {
		e.Source = Source{}
		p.Events[i] = e
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode physician events after %d for signing: %w", afterSeq, err)
	}
	return append([]byte("rxguard-physician-events-v1\n"), b...), nil
}

// SignEventPage signs one page of the physician-status feed: the events
// that follow afterSeq, in order.
func SignEventPage(afterSeq int64, events []PhysicianEvent, key ed25519.PrivateKey) (string, error) {
	msg, err := eventPageBytes(afterSeq, events)
	if err != nil {
		return "", err
	}
	return sign(key, msg), nil
}

// VerifyEventPage checks a feed page's signature against the trusted keys.
func VerifyEventPage(afterSeq int64, events []PhysicianEvent, signature string, trusted []ed25519.PublicKey) error {
	msg, err := eventPageBytes(afterSeq, events)
	if err != nil {
		return err
	}
	return verify(fmt.Sprintf("physician events after seq %d", afterSeq), signature, msg, trusted)
}

// eventBatchBytes is what a publisher signs to append events to a bureau's
// feed: the feed's newest seq the batch follows, so a signed batch can be
// appended once only, and its events without seq or source (the bureau
// numbers them). Its own prefix keeps a batch signature from ever passing
// for a feed page's.
func eventBatchBytes(afterSeq int64, events []PhysicianEvent) ([]byte, error) {
	p := eventPage{AfterSeq: afterSeq, Events: make([]PhysicianEvent, len(events))}
	for i, e := range events {
		e.Seq, e.Source = 0, Source{}
		p.Events[i] = e
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode physician events to publish after %d for signing: %w", afterSeq, err)
	}
	return append([]byte("rxguard-physician-events-publish-v1\n"), b...), nil
}

// SignEventBatch signs a batch of events to publish into a bureau's feed
// after its event afterSeq (`rxguard bureau publish-events -key`).
func SignEventBatch(afterSeq int64, events []PhysicianEvent, key ed25519.PrivateKey) (string, error) {
	msg, err := eventBatchBytes(afterSeq, events)
	if err != nil {
		return "", err
	}
	return sign(key, msg), nil
}

// VerifyEventBatch checks a publish batch's signature against the
// bureau's publisher keys.
func VerifyEventBatch(afterSeq int64, events []PhysicianEvent, signature string, trusted []ed25519.PublicKey) error {
	msg, err := eventBatchBytes(afterSeq, events)
	if err != nil {
		return err
	}
	return verify(fmt.Sprintf("the batch of %d physician events to publish after seq %d", len(events), afterSeq), signature, msg, trusted)
}

// parseSignature splits "ed25519:<key id>:<base64>".
func parseSignature(signature string) (keyID, sig64 string, ok bool) {
	scheme, rest, ok1 := strings.Cut(signature, ":")
	keyID, sig64, ok2 := strings.Cut(rest, ":")
	return keyID, sig64, ok1 && ok2 && scheme == "ed25519"
}

// SignerKeyID is the key id a signature names ("" if it is not one), for
// listings; it proves nothing.
func SignerKeyID(signature string) string {
	id, _, ok := parseSignature(signature)
	if !ok {
		return ""
	}
	return id
}

func verify(what, signature string, msg []byte, trusted []ed25519.PublicKey) error {
	if signature == "" {
		return fmt.Errorf("%s is not signed: %w", what, ErrSignature)
	}
	id, sig64, ok := parseSignature(signature)
	if !ok {
		return fmt.Errorf("%s: signature is not ed25519:<key id>:<base64>: %w", what, ErrSignature)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%s: signature is not %d base64-encoded bytes: %w", what, ed25519.SignatureSize, ErrSignature)
	}
	for _, k := range trusted {
		if KeyID(k) == id && ed25519.Verify(k, msg, sig) {
			return nil
		}
	}
	known := make([]string, len(trusted))
	for i, k := range trusted {
		known[i] = KeyID(k)
	}
	return fmt.Errorf("%s is signed by key %s, which is not among the trusted keys [%s] or did not sign this content: %w",
		what, id, strings.Join(known, " "), ErrSignature)
}

// ParsePublicKey reads a publisher key as pinned in configuration: 32 bytes
// in base64 or hex (what `rxguard bureau keygen` prints).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	return nil, fmt.Errorf("public key %.20q… is not %d bytes of base64 or hex", s, ed25519.PublicKeySize)
}

// ParsePrivateKey reads a signing key: the 32-byte seed or the 64-byte
// private key, in base64 or hex.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	var b []byte
	if d, err := base64.StdEncoding.DecodeString(s); err == nil {
		b = d
	} else if d, err := hex.DecodeString(s); err == nil {
		b = d
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		return ed25519.NewKeyFromSeed(b[:ed25519.SeedSize]), nil
	}
	return nil, fmt.Errorf("signing key is not a %d-byte seed or %d-byte private key in base64 or hex", ed25519.SeedSize, ed25519.PrivateKeySize)
}

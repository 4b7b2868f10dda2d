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
	pub := key.Public().(ed25519.PublicKey)
	m.Signature = "ed25519:" + KeyID(pub) + ":" + base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return m, nil
}

// KeyID names a public key in signatures and messages.
func KeyID(pub ed25519.PublicKey) string { return hex.EncodeToString(pub[:8]) }

// VerifyManifest checks m's signature against the trusted keys (the
// publisher keys pinned in the sidecar's configuration). It says which key
// id signed, or why nothing verifies, in terms an operator can act on.
func VerifyManifest(m Manifest, trusted []ed25519.PublicKey) error {
	scheme, rest, ok := strings.Cut(m.Signature, ":")
	if m.Signature == "" {
		return fmt.Errorf("release %s is not signed: %w", m.Version, ErrSignature)
	}
	id, sig64, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || scheme != "ed25519" {
		return fmt.Errorf("release %s: signature is not ed25519:<key id>:<base64>: %w", m.Version, ErrSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("release %s: signature is not %d base64-encoded bytes: %w", m.Version, ed25519.SignatureSize, ErrSignature)
	}
	msg, err := signedBytes(m)
	if err != nil {
		return err
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
	return fmt.Errorf("release %s is signed by key %s, which is not among the trusted keys [%s] or did not sign this manifest: %w",
		m.Version, id, strings.Join(known, " "), ErrSignature)
}

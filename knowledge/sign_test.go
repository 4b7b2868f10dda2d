package knowledge

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignAndVerifyManifest(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	records, err := (&Content{Drugs: []Drug{{Code: "X1", GenericName: "甲"}}}).Records()
	if err != nil {
		t.Fatal(err)
	}
	m := NewManifest("2026.11.1", "2026.11.0", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), records)
	signed, err := SignManifest(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyManifest(signed, []ed25519.PublicKey{otherPub, pub}); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}

	tamper := []struct {
		name   string
		change func(m *Manifest)
		keys   []ed25519.PublicKey
	}{
		{"unsigned", func(m *Manifest) { m.Signature = "" }, []ed25519.PublicKey{pub}},
		{"content hash changed", func(m *Manifest) { m.ContentSHA256 = "0" + m.ContentSHA256[1:] }, []ed25519.PublicKey{pub}},
		{"version changed", func(m *Manifest) { m.Version = "2026.11.2" }, []ed25519.PublicKey{pub}},
		{"parent changed", func(m *Manifest) { m.Parent = "x" }, []ed25519.PublicKey{pub}},
		{"count changed", func(m *Manifest) { m.Counts[ClassDrug]++ }, []ed25519.PublicKey{pub}},
		{"untrusted key", func(m *Manifest) {}, []ed25519.PublicKey{otherPub}},
		{"no keys", func(m *Manifest) {}, nil},
		{"garbage", func(m *Manifest) { m.Signature = "ed25519:zz:!!!" }, []ed25519.PublicKey{pub}},
		{"other scheme", func(m *Manifest) { m.Signature = "rsa:" + m.Signature }, []ed25519.PublicKey{pub}},
	}
	for _, c := range tamper {
		t.Run(c.name, func(t *testing.T) {
			m := signed
			m.Counts = map[Class]int{}
			for k, v := range signed.Counts {
				m.Counts[k] = v
			}
			c.change(&m)
			if err := VerifyManifest(m, c.keys); !errors.Is(err, ErrSignature) {
				t.Errorf("verified a manifest with %s: %v", c.name, err)
			}
		})
	}

	// Signed by the other key: refused by a verifier trusting only pub.
	bySomeoneElse, _ := SignManifest(m, otherPriv)
	if err := VerifyManifest(bySomeoneElse, []ed25519.PublicKey{pub}); !errors.Is(err, ErrSignature) {
		t.Errorf("accepted a signature by an untrusted key: %v", err)
	}
}

// A signed manifest stored as JSON (as the store and the wire keep it) and
// read back still verifies.
func TestSignatureSurvivesJSONRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	m := NewManifest("v1", "", time.Now(), nil) // local zone and monotonic clock on purpose
	signed, err := SignManifest(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(signed)
	if err != nil {
		t.Fatal(err)
	}
	var back Manifest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := VerifyManifest(back, []ed25519.PublicKey{pub}); err != nil {
		t.Errorf("signature lost in the round trip: %v", err)
	}
}

// Any change to the signature's text is a different signature: base64's
// unused trailing bits are not ignored.
func TestSignatureTrailingBitsRejected(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	m, err := SignManifest(NewManifest("v1", "", time.Unix(0, 0), nil), key)
	if err != nil {
		t.Fatal(err)
	}
	sig := []byte(m.Signature)
	// The last data character before "==" carries 4 unused bits: set the
	// lowest of them.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := len(sig) - 3
	sig[i] = alphabet[strings.IndexByte(alphabet, sig[i])^1]
	m.Signature = string(sig)
	if err := VerifyManifest(m, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err == nil {
		t.Fatalf("signature with changed padding bits %q accepted", m.Signature[i-2:])
	}
}

// A publish batch is signed over after_seq and the events without seq or
// source; its signature is never a feed page's, nor a page's a batch's.
func TestSignEventBatch(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	events := []PhysicianEvent{{PhysicianCode: "D1", Type: "SUSPENDED", Date: "2026-11-20", Until: "2027-02-19"}}
	sig, err := SignEventBatch(12, events, key)
	if err != nil {
		t.Fatal(err)
	}
	numbered := []PhysicianEvent{events[0]}
	numbered[0].Seq, numbered[0].Source = 13, Source{Batch: "b", Row: 2}
	if err := VerifyEventBatch(12, numbered, sig, trusted); err != nil {
		t.Fatalf("seq and source are the bureau's, not signed: %v", err)
	}
	if err := VerifyEventBatch(11, events, sig, trusted); !errors.Is(err, ErrSignature) {
		t.Fatalf("batch verified after another seq: %v", err)
	}
	if err := VerifyEventPage(12, numbered, sig, trusted); !errors.Is(err, ErrSignature) {
		t.Fatalf("a batch signature verified as a feed page's: %v", err)
	}
	page, _ := SignEventPage(12, numbered, key)
	if err := VerifyEventBatch(12, numbered, page, trusted); !errors.Is(err, ErrSignature) {
		t.Fatalf("a feed page's signature verified as a batch's: %v", err)
	}
}

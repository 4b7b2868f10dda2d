package keyfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const hexKey = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

func TestParse(t *testing.T) {
	want, _ := hex.DecodeString(hexKey)
	tests := []struct {
		name, in string
		ok       bool
		errHas   string
	}{
		{"bare", hexKey, true, ""},
		{"newline", hexKey + "\n", true, ""},
		{"crlf", hexKey + "\r\n", true, ""},
		{"empty", "", false, "0 characters"},
		{"short", hexKey[:62], false, "62 characters"},
		{"long", hexKey + "00", false, "66 characters"},
		{"two newlines", hexKey + "\n\n", false, "65 characters"},
		{"leading space", " " + hexKey[1:], false, "character 1 is not hexadecimal"},
		{"trailing space", hexKey[:63] + " ", false, "character 64"},
		{"not hex", "g" + hexKey[1:], false, "character 1"},
		{"raw 32 bytes", string(want), false, "32 characters"},
		{"base64", "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=", false, "44 characters"},
		{"16-byte AES-128 key", hexKey[:32], false, "want exactly 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.ok {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("key = %x, want %x", got, want)
				}
				return
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("Parse error = %v, want ErrFormat containing %q", err, tc.errHas)
			}
			if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in) {
				t.Fatalf("the error echoes the file's content: %v", err)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	for _, p := range []string{a, b} {
		if err := Generate(p); err != nil {
			t.Fatalf("Generate(%s): %v", p, err)
		}
	}
	info, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", info.Mode().Perm())
	}
	ka, err := Read(a)
	if err != nil {
		t.Fatalf("Read(generated): %v", err)
	}
	kb, err := Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ka, kb) || bytes.Equal(ka, make([]byte, Size)) {
		t.Fatalf("two generated keys are equal or zero: %x %x", ka, kb)
	}
	// Never replaced: the existing key stays as it was.
	if err := Generate(a); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Generate over an existing key = %v, want a refusal", err)
	}
	if again, _ := Read(a); !bytes.Equal(again, ka) {
		t.Fatal("Generate changed an existing key file")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{hexKey, hexKey + "\n", hexKey + "\r\n", "", "\n", hexKey[:63] + "z", strings.Repeat("ff", 33)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) || key != nil {
				t.Fatalf("Parse(%q) = %x, %v: an error must be ErrFormat with no key", b, key, err)
			}
			return
		}
		if len(key) != Size {
			t.Fatalf("Parse(%q) = %d bytes", b, len(key))
		}
		// What parses is the canonical text, up to case and one line end.
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if !strings.EqualFold(hex.EncodeToString(key), s) {
			t.Fatalf("Parse(%q) = %x, not the key the file spells", b, key)
		}
	})
}

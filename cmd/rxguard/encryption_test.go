package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/keyfile"
)

// encPatient is distinctive enough that finding it in a file is no accident.
const encPatient, encPhysician = "PAT-ENC-7f3a9c21", "D370800000001"

func newKeyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.key")
	if err := keyfile.Generate(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// plaintextIn lists the files under the data directory's patient stores
// that hold needle in the clear.
func plaintextIn(t *testing.T, data string, needle string) []string {
	t.Helper()
	var hits []string
	for _, st := range patientStores {
		root := filepath.Join(data, st.name)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(needle)) {
				rel, _ := filepath.Rel(data, path)
				hits = append(hits, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hits
}

// recordPatient checks and signs the example order for encPatient and
// answers nothing: the decision and the signed lines are durable once
// RecordSigned returns (its link to the decision is synced).
func recordPatient(t *testing.T, s *logSidecar) string {
	t.Helper()
	ctx := context.Background()
	req := exampleOrder(t)
	req.Patient.Id = encPatient
	resp, err := s.guard.CheckOrders(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.guard.RecordSigned(ctx, &rxguardv1.RecordSignedRequest{DecisionId: resp.DecisionId, PatientId: encPatient,
		EncounterId: req.Encounter.Id, Orders: req.Orders}); err != nil {
		t.Fatal(err)
	}
	return resp.DecisionId
}

// TestSidecarEncryptedAtRest assembles the sidecar with newSidecar. With
// encryption.key_file no file of the history store or the decision log
// holds the patient id or the physician code in the clear, while it runs
// or after it stopped; without it the same grep finds them (the history
// store is not compressed, so its files show the patient after the stop
// too). The stopped sidecar's log reads back with -key-file only, and a
// sidecar without the key refuses to start.
func TestSidecarEncryptedAtRest(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := map[bool]string{false: "unencrypted", true: "encrypted"}[encrypted]
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "off"
			if encrypted {
				cfg.Encryption.KeyFile = newKeyFile(t)
			}
			s := startSidecarConfig(t, cfg)
			id := recordPatient(t, s)
			running := map[string][]string{encPatient: plaintextIn(t, cfg.DataDir, encPatient), encPhysician: plaintextIn(t, cfg.DataDir, encPhysician)}
			s.stop()
			stopped := plaintextIn(t, cfg.DataDir, encPatient)
			for needle, hits := range running {
				if encrypted && len(hits) > 0 {
					t.Errorf("running: %s in the clear in %v", needle, hits)
				}
				if !encrypted && len(hits) == 0 {
					t.Errorf("running, unencrypted: %s found nowhere: the grep cannot see plaintext", needle)
				}
			}
			if encrypted && len(stopped) > 0 {
				t.Errorf("stopped: %s in the clear in %v", encPatient, stopped)
			}
			if !encrypted && !strings.HasPrefix(strings.Join(stopped, " "), "history") {
				t.Errorf("stopped, unencrypted: the history store's files do not show %s: %v", encPatient, stopped)
			}

			// Read back from the stopped sidecar's data directory.
			args := []string{"query", "-data", cfg.DataDir, "-patient", encPatient, "-json"}
			if encrypted {
				args = append(args, "-key-file", cfg.Encryption.KeyFile)
			}
			out, errOut, err := runLog(t, args...)
			if err != nil || !strings.Contains(out, id) || !strings.Contains(out, encPhysician) {
				t.Fatalf("rxguard log %v = %v\n%s%s", args, err, out, errOut)
			}
			if !encrypted {
				return
			}
			_, _, err = runLog(t, "query", "-data", cfg.DataDir)
			if !errors.Is(err, badgerdb.ErrEncryptionKey) || !strings.Contains(err.Error(), "-key-file") {
				t.Fatalf("rxguard log query without -key-file = %v, want the key error saying -key-file", err)
			}
			_, _, err = runLog(t, "query", "-data", cfg.DataDir, "-key-file", newKeyFile(t))
			if !errors.Is(err, badgerdb.ErrEncryptionKey) || !strings.Contains(err.Error(), "another key") {
				t.Fatalf("rxguard log query with another key = %v", err)
			}

			// Restarting without the key, or with another, refuses to
			// start and names the store; nothing in the patient stores
			// changes (the knowledge store, opened first, is not one).
			for _, keyFile := range []string{"", newKeyFile(t)} {
				c := cfg
				c.Encryption.KeyFile = keyFile
				before := dirNames(t, cfg.DataDir)
				sc, err := newSidecar(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err == nil {
					sc.close()
					t.Fatalf("the sidecar started with key file %q on an encrypted data directory", keyFile)
				}
				if !errors.Is(err, badgerdb.ErrEncryptionKey) || !strings.Contains(err.Error(), "history store "+filepath.Join(cfg.DataDir, "history")) {
					t.Fatalf("newSidecar with key file %q = %v, want the key error naming the history store", keyFile, err)
				}
				if after := dirNames(t, cfg.DataDir); after != before {
					t.Fatalf("a refused start changed the data directory: %s → %s", before, after)
				}
			}
		})
	}
}

// dirNames lists the files of the patient stores under the data directory
// dir, with their sizes.
func dirNames(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	for _, st := range patientStores {
		names = append(names, walkNames(t, dir, st.name)...)
	}
	return strings.Join(names, " ")
}

func walkNames(t *testing.T, dir, store string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(filepath.Join(dir, store), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		names = append(names, fmt.Sprint(rel, ":", info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestSidecarRefusesBadKeyFile: a key file that is missing, malformed or
// readable by others stops the start before any store is opened.
func TestSidecarRefusesBadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hex64 := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name, path, errHas string
	}{
		{"missing", filepath.Join(dir, "none.key"), "rxguard encryption keygen"},
		{"short", write("short.key", hex64[:48]+"\n", 0o600), "48 characters, want exactly 64"},
		{"not hex", write("pem.key", "-----BEGIN PRIVATE KEY-----\n", 0o600), "27 characters"},
		{"world-readable", write("open.key", hex64, 0o644), "chmod 600"},
		{"group-readable", write("group.key", hex64, 0o640), "chmod 600"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "off"
			cfg.Encryption.KeyFile = tc.path
			sc, err := newSidecar(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				sc.close()
				t.Fatal("the sidecar started")
			}
			if !strings.Contains(err.Error(), "encryption.key_file") || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("newSidecar = %v\nwant encryption.key_file, %s and %q", err, tc.path, tc.errHas)
			}
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a refused start created the data directory: %v", err)
			}
		})
	}
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestEncryptionKeygen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data.key")
	out, err := runCLI(t, "encryption", "keygen", "-o", p)
	if err != nil || !strings.Contains(out, "escrow") {
		t.Fatalf("keygen = %v\n%s", err, out)
	}
	info, err := os.Stat(p)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode())
	}
	if _, err := keyfile.Read(p); err != nil {
		t.Fatalf("the generated key does not read back: %v", err)
	}
	if out, err := runCLI(t, "encryption", "keygen", "-o", p); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("keygen over an existing key = %v\n%s", err, out)
	}
	var ue usageError
	if _, err := runCLI(t, "encryption", "keygen"); !errors.As(err, &ue) {
		t.Fatalf("keygen without -o = %v, want a usage error", err)
	}
}

// TestEncryptionRotate encrypts a stopped sidecar's unencrypted stores,
// changes their key, and checks what each key opens afterwards; a running
// sidecar's stores are refused.
func TestEncryptionRotate(t *testing.T) {
	cfg := defaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "off"
	s := startSidecarConfig(t, cfg)
	id := recordPatient(t, s)
	s.stop()
	k1, k2 := newKeyFile(t), newKeyFile(t)
	query := func(keyFile string) error {
		t.Helper()
		out, _, err := runLog(t, "query", "-data", cfg.DataDir, "-key-file", keyFile, "-json")
		if err == nil && !strings.Contains(out, id) {
			t.Fatalf("the rotated log lacks decision %s:\n%s", id, out)
		}
		return err
	}

	out, err := runCLI(t, "encryption", "rotate", "-new-key-file", k1, "-data", cfg.DataDir)
	if err != nil {
		t.Fatalf("rotate (encrypt) = %v\n%s", err, out)
	}
	for _, st := range patientStores {
		if !strings.Contains(out, filepath.Join(cfg.DataDir, st.name)+": ") || !strings.Contains(out, "verified") {
			t.Errorf("rotate output does not report %s:\n%s", st.name, out)
		}
	}
	if err := query(k1); err != nil {
		t.Fatalf("query with the new key: %v", err)
	}
	if got := plaintextIn(t, cfg.DataDir, encPatient); len(got) > 0 {
		t.Fatalf("after encrypting, %s is in the clear in %v", encPatient, got)
	}

	// The previous stores are kept until the operator removes them.
	if out, err := runCLI(t, "encryption", "rotate", "-old-key-file", k1, "-new-key-file", k2, "-data", cfg.DataDir); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("rotate with .old-key present = %v\n%s", err, out)
	}
	for _, st := range patientStores {
		if err := os.RemoveAll(filepath.Join(cfg.DataDir, st.name) + badgerdb.OldKeySuffix); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runCLI(t, "encryption", "rotate", "-old-key-file", k2, "-new-key-file", k1, "-data", cfg.DataDir); !errors.Is(err, badgerdb.ErrEncryptionKey) {
		t.Fatalf("rotate with the wrong old key = %v\n%s", err, out)
	}
	if out, err := runCLI(t, "encryption", "rotate", "-old-key-file", k1, "-new-key-file", k2, "-data", cfg.DataDir); err != nil {
		t.Fatalf("rotate k1 → k2 = %v\n%s", err, out)
	}
	if err := query(k2); err != nil {
		t.Fatalf("query with the new key: %v", err)
	}
	if err := query(k1); !errors.Is(err, badgerdb.ErrEncryptionKey) {
		t.Fatalf("query with the replaced key = %v, want the key error", err)
	}

	// The sidecar starts on the rotated stores with the new key and finds
	// the decision; meanwhile they cannot be rotated.
	cfg.Encryption.KeyFile = k2
	s = startSidecarConfig(t, cfg)
	d, err := s.audit.GetDecision(context.Background(), &rxguardv1.GetDecisionRequest{DecisionId: id})
	if err != nil || d.GetDecision().GetRequest().GetPatient().GetId() != encPatient {
		t.Fatalf("GetDecision after rotation = %v, %v", d, err)
	}
	for _, st := range patientStores {
		if err := os.RemoveAll(filepath.Join(cfg.DataDir, st.name) + badgerdb.OldKeySuffix); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runCLI(t, "encryption", "rotate", "-old-key-file", k2, "-new-key-file", k1, "-data", cfg.DataDir); err == nil || !strings.Contains(err.Error(), "stop the sidecar") {
		t.Fatalf("rotate while the sidecar runs = %v\n%s", err, out)
	}

	var ue usageError
	for _, args := range [][]string{
		{"encryption", "rotate", "-data", cfg.DataDir},
		{"encryption", "rotate", "-new-key-file", k1},
		{"encryption", "frobnicate"},
	} {
		if _, err := runCLI(t, args...); !errors.As(err, &ue) {
			t.Errorf("%v = %v, want a usage error", args, err)
		}
	}
}

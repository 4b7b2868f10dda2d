package decisionlog

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/badgerdb"
)

var (
	testKey  = bytes.Repeat([]byte{0x3e}, 32)
	otherKey = bytes.Repeat([]byte{0xe3}, 32)
)

// filesContaining lists the files under dir that hold needle in the clear.
func filesContaining(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestEncryptedAtRest: with a key no file of the decision log holds the
// patient id or the physician code in the clear, neither while it is open
// (memtable log) nor after Close (ZSTD tables); without one the same grep
// finds both in the open log, so the grep can fail. The log reopens, read-write and
// read-only, with its key.
func TestEncryptedAtRest(t *testing.T) {
	const patient, physician = "PAT-7f3a9c21-ENC", "D370899887766"
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"unencrypted", nil}, {"encrypted", testKey}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger(), SidecarID: "enc", EncryptionKey: tc.key})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 50 {
				e := entry(spec{at: at.Add(time.Duration(i) * time.Second), seq: uint64(i + 1), physician: physician, physicianName: "王医师",
					physDept: "A03", encDept: "A03", patient: patient, verdict: rxguardv1.Verdict_VERDICT_WARN,
					findings: []fspec{{ruleType: "DRUG_GENDER", action: rxguardv1.Action_ACTION_WARN, overridable: true, lines: []int{0}}}})
				l.Append(context.Background(), e)
				ids = append(ids, e.ID)
			}
			flush(t, l)
			grep := func() [][]string {
				return [][]string{filesContaining(t, dir, []byte(patient)), filesContaining(t, dir, []byte(physician))}
			}
			// Open: the memtable log holds every commit as written; the
			// control finds both there.
			for i, h := range grep() {
				switch {
				case tc.key == nil && len(h) == 0:
					t.Errorf("grep %d found nothing in an open unencrypted log: the test cannot see plaintext", i)
				case tc.key != nil && len(h) > 0:
					t.Errorf("grep %d: plaintext patient data in %v of an open encrypted log", i, h)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			// Closed: everything is in ZSTD-compressed tables, which hide
			// the ids from grep even unencrypted, so there is no control
			// here; encrypted, nothing may show.
			for i, h := range grep() {
				if tc.key != nil && len(h) > 0 {
					t.Errorf("grep %d: plaintext patient data in %v of a closed encrypted log", i, h)
				}
			}
			for _, ro := range []bool{false, true} {
				l, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger(), SidecarID: "enc", EncryptionKey: tc.key, ReadOnly: ro})
				if err != nil {
					t.Fatalf("reopen (read-only %v): %v", ro, err)
				}
				d, err := l.Get(context.Background(), ids[17])
				if err != nil {
					t.Fatalf("reopen (read-only %v): Get: %v", ro, err)
				}
				if d.GetRequest().GetPatient().GetId() != patient || d.GetRequest().GetPhysician().GetCode() != physician {
					t.Fatalf("reopened decision: patient %q physician %q", d.GetRequest().GetPatient().GetId(), d.GetRequest().GetPhysician().GetCode())
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestOpenRefusesTheWrongKey: a key that does not open the store fails
// Open, read-write (where other open failures give a degraded log) and
// read-only alike.
func TestOpenRefusesTheWrongKey(t *testing.T) {
	plainDir, encDir := t.TempDir(), t.TempDir()
	for dir, key := range map[string][]byte{plainDir: nil, encDir: testKey} {
		l := openTest(t, Options{Dir: dir, EncryptionKey: key})
		l.Append(context.Background(), entry(spec{at: time.Now(), seq: 1, physician: "D1", patient: "P1", verdict: rxguardv1.Verdict_VERDICT_PASS}))
		flush(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, dir string
		key       []byte
		errHas    string
	}{
		{"encrypted, no key", encDir, nil, "no key was given"},
		{"encrypted, wrong key", encDir, otherKey, "another key"},
		{"unencrypted, a key", plainDir, testKey, "is not encrypted"},
	}
	for _, tc := range tests {
		for _, ro := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				l, err := Open(context.Background(), Options{Dir: tc.dir, EncryptionKey: tc.key, Logger: quietLogger(), ReadOnly: ro})
				if err == nil {
					l.Close()
					t.Fatalf("Open (read-only %v) succeeded", ro)
				}
				if !errors.Is(err, badgerdb.ErrEncryptionKey) || !strings.Contains(err.Error(), "decision log "+tc.dir) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("Open (read-only %v) error = %v\nwant ErrEncryptionKey naming the decision log %s and saying %q", ro, err, tc.dir, tc.errHas)
				}
			})
		}
	}
}

func TestRekeyDecisionLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "decisions")
	l := openTest(t, Options{Dir: dir, EncryptionKey: testKey})
	e := entry(spec{at: time.Now(), seq: 9, physician: "D9", patient: "P9", verdict: rxguardv1.Verdict_VERDICT_PASS})
	l.Append(context.Background(), e)
	flush(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Rekey(context.Background(), dir, testKey, otherKey, quietLogger())
	if err != nil || res.Keys == 0 {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	l = openTest(t, Options{Dir: dir, EncryptionKey: otherKey, ReadOnly: true})
	if _, err := l.Get(context.Background(), e.ID); err != nil {
		t.Fatalf("Get after Rekey: %v", err)
	}
}

package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TokenPrefix starts every token NewToken makes, so a leaked one is easy
// to recognise in a log or a repository scan.
const TokenPrefix = "rxg_"

// DefaultTokenCheckInterval is how often the token file is looked at when
// TokenOptions.CheckInterval is zero.
const DefaultTokenCheckInterval = 2 * time.Second

// maxTokenFileBytes bounds the file: a few thousand callers at most.
const maxTokenFileBytes = 1 << 20

// Token is one line of a token file: the SHA-256 of a bearer token, the
// roles it holds and the name logs and metrics use for it (the token itself
// is never stored or logged).
type Token struct {
	Hash  [sha256.Size]byte
	Roles Roles
	Name  string
}

// NewToken makes a random bearer token (256 bits) and the token-file line
// that grants it roles under name. The token is shown once; only its hash
// is kept.
func NewToken(roles Roles, name string) (token, line string, err error) {
	if err := checkName(name); err != nil {
		return "", "", err
	}
	if roles == 0 {
		return "", "", errors.New("a token needs at least one role (his, audit, admin)")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("random token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	return token, "sha256:" + hex.EncodeToString(h[:]) + " " + roles.String() + " " + name, nil
}

// ParseTokens decodes a token file. Each line is
//
//	sha256:<64 hex digits> <roles> <name>
//
// with roles a comma-separated list of his, audit, admin and name 1–64
// characters of letters, digits and . _ - @; blank lines and lines starting
// with # are ignored. The same hash twice is an error (which line's roles
// would count?); the same name twice is not (a rotation keeps the old and
// the new token of one caller for a while). Errors name the file and line.
func ParseTokens(path string, data []byte) ([]Token, error) {
	if len(data) > maxTokenFileBytes {
		return nil, fmt.Errorf("token file %s is larger than %d bytes", path, maxTokenFileBytes)
	}
	var out []Token
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxTokenFileBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, err := parseTokenLine(line)
		if err != nil {
			return nil, fmt.Errorf("token file %s line %d: %w", path, n, err)
		}
		if first, dup := seen[t.Hash]; dup {
			return nil, fmt.Errorf("token file %s line %d: the same hash as line %d (one line per token; list several roles as his,audit)", path, n, first)
		}
		seen[t.Hash] = n
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return out, nil
}

func parseTokenLine(line string) (Token, error) {
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return Token{}, fmt.Errorf("want \"sha256:<hex> <roles> <name>\" (3 fields), got %d; make a line with `rxguard token new -role ROLE -name NAME`", len(fields))
	}
	var t Token
	hexHash, ok := strings.CutPrefix(fields[0], "sha256:")
	if !ok {
		return t, errors.New("the first field must start with sha256: (the file holds token hashes, never tokens)")
	}
	if len(hexHash) != 2*sha256.Size {
		return t, fmt.Errorf("hash has %d hex digits, want %d", len(hexHash), 2*sha256.Size)
	}
	if _, err := hex.Decode(t.Hash[:], []byte(hexHash)); err != nil {
		return t, fmt.Errorf("hash is not hexadecimal: %w", err)
	}
	var err error
	if t.Roles, err = ParseRoles(fields[1]); err != nil {
		return t, err
	}
	if err := checkName(fields[2]); err != nil {
		return t, err
	}
	t.Name = fields[2]
	return t, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("name %q must be 1–64 characters", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)) {
			return fmt.Errorf("name %q may hold only letters, digits and . _ - @", name)
		}
	}
	return nil
}

// TokenOptions tune a TokenFile.
type TokenOptions struct {
	// CheckInterval: the file is stat'ed at most this often, by the first
	// call after it elapsed; 0 means DefaultTokenCheckInterval, negative
	// means every call (tests).
	CheckInterval time.Duration
	Logger        *slog.Logger
}

// TokenFile is a token file kept current: a call looks at the file at most
// every CheckInterval and re-reads it when its size, modification time or
// identity changed, so tokens are added and revoked without a restart. A
// file that no longer parses keeps the previous tokens in service (a typo
// must not lock every HIS out) and is reported in the log, in Status and in
// the reload error counter until it is fixed.
type TokenFile struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	tokens    atomic.Pointer[[]Token]
	nextCheck atomic.Int64
	errs      atomic.Uint64

	mu      sync.Mutex // serialises reloads and guards what follows
	seen    os.FileInfo
	reloads uint64
	lastErr string
}

// OpenTokenFile reads the file; it must parse (a sidecar must not start
// with credentials it cannot read).
func OpenTokenFile(path string, o TokenOptions) (*TokenFile, error) {
	f := &TokenFile{path: path, interval: o.CheckInterval, log: o.Logger}
	if f.interval == 0 {
		f.interval = DefaultTokenCheckInterval
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	tokens, err := readTokens(path)
	if err != nil {
		return nil, err
	}
	f.seen = fi
	f.tokens.Store(&tokens)
	f.nextCheck.Store(time.Now().Add(f.interval).UnixNano())
	return f, nil
}

func readTokens(path string) ([]Token, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	return ParseTokens(path, b)
}

// Path is the file's path.
func (f *TokenFile) Path() string { return f.path }

// lookup finds the token whose hash is h. Every entry is compared in
// constant time and the loop never stops early, so the time taken says
// nothing about which hash (or how much of it) matched.
func (f *TokenFile) lookup(h *[sha256.Size]byte) (Token, bool) {
	f.maybeReload()
	var found Token
	ok := 0
	for _, t := range *f.tokens.Load() {
		eq := subtle.ConstantTimeCompare(t.Hash[:], h[:])
		if eq == 1 {
			found = t
		}
		ok |= eq
	}
	return found, ok == 1
}

func (f *TokenFile) maybeReload() {
	now := time.Now().UnixNano()
	next := f.nextCheck.Load()
	if now < next || !f.nextCheck.CompareAndSwap(next, now+int64(f.interval)) {
		return
	}
	f.Reload()
}

// Reload re-reads the file if it changed since the last read. Calls do
// this on their own; Reload is for a signal handler or a test.
func (f *TokenFile) Reload() {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err == nil && f.seen != nil && fi.Size() == f.seen.Size() && fi.ModTime().Equal(f.seen.ModTime()) && os.SameFile(fi, f.seen) {
		return
	}
	var tokens []Token
	if err == nil {
		f.seen = fi
		tokens, err = readTokens(f.path)
	} else {
		err = fmt.Errorf("token file: %w", err)
	}
	if err != nil {
		f.errs.Add(1)
		if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			f.log.Error("token file reload failed; the previous tokens stay in service until the file is fixed", "file", f.path, "err", err)
		}
		return
	}
	f.tokens.Store(&tokens)
	f.reloads++
	f.lastErr = ""
	f.log.Info("token file reloaded", "file", f.path, "tokens", len(tokens))
}

// TokenFileStatus is what a TokenFile reports.
type TokenFileStatus struct {
	Path            string
	Tokens          int
	Reloads, Errors uint64
	LastError       string
}

// Status reports the tokens in service and the reload outcomes.
func (f *TokenFile) Status() TokenFileStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return TokenFileStatus{Path: f.path, Tokens: len(*f.tokens.Load()), Reloads: f.reloads, Errors: f.errs.Load(), LastError: f.lastErr}
}

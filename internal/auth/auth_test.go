package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Renamed into place, as an operator's editor or a config manager does.
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func hashLine(token, roles, name string) string {
	h := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(h[:]) + " " + roles + " " + name + "\n"
}

func TestParseTokens(t *testing.T) {
	good := hashLine("a", "his", "HIS-1")
	for _, tc := range []struct {
		name, file, err string
		n               int
	}{
		{"empty", "", "", 0},
		{"comments and blanks", "# tokens\n\n  \n" + good, "", 1},
		{"byte order mark", "\ufeff" + good, "", 1},
		{"several roles", hashLine("b", "audit,admin", "ops@it"), "", 1},
		{"same name twice (rotation)", good + hashLine("c", "his", "HIS-1"), "", 2},
		{"two fields", "sha256:00 his\n", "line 1: want", 0},
		{"raw token instead of hash", "rxg_secret his HIS-1\n", "line 1: the first field must start with sha256:", 0},
		{"short hash", "sha256:abcd his HIS-1\n", "hash has 4 hex digits", 0},
		{"not hex", "sha256:" + strings.Repeat("z", 64) + " his HIS-1\n", "not hexadecimal", 0},
		{"unknown role", "# x\n" + strings.Replace(good, " his ", " hiss ", 1), "line 2: role \"hiss\" is not one of his, audit, admin", 0},
		{"empty role in list", strings.Replace(good, " his ", " his, ", 1), `role ""`, 0},
		{"bad name", strings.Replace(good, "HIS-1", "HIS/1", 1), "may hold only", 0},
		{"duplicate hash", good + strings.Replace(good, "HIS-1", "HIS-2", 1), "line 2: the same hash as line 1", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTokens("tokens.txt", []byte(tc.file))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "tokens.txt") {
					t.Fatalf("err %v, want one naming tokens.txt and containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != tc.n {
				t.Fatalf("got %d tokens, %v; want %d", len(got), err, tc.n)
			}
		})
	}
}

func TestNewTokenLineParsesAndAuthenticates(t *testing.T) {
	token, line, err := NewToken(Roles(0).With(HIS), "HIS-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, TokenPrefix) || strings.Contains(line, token) {
		t.Fatalf("token %q line %q: want the rxg_ prefix and a line without the token", token, line)
	}
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, line+"\n")
	tf, err := OpenTokenFile(path, TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Listener: "test", Tokens: tf})
	if d := a.Check(HIS, token, nil); !d.Allowed {
		t.Fatalf("the new token was refused: %+v", d)
	}
	if _, _, err := NewToken(0, "x"); err == nil {
		t.Fatal("a token without roles was made")
	}
	if _, _, err := NewToken(Roles(0).With(HIS), "bad name"); err == nil {
		t.Fatal("a token with a space in its name was made")
	}
}

func TestTokenFileRotationWithoutRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, hashLine("old-token", "his", "HIS-1"))
	tf, err := OpenTokenFile(path, TokenOptions{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Listener: "test", Tokens: tf})
	allowed := func(tok string) bool { return a.Check(HIS, tok, nil).Allowed }
	if !allowed("old-token") || allowed("new-token") {
		t.Fatal("before rotation: want the old token in and the new one out")
	}
	writeFile(t, path, hashLine("new-token", "his", "HIS-1"))
	if allowed("old-token") || !allowed("new-token") {
		t.Fatal("after rotation: want the old token out and the new one in")
	}
	// A broken file keeps what is in service and says why.
	writeFile(t, path, "sha256:nonsense his HIS-1\n")
	if !allowed("new-token") {
		t.Fatal("a broken token file took the tokens in service away")
	}
	if st := tf.Status(); st.Errors != 1 || !strings.Contains(st.LastError, "line 1") || st.Reloads != 1 || st.Tokens != 1 {
		t.Fatalf("status after a broken file: %+v", st)
	}
	// Deleting the file is an error too, not "no tokens".
	os.Remove(path)
	if !allowed("new-token") || tf.Status().Errors != 2 {
		t.Fatalf("after deleting the file: %+v", tf.Status())
	}
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, hashLine("his-token", "his", "HIS-1")+hashLine("ops-token", "audit,admin", "ops"))
	tf, err := OpenTokenFile(path, TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spiffe, _ := url.Parse("spiffe://hospital.example/his/app-1")
	hisCert := &x509.Certificate{Subject: pkix.Name{CommonName: "HIS-1"}}
	sanCert := &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, DNSNames: []string{"His.Hospital.Example"}, URIs: []*url.URL{spiffe}}
	unmapped := &x509.Certificate{Subject: pkix.Name{CommonName: "printer"}}
	subj := func(s string) Subject {
		sub, err := ParseSubject(s)
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	a := New(Config{Listener: "test", Tokens: tf, Certificates: []CertificateRole{
		{Subject: subj("cn:HIS-1"), Roles: Roles(0).With(HIS)},
		{Subject: subj("dns:his.hospital.example"), Roles: Roles(0).With(Audit)},
		{Subject: subj("uri:spiffe://hospital.example/his/app-1"), Roles: Roles(0).With(Admin)},
	}})
	for _, tc := range []struct {
		name     string
		a        *Authenticator
		required Role
		bearer   string
		cert     *x509.Certificate
		allowed  bool
		reason   Reason
		who      string
	}{
		{"undeclared is refused even without auth", nil, Undeclared, "", nil, false, NoRole, ""},
		{"auth off lets declared routes through", nil, Admin, "", nil, true, 0, ""},
		{"public", a, Public, "", nil, true, 0, ""},
		{"nothing", a, HIS, "", nil, false, Missing, ""},
		{"unknown token", a, HIS, "guess", nil, false, Invalid, "sha256:"},
		{"right token", a, HIS, "his-token", nil, true, 0, ""},
		{"token with another role", a, Audit, "his-token", nil, false, WrongRole, "HIS-1"},
		{"token with several roles", a, Admin, "ops-token", nil, true, 0, ""},
		{"mapped CN", a, HIS, "", hisCert, true, 0, ""},
		{"mapped CN, wrong role", a, Audit, "", hisCert, false, WrongRole, "cn:HIS-1"},
		{"SAN DNS, case-insensitive", a, Audit, "", sanCert, true, 0, ""},
		{"SAN URI", a, Admin, "", sanCert, true, 0, ""},
		{"unmapped certificate", a, HIS, "", unmapped, false, Missing, ""},
		{"certificate grants, foreign bearer ignored (CDS JWT)", a, HIS, "eyJhbGciOi.jwt", hisCert, true, 0, ""},
		{"certificate without the role, right token", a, Audit, "ops-token", hisCert, true, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.a.Check(tc.required, tc.bearer, tc.cert)
			if d.Allowed != tc.allowed || (!d.Allowed && d.Reason != tc.reason) || !strings.HasPrefix(d.Who, tc.who) {
				t.Fatalf("Check = %+v, want allowed=%v reason=%v who=%q…", d, tc.allowed, tc.reason, tc.who)
			}
			if strings.Contains(d.Who, tc.bearer) && tc.bearer != "" && !d.Allowed && d.Reason == Invalid {
				t.Fatal("the decision names the token itself")
			}
		})
	}
}

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"cn:HIS-1", "cn:HIS-1", ""},
		{"DNS:His.Example", "dns:his.example", ""},
		{"uri:spiffe://h/x", "uri:spiffe://h/x", ""},
		{"HIS-1", "", "want cn:NAME"},
		{"cn:", "", "want cn:NAME"},
		{"ou:pharmacy", "", "kind \"ou\""},
		{"uri:relative/path", "", "not an absolute URI"},
	} {
		s, err := ParseSubject(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, s, err, tc.want)
		}
	}
	if _, err := ParseSubjects("security.grpc.tls.allowed_clients", []string{"cn:a", "bad"}); err == nil || !strings.Contains(err.Error(), "security.grpc.tls.allowed_clients[1]") {
		t.Errorf("ParseSubjects: %v, want the key path with the index", err)
	}
}

func TestHandlerStatusCodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, hashLine("his-token", "his", "HIS-1"))
	tf, err := OpenTokenFile(path, TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Listener: "http", Tokens: tf})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, tc := range []struct {
		name, auth string
		role       Role
		code       int
		challenge  bool
	}{
		{"none", "", HIS, 401, true},
		{"invalid", "Bearer nope", HIS, 401, true},
		{"basic is not bearer", "Basic aGk6aGk=", HIS, 401, true},
		{"wrong role", "Bearer his-token", Audit, 403, false},
		{"right, scheme case-insensitive", "bearer his-token", HIS, http.StatusTeapot, false},
		{"undeclared", "Bearer his-token", Undeclared, 403, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			a.Handler("GET /x", tc.role, ok).ServeHTTP(w, r)
			if w.Code != tc.code || (w.Header().Get("WWW-Authenticate") != "") != tc.challenge {
				t.Fatalf("code %d WWW-Authenticate %q, want %d challenge=%v", w.Code, w.Header().Get("WWW-Authenticate"), tc.code, tc.challenge)
			}
			if strings.Contains(w.Body.String(), "his-token") {
				t.Fatal("the response echoes the token")
			}
		})
	}
	if got := a.denied[Missing][HIS].Load() + a.denied[Invalid][HIS].Load(); got != 3 {
		t.Errorf("401s counted: %d, want 3", got)
	}
	if a.denied[WrongRole][Audit].Load() != 1 || a.denied[NoRole][Undeclared].Load() != 1 || a.allowed[HIS].Load() != 1 {
		t.Error("wrong-role, no-role or allowed not counted by role")
	}
}

func FuzzParseTokens(f *testing.F) {
	f.Add([]byte(hashLine("a", "his", "HIS-1")))
	f.Add([]byte("# c\n\n" + hashLine("a", "audit,admin", "x") + hashLine("b", "his", "y")))
	f.Add([]byte("sha256:zz his n\n"))
	f.Add([]byte("\ufeffsha256: his\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ParseTokens("f", data)
		if err != nil {
			return
		}
		for _, tok := range tokens {
			if tok.Roles == 0 || checkName(tok.Name) != nil {
				t.Fatalf("accepted a token without roles or with a bad name: %+v", tok)
			}
		}
	})
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"cn:HIS-1", "dns:a.b", "uri:spiffe://x/y", "uri:%zz", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sub, err := ParseSubject(s)
		if err != nil {
			return
		}
		again, err := ParseSubject(sub.String())
		if err != nil || again != sub {
			t.Fatalf("%q → %q does not parse back to itself: %v", s, sub.String(), err)
		}
	})
}

package tlsreload_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/internal/testpki"
	"github.com/rxguard/rxguard/internal/tlsreload"
)

// serve runs a TLS echo-less server on loopback that completes handshakes
// and writes one byte, until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = c.Write([]byte{1})
				}
			}()
		}
	}()
	return lis.Addr().String()
}

// dial connects and returns the served leaf, or the error of the
// handshake or of the first read (TLS 1.3 reports a refused client
// certificate only there).
func dial(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func TestServerReloadsRotatedPairAndKeepsTheOldOneWhenBroken(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	first, second := ca.Server(t), ca.Server(t)
	dir := t.TempDir()
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	testpki.Install(t, first, certFile, keyFile)
	s, err := tlsreload.NewServer(tlsreload.ServerFiles{CertFile: certFile, KeyFile: keyFile}, tlsreload.Options{Name: "test", CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Config())
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	served := func() string {
		t.Helper()
		leaf, err := dial(addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.String()
	}
	if got, want := served(), first.Cert.SerialNumber.String(); got != want {
		t.Fatalf("serial %s served, want the first pair's %s", got, want)
	}
	testpki.Install(t, second, certFile, keyFile)
	if got, want := served(), second.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after rotation serial %s served, want the new pair's %s", got, want)
	}
	if st := s.Status(); st.Reloads != 1 || st.Errors != 0 || st.Serial.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("status after rotation: %+v", st)
	}

	// A broken pair (certificate that is not PEM; then a key that is not
	// the certificate's) keeps the last good one in service.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := served(), second.Cert.SerialNumber.String(); got != want {
		t.Fatalf("with a broken certificate file serial %s served, want the last good %s", got, want)
	}
	third := ca.Server(t)
	b, _ := os.ReadFile(third.CertFile)
	if err := os.WriteFile(certFile, b, 0o600); err != nil { // key still second's
		t.Fatal(err)
	}
	if got, want := served(), second.Cert.SerialNumber.String(); got != want {
		t.Fatalf("with a mismatched key serial %s served, want the last good %s", got, want)
	}
	st := s.Status()
	if st.Errors != 2 || !strings.Contains(st.LastError, certFile) {
		t.Fatalf("status after two broken pairs: %+v", st)
	}
	// Fixing the key brings the third pair in and clears the error.
	b, _ = os.ReadFile(third.KeyFile)
	if err := os.WriteFile(keyFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := served(), third.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after the fix serial %s served, want %s", got, want)
	}
	if st := s.Status(); st.LastError != "" || st.Reloads != 2 {
		t.Fatalf("status after the fix: %+v", st)
	}
}

func TestServerRefusesABadFirstPair(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	a, b := ca.Server(t), ca.Server(t)
	for _, tc := range []struct {
		name  string
		files tlsreload.ServerFiles
		want  string
	}{
		{"no key file", tlsreload.ServerFiles{CertFile: a.CertFile}, "cert_file and key_file are both required"},
		{"missing file", tlsreload.ServerFiles{CertFile: a.CertFile + ".gone", KeyFile: a.KeyFile}, ".gone"},
		{"key of another certificate", tlsreload.ServerFiles{CertFile: a.CertFile, KeyFile: b.KeyFile}, "the key must be the certificate's"},
		{"client CA bundle that is not PEM", tlsreload.ServerFiles{CertFile: a.CertFile, KeyFile: a.KeyFile, ClientCAFile: a.KeyFile}, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsreload.NewServer(tc.files, tlsreload.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewServer: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestMutualTLSRefusesClientsWithoutATrustedAllowedCertificate(t *testing.T) {
	ca, other := testpki.NewCA(t, "hospital CA"), testpki.NewCA(t, "someone else's CA")
	srvCert := ca.Server(t)
	allowed, notListed, untrusted := ca.Client(t, "HIS-1"), ca.Client(t, "HIS-2"), other.Client(t, "HIS-1")
	s, err := tlsreload.NewServer(tlsreload.ServerFiles{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.File,
		VerifyClient: func(c *x509.Certificate) error {
			if c.Subject.CommonName != "HIS-1" {
				return errors.New("not on the allow-list")
			}
			return nil
		}}, tlsreload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Config())
	for _, tc := range []struct {
		name   string
		client *testpki.Issued
		ok     bool
	}{
		{"no certificate", nil, false},
		{"untrusted certificate", untrusted, false},
		{"trusted, not on the allow-list", notListed, false},
		{"trusted and allowed", allowed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
			if tc.client != nil {
				cfg.Certificates = []tls.Certificate{tc.client.Pair}
			}
			_, err := dial(addr, cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("dial: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestClientReloadsItsCertificate(t *testing.T) {
	ca := testpki.NewCA(t, "bureau CA")
	srvCert := ca.Server(t)
	first, second := ca.Client(t, "sidecar-1"), ca.Client(t, "sidecar-1")
	dir := t.TempDir()
	certFile, keyFile := dir+"/c.pem", dir+"/k.pem"
	testpki.Install(t, first, certFile, keyFile)
	seen := make(chan string, 4)
	srv, err := tlsreload.NewServer(tlsreload.ServerFiles{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.File,
		VerifyClient: func(c *x509.Certificate) error { seen <- c.SerialNumber.String(); return nil }}, tlsreload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv.Config())
	c, err := tlsreload.NewClient(tlsreload.ClientFiles{CAFile: ca.File, CertFile: certFile, KeyFile: keyFile, ServerName: "127.0.0.1"}, tlsreload.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*testpki.Issued{first, second} {
		if want == second {
			testpki.Install(t, second, certFile, keyFile)
		}
		if _, err := dial(addr, c.Config()); err != nil {
			t.Fatal(err)
		}
		if got := <-seen; got != want.Cert.SerialNumber.String() {
			t.Fatalf("server saw client serial %s, want %s", got, want.Cert.SerialNumber)
		}
	}
	if _, err := tlsreload.NewClient(tlsreload.ClientFiles{CertFile: certFile}, tlsreload.Options{}); err == nil {
		t.Fatal("a client cert_file without key_file was accepted")
	}
}

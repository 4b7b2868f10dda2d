// Package tlsreload serves TLS from certificate files that an operator (or
// an ACME/cert-manager style renewer) replaces on disk: each handshake gets
// the pair most recently loaded, the files are looked at again at most every
// CheckInterval, and a broken new pair (half written, key not matching,
// expired CA bundle) keeps the previous one in service and is reported
// through Status, the log and the error counter — a certificate renewal must
// never take the sidecar off the HIS.
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often the files are looked at when
// Options.CheckInterval is zero.
const DefaultCheckInterval = 5 * time.Second

// ServerFiles are the files a TLS listener serves from.
type ServerFiles struct {
	// CertFile (PEM, leaf first then intermediates) and KeyFile (PEM) are
	// the listener's certificate pair; both are required.
	CertFile, KeyFile string
	// ClientCAFile is a PEM bundle of the CAs whose client certificates
	// are accepted. Set, every client must present a certificate that
	// chains to one of them (mutual TLS); empty, none is asked for.
	ClientCAFile string
	// VerifyClient, when set, is called with the verified leaf of every
	// client certificate; an error refuses the handshake (the subject
	// allow-list).
	VerifyClient func(leaf *x509.Certificate) error
}

// ClientFiles are the files of a TLS client (the sidecar's bureau link).
type ClientFiles struct {
	// CAFile verifies the server's certificate; empty uses the host's
	// roots. It is read once: a new CA needs a restart.
	CAFile string
	// CertFile and KeyFile are the client certificate pair, reloaded like
	// a server's; both empty means no client certificate.
	CertFile, KeyFile string
	// ServerName overrides the name verified in the server's certificate
	// (empty: the host of the dialled address).
	ServerName string
}

// Options tune a reloader.
type Options struct {
	// Name labels the log lines and Status (e.g. "grpc", "http", "bureau").
	Name string
	// CheckInterval: the files are stat'ed at most this often, on the
	// first handshake after it elapsed (no goroutine); 0 means
	// DefaultCheckInterval, negative means every handshake (tests).
	CheckInterval time.Duration
	Logger        *slog.Logger
}

// Status is what a reloader reports to /status and /metrics.
type Status struct {
	Name string
	// Serial and NotAfter describe the leaf in service.
	Serial   *big.Int
	NotAfter time.Time
	// LoadedAt is when the pair in service was read.
	LoadedAt time.Time
	// Reloads counts successful loads after the first; Errors failed
	// attempts (the previous pair stayed in service). LastError is the
	// newest failure, cleared by the next success.
	Reloads, Errors uint64
	LastError       string
}

// Server is a reloading TLS server configuration.
type Server struct {
	files ServerFiles
	w     watcher
	cur   atomic.Pointer[tls.Config]
}

// NewServer reads the files once — a listener that cannot serve its
// certificate must not start — and returns the reloader.
func NewServer(f ServerFiles, o Options) (*Server, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("tls: cert_file and key_file are both required (PEM files of the listener's certificate and its private key)")
	}
	s := &Server{files: f}
	paths := []string{f.CertFile, f.KeyFile}
	if f.ClientCAFile != "" {
		paths = append(paths, f.ClientCAFile)
	}
	s.w.init(o, paths, s.load)
	if err := s.w.first(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config is the tls.Config to serve with: each handshake takes the pair
// (and client-CA bundle) most recently loaded.
func (s *Server) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: s.configForClient}
}

// Status reports the certificate in service and the reload outcomes.
func (s *Server) Status() Status { return s.w.status() }

// MutualTLS reports whether client certificates are required.
func (s *Server) MutualTLS() bool { return s.files.ClientCAFile != "" }

func (s *Server) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	s.w.maybeReload()
	return s.cur.Load(), nil
}

func (s *Server) load() (*x509.Certificate, error) {
	f := s.files
	pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate pair %s / %s: %w (both PEM; the key must be the certificate's)", f.CertFile, f.KeyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if f.ClientCAFile != "" {
		pool, err := loadPool(f.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
		if verify := f.VerifyClient; verify != nil {
			// VerifyConnection runs after the chain was verified against
			// ClientCAs, so the leaf here is a trusted one.
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("no client certificate")
				}
				return verify(cs.PeerCertificates[0])
			}
		}
	}
	s.cur.Store(cfg)
	return pair.Leaf, nil
}

// Client is a reloading TLS client configuration.
type Client struct {
	files ClientFiles
	pool  *x509.CertPool
	w     watcher
	cur   atomic.Pointer[tls.Certificate]
}

// NewClient reads the CA bundle and the client pair once.
func NewClient(f ClientFiles, o Options) (*Client, error) {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("tls: cert_file and key_file go together (the client certificate and its private key)")
	}
	c := &Client{files: f}
	if f.CAFile != "" {
		pool, err := loadPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		c.pool = pool
	}
	if f.CertFile != "" {
		c.w.init(o, []string{f.CertFile, f.KeyFile}, c.load)
		if err := c.w.first(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Config is the tls.Config to dial with.
func (c *Client) Config() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.pool, ServerName: c.files.ServerName}
	if c.files.CertFile != "" {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c.w.maybeReload()
			return c.cur.Load(), nil
		}
	}
	return cfg
}

// Status reports the client certificate in service (zero without one).
func (c *Client) Status() Status { return c.w.status() }

func (c *Client) load() (*x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(c.files.CertFile, c.files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate pair %s / %s: %w (both PEM; the key must be the certificate's)", c.files.CertFile, c.files.KeyFile, err)
	}
	c.cur.Store(&pair)
	return pair.Leaf, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", path)
	}
	return pool, nil
}

// watcher decides when to load again: at most every interval, and only
// when one of the files changed (size, modification time or identity — a
// renewer that renames a new file into place changes the inode).
type watcher struct {
	name     string
	interval time.Duration
	log      *slog.Logger
	paths    []string
	load     func() (*x509.Certificate, error)

	// nextCheck (unix nanoseconds) is claimed by CAS so one handshake
	// stats while the others go on with the current pair.
	nextCheck atomic.Int64
	// mu serialises loads and guards what follows; handshakes never take
	// it unless they won the CAS.
	mu       sync.Mutex
	seen     []os.FileInfo
	leaf     *x509.Certificate
	loadedAt time.Time
	reloads  uint64
	errs     atomic.Uint64
	lastErr  string
}

func (w *watcher) init(o Options, paths []string, load func() (*x509.Certificate, error)) {
	w.name, w.paths, w.load = o.Name, paths, load
	w.interval = o.CheckInterval
	if w.interval == 0 {
		w.interval = DefaultCheckInterval
	}
	w.log = o.Logger
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
}

func (w *watcher) first() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = w.stat()
	leaf, err := w.load()
	if err != nil {
		return err
	}
	w.leaf, w.loadedAt = leaf, time.Now()
	w.nextCheck.Store(time.Now().Add(w.interval).UnixNano())
	return nil
}

func (w *watcher) maybeReload() {
	if len(w.paths) == 0 {
		return
	}
	now := time.Now().UnixNano()
	next := w.nextCheck.Load()
	if now < next || !w.nextCheck.CompareAndSwap(next, now+int64(w.interval)) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := w.stat()
	if sameFiles(w.seen, seen) {
		return
	}
	// Recorded before reading: a file replaced again while being read
	// differs from this at the next check and is read again.
	w.seen = seen
	leaf, err := w.load()
	if err != nil {
		w.errs.Add(1)
		w.lastErr = err.Error()
		w.log.Error("TLS certificate reload failed; the previous certificate stays in service until the files are fixed",
			"listener", w.name, "err", err, "serial_in_service", serial(w.leaf))
		return
	}
	w.leaf, w.loadedAt, w.lastErr = leaf, time.Now(), ""
	w.reloads++
	w.log.Info("TLS certificate reloaded", "listener", w.name, "serial", serial(leaf), "not_after", leaf.NotAfter)
}

func (w *watcher) stat() []os.FileInfo {
	out := make([]os.FileInfo, len(w.paths))
	for i, p := range w.paths {
		if fi, err := os.Stat(p); err == nil {
			out[i] = fi
		}
	}
	return out
}

func sameFiles(a, b []os.FileInfo) bool {
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case x == nil && y == nil:
		case x == nil || y == nil:
			return false
		case x.Size() != y.Size() || !x.ModTime().Equal(y.ModTime()) || !os.SameFile(x, y):
			return false
		}
	}
	return true
}

func (w *watcher) status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := Status{Name: w.name, LoadedAt: w.loadedAt, Reloads: w.reloads, Errors: w.errs.Load(), LastError: w.lastErr}
	if w.leaf != nil {
		st.Serial, st.NotAfter = w.leaf.SerialNumber, w.leaf.NotAfter
	}
	return st
}

func serial(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return c.SerialNumber.Text(16)
}

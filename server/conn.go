package server

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// ConnLimits bound what clients can hold on the sidecar's two listeners, so
// a few slow, idle or misbehaving clients cannot take it from the HIS.
// Start from DefaultConnLimits and change fields; a zero or negative field
// means its default.
type ConnLimits struct {
	GRPC GRPCLimits
	HTTP HTTPLimits
}

// GRPCLimits are the gRPC listener's limits.
type GRPCLimits struct {
	// MaxConnections caps the open TCP connections; the next one waits in
	// the kernel's backlog, not accepted, until one closes.
	MaxConnections int
	// MaxConcurrentStreams caps the RPCs in flight on one connection.
	MaxConcurrentStreams uint32
	// HandshakeTimeout closes a connection that has not completed the
	// HTTP/2 handshake in time (an idle TCP connection holding a slot).
	HandshakeTimeout time.Duration
	// KeepaliveMinTime is the shortest ping interval a client may use;
	// a client pinging more often gets GOAWAY ENHANCE_YOUR_CALM
	// ("too_many_pings"). KeepalivePermitWithoutStream allows pings on a
	// connection without RPCs (an HIS channel kept warm between orders).
	KeepaliveMinTime             time.Duration
	KeepalivePermitWithoutStream bool
	// MaxConnectionIdle sends GOAWAY to a connection without RPCs for that
	// long; MaxConnectionAge to any connection that old (±10 % jitter),
	// then MaxConnectionAgeGrace lets its RPCs finish before closing it.
	// Clients reconnect transparently.
	MaxConnectionIdle     time.Duration
	MaxConnectionAge      time.Duration
	MaxConnectionAgeGrace time.Duration
	// KeepaliveTime: after that long without activity the server pings
	// the client, and closes the connection when no answer comes within
	// KeepaliveTimeout (a vanished peer).
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
}

// HTTPLimits are the HTTP listener's limits (health, metrics, status).
type HTTPLimits struct {
	// MaxConnections: as for gRPC.
	MaxConnections int
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout
	// the whole request including its body, WriteTimeout the response;
	// IdleTimeout closes a keep-alive connection without a next request.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes caps the request line and headers (431 above it).
	MaxHeaderBytes int
	// MaxBodyBytes caps a request body (413 above it).
	MaxBodyBytes int64
}

// DefaultConnLimits are sized for a sidecar next to one HIS application
// server: a pool of a few dozen channels, checks that take microseconds,
// a Prometheus scraper and health probes.
func DefaultConnLimits() ConnLimits {
	return ConnLimits{
		GRPC: GRPCLimits{
			MaxConnections:               64,
			MaxConcurrentStreams:         128,
			HandshakeTimeout:             5 * time.Second,
			KeepaliveMinTime:             10 * time.Second,
			KeepalivePermitWithoutStream: true,
			MaxConnectionIdle:            5 * time.Minute,
			MaxConnectionAge:             30 * time.Minute,
			MaxConnectionAgeGrace:        10 * time.Second,
			KeepaliveTime:                2 * time.Minute,
			KeepaliveTimeout:             20 * time.Second,
		},
		HTTP: HTTPLimits{
			MaxConnections:    64,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       90 * time.Second,
			MaxHeaderBytes:    64 << 10,
			MaxBodyBytes:      maxRecvBytes,
		},
	}
}

// withDefaults replaces zero and negative fields by their defaults.
func (c ConnLimits) withDefaults() ConnLimits {
	d := DefaultConnLimits()
	def := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	g, dg := &c.GRPC, d.GRPC
	if g.MaxConnections <= 0 {
		g.MaxConnections = dg.MaxConnections
	}
	if g.MaxConcurrentStreams == 0 {
		g.MaxConcurrentStreams = dg.MaxConcurrentStreams
	}
	def(&g.HandshakeTimeout, dg.HandshakeTimeout)
	def(&g.KeepaliveMinTime, dg.KeepaliveMinTime)
	def(&g.MaxConnectionIdle, dg.MaxConnectionIdle)
	def(&g.MaxConnectionAge, dg.MaxConnectionAge)
	def(&g.MaxConnectionAgeGrace, dg.MaxConnectionAgeGrace)
	def(&g.KeepaliveTime, dg.KeepaliveTime)
	def(&g.KeepaliveTimeout, dg.KeepaliveTimeout)
	h, dh := &c.HTTP, d.HTTP
	if h.MaxConnections <= 0 {
		h.MaxConnections = dh.MaxConnections
	}
	def(&h.ReadHeaderTimeout, dh.ReadHeaderTimeout)
	def(&h.ReadTimeout, dh.ReadTimeout)
	def(&h.WriteTimeout, dh.WriteTimeout)
	def(&h.IdleTimeout, dh.IdleTimeout)
	if h.MaxHeaderBytes <= 0 {
		h.MaxHeaderBytes = dh.MaxHeaderBytes
	}
	if h.MaxBodyBytes <= 0 {
		h.MaxBodyBytes = dh.MaxBodyBytes
	}
	return c
}

// serverOptions are the gRPC server options that enforce g.
func (g GRPCLimits) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(g.MaxConcurrentStreams),
		grpc.ConnectionTimeout(g.HandshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             g.KeepaliveMinTime,
			PermitWithoutStream: g.KeepalivePermitWithoutStream,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     g.MaxConnectionIdle,
			MaxConnectionAge:      g.MaxConnectionAge,
			MaxConnectionAgeGrace: g.MaxConnectionAgeGrace,
			Time:                  g.KeepaliveTime,
			Timeout:               g.KeepaliveTimeout,
		}),
	}
}

// httpServer is an http.Server for h enforcing l (the connection cap is
// the listener's, see connLimiter).
func (l HTTPLimits) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           limitBody(h, l.MaxBodyBytes),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// limitBody refuses a request that announces a body over max with 413
// before any handler runs, and caps what a handler can read of any other
// body (http.MaxBytesReader: the read fails with *http.MaxBytesError and
// the connection is closed after the response). Every handler of the mux
// sits behind it, so endpoints that read bodies get the cap without
// remembering it.
func limitBody(h http.Handler, limit int64) http.Handler {
	tooLarge := map[string]any{"error": "request body larger than " + strconv.FormatInt(limit, 10) + " bytes"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		h.ServeHTTP(w, r)
	})
}

// connLimiter caps the connections open on one listener. It is created
// with the server (so /metrics can report it) and wraps the listener in
// Serve. Accept takes a slot before accepting, so at the cap a new
// connection stays in the kernel's backlog until one closes: nothing is
// read from it and nothing is refused; a client that waits longer than its
// deadline gives up. (golang.org/x/net/netutil.LimitListener does the same
// but counts nothing; x/net is only an indirect dependency.)
//
// The wrapped connection is not a *net.TCPConn, so gRPC does not set
// TCP_USER_TIMEOUT on it; its keepalive timer (KeepaliveTime/Timeout)
// still closes a connection whose peer vanished.
type connLimiter struct {
	name string
	max  int
	log  *slog.Logger
	sem  chan struct{}
	// waits counts accepts that found the cap reached; lastWarn (unix
	// nanoseconds) rate-limits the warning about it.
	waits    atomic.Uint64
	lastWarn atomic.Int64
}

// warnEvery rate-limits the "connection cap reached" warning.
const warnEvery = time.Minute

func newConnLimiter(name string, limit int, log *slog.Logger) *connLimiter {
	return &connLimiter{name: name, max: limit, log: log, sem: make(chan struct{}, limit)}
}

// open is the number of connections holding a slot.
func (l *connLimiter) open() int { return len(l.sem) }

// collectors are the limiter's metrics.
func (l *connLimiter) collectors() []prometheus.Collector {
	labels := prometheus.Labels{"listener": l.name}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rxguard_connections_open", ConstLabels: labels,
			Help: "Connections open on the listener."}, func() float64 { return float64(l.open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rxguard_connections_max", ConstLabels: labels,
			Help: "The listener's connection cap."}, func() float64 { return float64(l.max) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rxguard_connection_cap_waits_total", ConstLabels: labels,
			Help: "Accepts that had to wait because the connection cap was reached."}, func() float64 { return float64(l.waits.Load()) }),
	}
}

func (l *connLimiter) wrap(lis net.Listener) net.Listener {
	return &limitListener{Listener: lis, l: l, done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	l         *connLimiter
	done      chan struct{}
	closeOnce sync.Once
}

func (ll *limitListener) Accept() (net.Conn, error) {
	l := ll.l
	select {
	case l.sem <- struct{}{}:
	default:
		l.waits.Add(1)
		if now, last := time.Now().UnixNano(), l.lastWarn.Load(); now-last >= int64(warnEvery) && l.lastWarn.CompareAndSwap(last, now) {
			l.log.Warn("connection cap reached; new connections wait until one closes", "listener", l.name, "max_connections", l.max)
		}
		select {
		case l.sem <- struct{}{}:
		case <-ll.done:
			return nil, net.ErrClosed
		}
	}
	c, err := ll.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (ll *limitListener) Close() error {
	ll.closeOnce.Do(func() { close(ll.done) })
	return ll.Listener.Close()
}

// limitConn gives its slot back on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

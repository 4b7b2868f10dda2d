package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
)

// limitedServer serves an empty engine with conn limits on loopback
// listeners and returns their addresses. The server stops at the end of
// the test.
func limitedServer(t *testing.T, conn ConnLimits) (grpcAddr, httpAddr string) {
	t.Helper()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Engine: eng, Logger: quietLog, Conn: conn, Service: check.New(check.Options{Engine: eng, Logger: quietLog})})
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcLis, httpLis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return grpcLis.Addr().String(), httpLis.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the server closes it and fails the test if
// that takes longer than within. It returns what was read.
func closedWithin(t *testing.T, c net.Conn, within time.Duration) []byte {
	t.Helper()
	t0 := time.Now()
	_ = c.SetReadDeadline(t0.Add(within))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open %v later (read %q)", within, b)
	}
	t.Logf("server closed the connection after %v", time.Since(t0).Round(time.Millisecond))
	return b
}

// A slow-loris client sending its headers one byte at a time is cut off at
// the read-header timeout.
func TestHTTPSlowHeadersDisconnected(t *testing.T) {
	l := DefaultConnLimits()
	l.HTTP.ReadHeaderTimeout = 200 * time.Millisecond
	_, addr := limitedServer(t, l)
	c := dial(t, addr)
	go func() {
		req := "GET /healthz HTTP/1.1\r\nHost: rxguard\r\nX-Slow: " + strings.Repeat("a", 1000) + "\r\n\r\n"
		for i := range len(req) {
			if _, err := c.Write([]byte{req[i]}); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// net/http may answer 400 before hanging up; never anything else.
	if b := closedWithin(t, c, 2*time.Second); len(b) > 0 && !bytes.HasPrefix(b, []byte("HTTP/1.1 400 ")) {
		t.Errorf("got a response to an unfinished request: %q", b)
	}
}

// A client sending its body one byte at a time is cut off at the read
// timeout, even when the handler does not read the body (net/http then
// reads it before answering).
func TestHTTPSlowBodyDisconnected(t *testing.T) {
	l := DefaultConnLimits()
	l.HTTP.ReadTimeout = 300 * time.Millisecond
	_, addr := limitedServer(t, l)
	c := dial(t, addr)
	go func() {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: rxguard\r\nContent-Length: 1000\r\n\r\n"); err != nil {
			return
		}
		for range 1000 {
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	closedWithin(t, c, 3*time.Second)
}

// A keep-alive connection without a next request is closed at the idle
// timeout.
func TestHTTPIdleConnectionClosed(t *testing.T) {
	l := DefaultConnLimits()
	l.HTTP.IdleTimeout = 300 * time.Millisecond
	_, addr := limitedServer(t, l)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: rxguard\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("status %d, close %v; want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	closedWithin(t, c, 3*time.Second)
}

// Headers over MaxHeaderBytes get 431; headers below it are served.
func TestHTTPHeaderLimit(t *testing.T) {
	_, addr := limitedServer(t, DefaultConnLimits())
	get := func(size int) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("a", size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", size, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(16 << 10); code != http.StatusOK {
		t.Errorf("16 KiB header: status %d, want 200", code)
	}
	if code := get(128 << 10); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("128 KiB header: status %d, want 431", code)
	}
}

// A body announced over MaxBodyBytes is refused with 413 before any
// handler runs, and the connection is closed.
func TestHTTPBodyLimit(t *testing.T) {
	_, addr := limitedServer(t, DefaultConnLimits())
	c := dial(t, addr)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: rxguard\r\nContent-Length: %d\r\n\r\n", 64<<20)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Errorf("status %d, close %v; want 413 and close", resp.StatusCode, resp.Close)
	}
}

// A handler reading a body that did not announce its length (chunked)
// stops at the limit with *http.MaxBytesError.
func TestLimitBodyCapsReads(t *testing.T) {
	var readErr error
	var n int
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		b, readErr = io.ReadAll(r.Body)
		n = len(b)
	}), 1024)
	// MultiReader hides the length: the body arrives chunked.
	req := httptest.NewRequest(http.MethodPost, "/x", io.MultiReader(bytes.NewReader(make([]byte, 4096))))
	req.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), req)
	var mbe *http.MaxBytesError
	if !errors.As(readErr, &mbe) || n > 1024 {
		t.Errorf("read %d bytes, error %v; want at most 1024 and *http.MaxBytesError", n, readErr)
	}
}

// At the connection cap a new connection is not accepted (the server
// does not even send its HTTP/2 SETTINGS) until one closes, and a client
// then gets served.
func TestGRPCConnectionCap(t *testing.T) {
	const limit = 3
	l := DefaultConnLimits()
	l.GRPC.MaxConnections = limit
	l.GRPC.HandshakeTimeout = time.Minute // the idle connections hold their slots
	addr, _ := limitedServer(t, l)

	var idle []net.Conn
	for i := range limit {
		c := dial(t, addr)
		if !accepted(c, 5*time.Second) {
			t.Fatalf("connection %d of %d not accepted", i+1, limit)
		}
		idle = append(idle, c)
	}
	extra := dial(t, addr) // the kernel completes the TCP handshake; the server does not accept
	if accepted(extra, 300*time.Millisecond) {
		t.Fatalf("connection %d accepted over the cap of %d", limit+1, limit)
	}
	idle[0].Close()
	if !accepted(extra, 5*time.Second) {
		t.Fatal("waiting connection not accepted after one closed")
	}

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	health := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = health.Check(ctx, &healthpb.HealthCheckRequest{})
	cancel()
	if err == nil {
		t.Fatal("a client was served while the cap was held by idle connections")
	}
	idle[1].Close()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("client not served after a slot freed: %v", err)
	}
}

// Idle TCP connections that never speak HTTP/2 are closed at the
// handshake timeout, so they cannot hold the cap: a client gets served.
func TestGRPCIdleConnectionsDoNotHoldTheCap(t *testing.T) {
	const limit = 2
	l := DefaultConnLimits()
	l.GRPC.MaxConnections = limit
	l.GRPC.HandshakeTimeout = 300 * time.Millisecond
	addr, _ := limitedServer(t, l)
	var idle []net.Conn
	for range limit {
		idle = append(idle, dial(t, addr))
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("client not served: %v", err)
	}
	for _, c := range idle {
		closedWithin(t, c, 3*time.Second)
	}
}

// The server advertises its per-connection stream cap.
func TestGRPCAdvertisesMaxConcurrentStreams(t *testing.T) {
	addr, _ := limitedServer(t, DefaultConnLimits())
	h := newH2(t, dial(t, addr))
	f := h.next(t, 5*time.Second)
	if f.typ != frameSettings {
		t.Fatalf("first frame type %d, want SETTINGS", f.typ)
	}
	for p := f.payload; len(p) >= 6; p = p[6:] {
		if binary.BigEndian.Uint16(p) == settingsMaxConcurrentStreams {
			if v := binary.BigEndian.Uint32(p[2:]); v != DefaultConnLimits().GRPC.MaxConcurrentStreams {
				t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want %d", v, DefaultConnLimits().GRPC.MaxConcurrentStreams)
			}
			return
		}
	}
	t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS not advertised (unlimited): %x", f.payload)
}

// Pings at the permitted interval are answered, also without RPCs in
// flight (an idle HIS channel kept warm); a client pinging more often
// gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
func TestGRPCKeepalivePolicy(t *testing.T) {
	l := DefaultConnLimits()
	l.GRPC.KeepaliveMinTime = 50 * time.Millisecond
	addr, _ := limitedServer(t, l)
	h := newH2(t, dial(t, addr))
	h.write(t, frameSettings, 0, nil)

	expectAck := func(i int) {
		for {
			f := h.next(t, 5*time.Second)
			switch f.typ {
			case framePing:
				if f.flags&flagAck != 0 {
					return
				}
			case frameGoAway:
				t.Fatalf("ping %d (interval 250 ms, min time 50 ms, no RPCs): GOAWAY %s", i, f.goAway())
			}
		}
	}
	for i := range 5 {
		h.write(t, framePing, 0, make([]byte, 8))
		expectAck(i)
		time.Sleep(250 * time.Millisecond)
	}
	// The server acks a ping before it judges it: see whether the last
	// one drew a GOAWAY.
	for {
		f, ok := h.nextOrNone(t, 300*time.Millisecond)
		if !ok {
			break
		}
		if f.typ == frameGoAway {
			t.Fatalf("pings at 250 ms intervals (min time 50 ms, no RPCs): GOAWAY %s", f.goAway())
		}
	}

	for range 6 {
		h.write(t, framePing, 0, make([]byte, 8))
	}
	for {
		f := h.next(t, 5*time.Second)
		if f.typ == frameGoAway {
			if code, debug := f.goAwayCode(); code != errCodeEnhanceYourCalm || debug != "too_many_pings" {
				t.Errorf("GOAWAY %s, want ENHANCE_YOUR_CALM too_many_pings", f.goAway())
			}
			return
		}
	}
}

// accepted reports whether the server sent anything (its HTTP/2 SETTINGS,
// which gRPC writes as soon as it accepts a connection) within d.
func accepted(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, _ := c.Read(b[:])
	return n > 0
}

// A minimal HTTP/2 client framing, enough to ping a gRPC server the way
// a misbehaving client would (grpc-go's own client will not ping more
// often than every 10 s).
const (
	frameSettings = 0x4
	framePing     = 0x6
	frameGoAway   = 0x7
	flagAck       = 0x1

	settingsMaxConcurrentStreams = 0x3
	errCodeEnhanceYourCalm       = 0xb
)

type h2 struct {
	c      net.Conn
	frames chan h2frame
}

type h2frame struct {
	typ, flags byte
	payload    []byte
}

func (f h2frame) goAwayCode() (uint32, string) {
	if len(f.payload) < 8 {
		return 0, ""
	}
	return binary.BigEndian.Uint32(f.payload[4:]), string(f.payload[8:])
}

func (f h2frame) goAway() string {
	code, debug := f.goAwayCode()
	return fmt.Sprintf("code %#x %q", code, debug)
}

func newH2(t *testing.T, c net.Conn) *h2 {
	t.Helper()
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	h := &h2{c: c, frames: make(chan h2frame, 64)}
	go func() {
		defer close(h.frames)
		for {
			var hdr [9]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
			p := make([]byte, n)
			if _, err := io.ReadFull(c, p); err != nil {
				return
			}
			h.frames <- h2frame{typ: hdr[3], flags: hdr[4], payload: p}
		}
	}()
	return h
}

func (h *h2) write(t *testing.T, typ, flags byte, payload []byte) {
	t.Helper()
	hdr := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
	if _, err := h.c.Write(append(hdr, payload...)); err != nil {
		t.Fatal(err)
	}
}

func (h *h2) next(t *testing.T, within time.Duration) h2frame {
	t.Helper()
	f, ok := h.nextOrNone(t, within)
	if !ok {
		t.Fatalf("no frame within %v", within)
	}
	return f
}

// nextOrNone is the next frame, or ok=false when none comes within d.
func (h *h2) nextOrNone(t *testing.T, d time.Duration) (f h2frame, ok bool) {
	t.Helper()
	select {
	case f, open := <-h.frames:
		if !open {
			t.Fatal("server closed the connection")
		}
		return f, true
	case <-time.After(d):
		return h2frame{}, false
	}
}

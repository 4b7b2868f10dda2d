package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/rxguard/rxguard/server"
)

// grpcConfig is the "grpc" section: the gRPC listener's connection limits.
// An absent key keeps its default (server.DefaultConnLimits; see
// docs/operations.md, "Connection limits").
type grpcConfig struct {
	MaxConnections               int    `json:"max_connections,omitempty"`
	MaxConcurrentStreams         int    `json:"max_concurrent_streams,omitempty"`
	HandshakeTimeout             string `json:"handshake_timeout,omitempty"`
	KeepaliveMinTime             string `json:"keepalive_min_time,omitempty"`
	KeepalivePermitWithoutStream *bool  `json:"keepalive_permit_without_stream,omitempty"`
	MaxConnectionIdle            string `json:"max_connection_idle,omitempty"`
	MaxConnectionAge             string `json:"max_connection_age,omitempty"`
	MaxConnectionAgeGrace        string `json:"max_connection_age_grace,omitempty"`
	KeepaliveTime                string `json:"keepalive_time,omitempty"`
	KeepaliveTimeout             string `json:"keepalive_timeout,omitempty"`
}

// httpConfig is the "http" section: the HTTP listener's limits.
type httpConfig struct {
	MaxConnections    int    `json:"max_connections,omitempty"`
	ReadHeaderTimeout string `json:"read_header_timeout,omitempty"`
	ReadTimeout       string `json:"read_timeout,omitempty"`
	WriteTimeout      string `json:"write_timeout,omitempty"`
	IdleTimeout       string `json:"idle_timeout,omitempty"`
	MaxHeaderBytes    int    `json:"max_header_bytes,omitempty"`
	MaxBodyBytes      int64  `json:"max_body_bytes,omitempty"`
}

// maxHeaderBytesCap: net/http's own default; a larger header limit only
// lets a client hold more of the sidecar's memory.
const maxHeaderBytesCap = 1 << 20

// connLimits is server.DefaultConnLimits with the keys of the "grpc" and
// "http" sections applied. Every bad value is reported, by its key.
func (c config) connLimits() (server.ConnLimits, error) {
	l := server.DefaultConnLimits()
	var errs []error
	dur := func(key, s string, into *time.Duration) {
		switch d, err := positiveDuration(key, s); {
		case err != nil:
			errs = append(errs, err)
		case d > 0:
			*into = d
		}
	}
	count := func(key string, v int64, limit int64, into func(int64)) {
		switch {
		case v == 0:
		case v < 0 || v > limit:
			errs = append(errs, fmt.Errorf("%s %d must be between 1 and %d", key, v, limit))
		default:
			into(v)
		}
	}
	g, h := c.GRPC, c.HTTP
	count("grpc.max_connections", int64(g.MaxConnections), 1<<20, func(v int64) { l.GRPC.MaxConnections = int(v) })
	count("grpc.max_concurrent_streams", int64(g.MaxConcurrentStreams), 1<<31-1, func(v int64) { l.GRPC.MaxConcurrentStreams = uint32(v) })
	dur("grpc.handshake_timeout", g.HandshakeTimeout, &l.GRPC.HandshakeTimeout)
	dur("grpc.keepalive_min_time", g.KeepaliveMinTime, &l.GRPC.KeepaliveMinTime)
	if g.KeepalivePermitWithoutStream != nil {
		l.GRPC.KeepalivePermitWithoutStream = *g.KeepalivePermitWithoutStream
	}
	dur("grpc.max_connection_idle", g.MaxConnectionIdle, &l.GRPC.MaxConnectionIdle)
	dur("grpc.max_connection_age", g.MaxConnectionAge, &l.GRPC.MaxConnectionAge)
	dur("grpc.max_connection_age_grace", g.MaxConnectionAgeGrace, &l.GRPC.MaxConnectionAgeGrace)
	dur("grpc.keepalive_time", g.KeepaliveTime, &l.GRPC.KeepaliveTime)
	dur("grpc.keepalive_timeout", g.KeepaliveTimeout, &l.GRPC.KeepaliveTimeout)

	count("http.max_connections", int64(h.MaxConnections), 1<<20, func(v int64) { l.HTTP.MaxConnections = int(v) })
	dur("http.read_header_timeout", h.ReadHeaderTimeout, &l.HTTP.ReadHeaderTimeout)
	dur("http.read_timeout", h.ReadTimeout, &l.HTTP.ReadTimeout)
	dur("http.write_timeout", h.WriteTimeout, &l.HTTP.WriteTimeout)
	dur("http.idle_timeout", h.IdleTimeout, &l.HTTP.IdleTimeout)
	count("http.max_header_bytes", int64(h.MaxHeaderBytes), maxHeaderBytesCap, func(v int64) { l.HTTP.MaxHeaderBytes = int(v) })
	count("http.max_body_bytes", h.MaxBodyBytes, 1<<62, func(v int64) { l.HTTP.MaxBodyBytes = v })
	return l, errors.Join(errs...)
}

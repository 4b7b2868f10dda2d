package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/rxguard/rxguard/internal/strictconf"
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
	errs := append(strictconf.Within("grpc", c.GRPC.apply(&l.GRPC)), strictconf.Within("http", c.HTTP.apply(&l.HTTP))...)
	if len(errs) > 0 {
		return l, errs
	}
	return l, nil
}

// Validate reports every bad key of the section (strictconf.Validator).
func (g grpcConfig) Validate() error {
	l := server.DefaultConnLimits().GRPC
	return g.apply(&l)
}

// Validate reports every bad key of the section (strictconf.Validator).
func (h httpConfig) Validate() error {
	l := server.DefaultConnLimits().HTTP
	return h.apply(&l)
}

// limitSetter collects the errors of applying one section's keys.
type limitSetter struct{ errs []error }

func (s *limitSetter) dur(key, v string, into *time.Duration) {
	switch d, err := positiveDuration(key, v); {
	case err != nil:
		s.errs = append(s.errs, err)
	case d > 0:
		*into = d
	}
}

func (s *limitSetter) count(key string, v, limit int64, into func(int64)) {
	switch {
	case v == 0:
	case v < 0 || v > limit:
		s.errs = append(s.errs, fmt.Errorf("%s: %d must be between 1 and %d (0 or absent: the default)", key, v, limit))
	default:
		into(v)
	}
}

// apply sets the section's keys on l; errors name the keys.
func (g grpcConfig) apply(l *server.GRPCLimits) error {
	var s limitSetter
	s.count("max_connections", int64(g.MaxConnections), 1<<20, func(v int64) { l.MaxConnections = int(v) })
	s.count("max_concurrent_streams", int64(g.MaxConcurrentStreams), 1<<31-1, func(v int64) { l.MaxConcurrentStreams = uint32(v) })
	s.dur("handshake_timeout", g.HandshakeTimeout, &l.HandshakeTimeout)
	s.dur("keepalive_min_time", g.KeepaliveMinTime, &l.KeepaliveMinTime)
	if g.KeepalivePermitWithoutStream != nil {
		l.KeepalivePermitWithoutStream = *g.KeepalivePermitWithoutStream
	}
	s.dur("max_connection_idle", g.MaxConnectionIdle, &l.MaxConnectionIdle)
	s.dur("max_connection_age", g.MaxConnectionAge, &l.MaxConnectionAge)
	s.dur("max_connection_age_grace", g.MaxConnectionAgeGrace, &l.MaxConnectionAgeGrace)
	s.dur("keepalive_time", g.KeepaliveTime, &l.KeepaliveTime)
	s.dur("keepalive_timeout", g.KeepaliveTimeout, &l.KeepaliveTimeout)
	return errors.Join(s.errs...)
}

// apply sets the section's keys on l; errors name the keys.
func (h httpConfig) apply(l *server.HTTPLimits) error {
	var s limitSetter
	s.count("max_connections", int64(h.MaxConnections), 1<<20, func(v int64) { l.MaxConnections = int(v) })
	s.dur("read_header_timeout", h.ReadHeaderTimeout, &l.ReadHeaderTimeout)
	s.dur("read_timeout", h.ReadTimeout, &l.ReadTimeout)
	s.dur("write_timeout", h.WriteTimeout, &l.WriteTimeout)
	s.dur("idle_timeout", h.IdleTimeout, &l.IdleTimeout)
	s.count("max_header_bytes", int64(h.MaxHeaderBytes), maxHeaderBytesCap, func(v int64) { l.MaxHeaderBytes = int(v) })
	s.count("max_body_bytes", h.MaxBodyBytes, 1<<62, func(v int64) { l.MaxBodyBytes = v })
	return errors.Join(s.errs...)
}

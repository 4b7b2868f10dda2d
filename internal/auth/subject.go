package auth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Subject names client certificates, for the mutual-TLS allow-list and
// for mapping certificates to roles. It is one of
//
//	cn:<common name>   the subject's CN, compared exactly (case-sensitive)
//	dns:<name>         one of the SAN DNS names, compared case-insensitively
//	uri:<uri>          one of the SAN URIs (e.g. a SPIFFE ID), compared exactly
//
// No wildcards and no prefixes: an entry names one identity, so adding a
// certificate to a CA never widens who is let in.
type Subject struct {
	kind  subjectKind
	value string
}

type subjectKind uint8

const (
	subjectCN subjectKind = iota + 1
	subjectDNS
	subjectURI
)

// ParseSubject parses "cn:…", "dns:…" or "uri:…".
func ParseSubject(s string) (Subject, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok || value == "" {
		return Subject{}, fmt.Errorf("subject %q: want cn:NAME, dns:NAME or uri:URI", s)
	}
	switch strings.ToLower(kind) {
	case "cn":
		return Subject{subjectCN, value}, nil
	case "dns":
		return Subject{subjectDNS, strings.ToLower(value)}, nil
	case "uri":
		u, err := url.Parse(value)
		if err != nil || u.Scheme == "" {
			return Subject{}, fmt.Errorf("subject %q: not an absolute URI", s)
		}
		return Subject{subjectURI, u.String()}, nil
	}
	return Subject{}, fmt.Errorf("subject %q: kind %q is not cn, dns or uri", s, kind)
}

func (s Subject) String() string {
	switch s.kind {
	case subjectCN:
		return "cn:" + s.value
	case subjectDNS:
		return "dns:" + s.value
	case subjectURI:
		return "uri:" + s.value
	}
	return ""
}

// Matches reports whether c carries the subject.
func (s Subject) Matches(c *x509.Certificate) bool {
	switch s.kind {
	case subjectCN:
		return c.Subject.CommonName == s.value
	case subjectDNS:
		for _, n := range c.DNSNames {
			if strings.EqualFold(n, s.value) {
				return true
			}
		}
	case subjectURI:
		for _, u := range c.URIs {
			if u.String() == s.value {
				return true
			}
		}
	}
	return false
}

// ParseSubjects parses a list; key names the configuration key in errors.
func ParseSubjects(key string, list []string) ([]Subject, error) {
	out := make([]Subject, 0, len(list))
	for i, s := range list {
		sub, err := ParseSubject(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		out = append(out, sub)
	}
	return out, nil
}

// AllowList returns the check for tlsreload.ServerFiles.VerifyClient: a
// client certificate is accepted when it carries one of the subjects.
func AllowList(subjects []Subject) func(*x509.Certificate) error {
	return func(c *x509.Certificate) error {
		for _, s := range subjects {
			if s.Matches(c) {
				return nil
			}
		}
		return errors.New("client certificate subject is not on the listener's allow-list")
	}
}

// CertificateRole grants roles to the client certificates carrying Subject.
type CertificateRole struct {
	Subject Subject
	Roles   Roles
}

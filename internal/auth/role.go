// Package auth decides who may call what on rxguard's listeners: roles,
// bearer tokens kept as hashes in a token file that is re-read when it
// changes, client certificate subjects mapped to roles, and the gRPC
// interceptors and HTTP middleware that enforce one table of routes and
// methods → roles. docs/security.md is the operator's view.
package auth

import (
	"fmt"
	"strings"
)

// Role is what a route or method requires. The zero value is "not
// declared": a route or method that carries it is refused, so a new one
// cannot be served before someone decides who may call it.
type Role uint8

const (
	// Undeclared: no role was declared (always refused).
	Undeclared Role = iota
	// Public needs no credentials (health, readiness).
	Public
	// HIS: the hospital information system's callers (GuardService, the
	// national 3101/3102/3103 routes, CDS Hooks).
	HIS
	// Audit: readers of the decision record (AuditService, the dashboard's
	// patient data).
	Audit
	// Admin: release activation, configuration reload; on the reference
	// bureau, publishing releases and physician events.
	Admin
	numRoles
)

// credentialRoles are the roles a credential can hold.
var credentialRoles = []Role{HIS, Audit, Admin}

func (r Role) String() string {
	switch r {
	case Public:
		return "public"
	case HIS:
		return "his"
	case Audit:
		return "audit"
	case Admin:
		return "admin"
	}
	return "undeclared"
}

// ParseRole parses a credential role: his, audit or admin.
func ParseRole(s string) (Role, error) {
	for _, r := range credentialRoles {
		if s == r.String() {
			return r, nil
		}
	}
	return Undeclared, fmt.Errorf("role %q is not one of his, audit, admin", s)
}

// ParseAccess parses what an optionally protected route requires:
// "" or "public" (open), or a credential role.
func ParseAccess(s string) (Role, error) {
	if s == "" || s == "public" {
		return Public, nil
	}
	r, err := ParseRole(s)
	if err != nil {
		return Undeclared, fmt.Errorf("%q is neither \"public\" nor a role (his, audit, admin)", s)
	}
	return r, nil
}

// Roles is a set of credential roles.
type Roles uint8

// Has reports whether the set holds r.
func (rs Roles) Has(r Role) bool { return r < numRoles && rs&(1<<r) != 0 }

// With returns the set with r added.
func (rs Roles) With(r Role) Roles { return rs | 1<<r }

func (rs Roles) String() string {
	var names []string
	for _, r := range credentialRoles {
		if rs.Has(r) {
			names = append(names, r.String())
		}
	}
	return strings.Join(names, ",")
}

// ParseRoles parses a comma-separated list of credential roles.
func ParseRoles(s string) (Roles, error) {
	var rs Roles
	for part := range strings.SplitSeq(s, ",") {
		r, err := ParseRole(strings.TrimSpace(part))
		if err != nil {
			return 0, err
		}
		rs = rs.With(r)
	}
	return rs, nil
}

// Package auth resolves credentials to callers: API keys (opaque secrets
// stored hashed) and Ed25519-signed JWTs, and carries the caller in the
// request context.
package auth

import (
	"context"
	"errors"
	"slices"
)

// Role names what a principal may do.
type Role string

// The roles of Rapport.
const (
	RoleAdmin        Role = "admin"
	RoleSalesManager Role = "sales_manager"
	RoleSalesRep     Role = "sales_rep"
	RoleSupportAgent Role = "support_agent"
	RolePartnerUser  Role = "partner_user"
	RoleAnalyst      Role = "analyst"
)

// AllRoles lists every role, for validation.
var AllRoles = []Role{RoleAdmin, RoleSalesManager, RoleSalesRep, RoleSupportAgent, RolePartnerUser, RoleAnalyst}

// Caller is who a request acts for.
type Caller struct {
	TenantID    string `json:"tid"`
	PrincipalID string `json:"sub"`
	Roles       []Role `json:"roles"`
	// APIKeyID is set when the credential was an API key.
	APIKeyID string `json:"-"`
	// Operator callers may create tenants.
	Operator bool `json:"op,omitempty"`
	// TeamIDs are the caller's teams: sales reps see their teams' records.
	TeamIDs []string `json:"teams,omitempty"`
	// PartnerID is the channel partner a partner user acts for.
	PartnerID string `json:"pid,omitempty"`
}

// HasAny reports whether the caller holds one of roles.
func (c Caller) HasAny(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(c.Roles, r) {
			return true
		}
	}
	return false
}

// Errors of authentication and authorisation.
var (
	ErrUnauthenticated = errors.New("missing or invalid credentials")
	ErrForbidden       = errors.New("the caller's roles do not allow this")
)

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of ctx; ok is false for unauthenticated contexts.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Package identity manages tenants, principals and API keys, and turns
// credentials into callers.
package identity

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Tenant is one business using Rapport.
type Tenant struct {
	ID          uuid.UUID
	DisplayName string
	Operator    bool
	CreateTime  time.Time
}

// Principal is a user or machine of a tenant.
type Principal struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	DisplayName string
	Roles       []auth.Role
	// TeamIDs are the teams the principal belongs to.
	TeamIDs []uuid.UUID
	// PartnerID is the channel partner a partner user acts for.
	PartnerID  *uuid.UUID
	CreateTime time.Time
}

// Team groups principals; sales reps see what their teams own.
type Team struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	DisplayName string
	CreateTime  time.Time
}

// APIKey describes a key; its secret is never stored.
type APIKey struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	PrincipalID uuid.UUID
	DisplayName string
	Prefix      string
	CreateTime  time.Time
	RevokeTime  *time.Time
	LastUseTime *time.Time
}

// NewKey is a key with its secret, returned once.
type NewKey struct {
	APIKey
	Secret string
}

// Errors of the identity use cases.
var (
	ErrPrincipalNotFound = errors.New("principal not found")
	ErrAPIKeyNotFound    = errors.New("api key not found")
	ErrTeamNameTaken     = errors.New("a team with this name exists")
	ErrTenantNotFound    = errors.New("tenant not found")
	// ErrUnknownTeams carries the team ids that do not exist in the tenant.
	ErrUnknownTeams = errors.New("unknown team")
)

// PrincipalMutation changes a locked principal.
type PrincipalMutation func(*Principal) error

// Store keeps identities.
type Store interface {
	// CreateTenant creates a tenant, its first admin and that admin's key, or
	// returns what an earlier call by the same operator tenant with requestID
	// made (created is then false). Bootstrap passes uuid.Nil and no requestID.
	CreateTenant(ctx context.Context, operator uuid.UUID, t Tenant, admin Principal, key APIKey, keyHash []byte, requestID string) (Tenant, Principal, APIKey, bool, error)
	CreatePrincipal(ctx context.Context, p Principal, requestID string) (Principal, error)
	Principal(ctx context.Context, tenant, id uuid.UUID) (Principal, error)
	ListPrincipals(ctx context.Context, tenant uuid.UUID, after uuid.UUID, limit int) ([]Principal, error)
	// UpdatePrincipal applies m to a principal; the customers it owns follow
	// a change of its teams.
	UpdatePrincipal(ctx context.Context, tenant, id uuid.UUID, m PrincipalMutation) (Principal, error)
	CreateTeam(ctx context.Context, t Team, requestID string) (Team, error)
	// AllTenants pages through every tenant, for operators.
	AllTenants(ctx context.Context, after uuid.UUID, limit int) ([]Tenant, error)
	// AnyTenant returns any tenant by id, for operators; ErrTenantNotFound if none.
	AnyTenant(ctx context.Context, id uuid.UUID) (Tenant, error)
	ListTeams(ctx context.Context, tenant uuid.UUID) ([]Team, error)
	CreateAPIKey(ctx context.Context, k APIKey, hash []byte) (APIKey, error)
	ListAPIKeys(ctx context.Context, tenant uuid.UUID, after uuid.UUID, limit int) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, tenant, id uuid.UUID) (APIKey, error)
	// Authenticate returns the caller of an unrevoked key whose secret hash matches.
	Authenticate(ctx context.Context, k auth.ParsedAPIKey) (auth.Caller, error)
}

// TokenSigner signs JWTs.
type TokenSigner interface {
	Sign(c auth.Caller, now, expiry time.Time) (string, error)
}

// Service holds the identity use cases.
type Service struct {
	store  Store
	signer TokenSigner
	now    func() time.Time
}

// New returns a Service; signer may be nil when no private key is configured,
// and then IssueToken fails.
func New(store Store, signer TokenSigner) *Service {
	return &Service{store: store, signer: signer, now: time.Now}
}

// ErrNoSigner means the service has no JWT private key.
var ErrNoSigner = errors.New("token issuing is not configured on this server")

func requireAdmin(c auth.Caller) error {
	if !c.HasAny(auth.RoleAdmin) {
		return auth.ErrForbidden
	}
	return nil
}

func validName(field, name string, v *validation.Error) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		v.Add(field, "is required")
	case utf8.RuneCountInString(name) > 200:
		v.Add(field, "must be at most 200 characters")
	}
	return name
}

func newKey(tenant, principal uuid.UUID, name string) (APIKey, string, []byte) {
	id := uuid.Must(uuid.NewV7())
	secret, hash := auth.NewAPIKey(tenant, id)
	return APIKey{ID: id, TenantID: tenant, PrincipalID: principal, DisplayName: name, Prefix: secret[:12]}, secret, hash
}

// Bootstrap creates the first, operator tenant with its admin and key. It is
// reachable only from the command line of a process holding database access.
func (s *Service) Bootstrap(ctx context.Context, tenantName, adminName string) (Tenant, Principal, NewKey, error) {
	return s.createTenant(ctx, uuid.Nil, tenantName, adminName, "", true)
}

// CreateTenant creates a tenant with its first admin and API key. Only
// admins of an operator tenant may.
func (s *Service) CreateTenant(ctx context.Context, caller auth.Caller, tenantName, adminName, requestID string) (Tenant, Principal, NewKey, error) {
	if !caller.Operator || requireAdmin(caller) != nil {
		return Tenant{}, Principal{}, NewKey{}, auth.ErrForbidden
	}
	if utf8.RuneCountInString(requestID) > 64 {
		return Tenant{}, Principal{}, NewKey{}, validation.Field("request_id", "must be at most 64 characters")
	}
	return s.createTenant(ctx, uuid.MustParse(caller.TenantID), tenantName, adminName, requestID, false)
}

func (s *Service) createTenant(ctx context.Context, by uuid.UUID, tenantName, adminName, requestID string, operator bool) (Tenant, Principal, NewKey, error) {
	v := &validation.Error{}
	tenantName = validName("display_name", tenantName, v)
	if strings.TrimSpace(adminName) == "" {
		adminName = "Administrator"
	}
	adminName = validName("admin_display_name", adminName, v)
	if err := v.Err(); err != nil {
		return Tenant{}, Principal{}, NewKey{}, err
	}
	t := Tenant{ID: uuid.Must(uuid.NewV7()), DisplayName: tenantName, Operator: operator}
	admin := Principal{ID: uuid.Must(uuid.NewV7()), TenantID: t.ID, DisplayName: adminName, Roles: []auth.Role{auth.RoleAdmin}}
	k, secret, hash := newKey(t.ID, admin.ID, "initial admin key")
	t, admin, k, created, err := s.store.CreateTenant(ctx, by, t, admin, k, hash, requestID)
	if err != nil {
		return Tenant{}, Principal{}, NewKey{}, err
	}
	if !created {
		secret = ""
	}
	return t, admin, NewKey{APIKey: k, Secret: secret}, nil
}

// CreatePrincipal adds a principal to the caller's tenant.
func (s *Service) CreatePrincipal(ctx context.Context, caller auth.Caller, p Principal, requestID string) (Principal, error) {
	if err := requireAdmin(caller); err != nil {
		return Principal{}, err
	}
	v := &validation.Error{}
	p.validate("principal.", v)
	if utf8.RuneCountInString(requestID) > 64 {
		v.Add("request_id", "must be at most 64 characters")
	}
	if err := v.Err(); err != nil {
		return Principal{}, err
	}
	p.ID = uuid.Must(uuid.NewV7())
	p.TenantID = uuid.MustParse(caller.TenantID)
	return s.store.CreatePrincipal(ctx, p, requestID)
}

// requireOperator admits admins and analysts of an operator tenant: the
// platform's own people and services.
func requireOperator(c auth.Caller) error {
	if !c.Operator || !c.HasAny(auth.RoleAdmin, auth.RoleAnalyst) {
		return auth.ErrForbidden
	}
	return nil
}

// ListTenants pages through every tenant, for operators.
func (s *Service) ListTenants(ctx context.Context, caller auth.Caller, after uuid.UUID, limit int) ([]Tenant, error) {
	if err := requireOperator(caller); err != nil {
		return nil, err
	}
	return s.store.AllTenants(ctx, after, limit)
}

// Tenant token limits: long enough to follow a stream for a while, short
// enough that a leaked one soon stops working.
const (
	defaultTenantTokenTTL = 15 * time.Minute
	maxTenantTokenTTL     = time.Hour
)

// IssueTenantToken signs a token in tenant for an operator caller, whose
// principal id becomes the token's subject. The token carries the caller's
// roles except that admin becomes analyst (an operator never administers
// another tenant) and partner user is dropped: so a consumer that only
// reads holds analyst and sees no personal data, and one that acts for
// automation rules holds the writer role it was given, in every tenant.
func (s *Service) IssueTenantToken(ctx context.Context, caller auth.Caller, tenant uuid.UUID, ttl time.Duration) (string, time.Time, error) {
	if err := requireOperator(caller); err != nil {
		return "", time.Time{}, err
	}
	if s.signer == nil {
		return "", time.Time{}, ErrNoSigner
	}
	switch {
	case ttl < 0 || ttl > maxTenantTokenTTL:
		return "", time.Time{}, validation.Field("ttl_seconds", "must be between 0 and %d", int(maxTenantTokenTTL.Seconds()))
	case ttl == 0:
		ttl = defaultTenantTokenTTL
	}
	if _, err := s.store.AnyTenant(ctx, tenant); err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	exp := now.Add(ttl)
	tok, err := s.signer.Sign(auth.Caller{TenantID: tenant.String(), PrincipalID: caller.PrincipalID, Roles: tenantTokenRoles(caller.Roles)}, now, exp)
	return tok, exp, err
}

// tenantTokenRoles maps an operator's roles to those of its tenant tokens.
func tenantTokenRoles(roles []auth.Role) []auth.Role {
	out := []auth.Role{auth.RoleAnalyst}
	for _, r := range roles {
		if r != auth.RoleAdmin && r != auth.RolePartnerUser && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// PrincipalFields are the fields UpdatePrincipal may change.
var PrincipalFields = []string{"display_name", "roles", "team_ids", "partner_id"}

// UpdatePrincipal changes the fields of in named by mask.
func (s *Service) UpdatePrincipal(ctx context.Context, caller auth.Caller, in Principal, mask []string) (Principal, error) {
	if err := requireAdmin(caller); err != nil {
		return Principal{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(PrincipalFields, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, PrincipalFields)
		}
	}
	if err := v.Err(); err != nil {
		return Principal{}, err
	}
	return s.store.UpdatePrincipal(ctx, uuid.MustParse(caller.TenantID), in.ID, func(p *Principal) error {
		for _, f := range mask {
			switch f {
			case "display_name":
				p.DisplayName = in.DisplayName
			case "roles":
				p.Roles = in.Roles
			case "team_ids":
				p.TeamIDs = in.TeamIDs
			case "partner_id":
				p.PartnerID = in.PartnerID
			}
		}
		v := &validation.Error{}
		p.validate("principal.", v)
		return v.Err()
	})
}

// validate checks a principal and puts its lists in canonical order.
func (p *Principal) validate(prefix string, v *validation.Error) {
	p.DisplayName = validName(prefix+"display_name", p.DisplayName, v)
	if len(p.Roles) == 0 {
		v.Add(prefix+"roles", "must hold at least one role")
	}
	for _, r := range p.Roles {
		if !slices.Contains(auth.AllRoles, r) {
			v.Add(prefix+"roles", "unknown role %q", r)
		}
	}
	slices.Sort(p.Roles)
	p.Roles = slices.Compact(p.Roles)
	slices.SortFunc(p.TeamIDs, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	p.TeamIDs = slices.Compact(p.TeamIDs)
	if len(p.TeamIDs) > maxTeams {
		v.Add(prefix+"team_ids", "must name at most %d teams", maxTeams)
	}
	if p.PartnerID != nil && !slices.Contains(p.Roles, auth.RolePartnerUser) {
		v.Add(prefix+"partner_id", "applies only to principals with the partner user role")
	}
	if p.PartnerID == nil && slices.Contains(p.Roles, auth.RolePartnerUser) {
		v.Add(prefix+"partner_id", "is required for the partner user role")
	}
}

// maxTeams bounds a principal's teams, which travel in every token.
const maxTeams = 20

// CreateTeam adds a team to the caller's tenant.
func (s *Service) CreateTeam(ctx context.Context, caller auth.Caller, name, requestID string) (Team, error) {
	if err := requireAdmin(caller); err != nil {
		return Team{}, err
	}
	v := &validation.Error{}
	name = validName("team.display_name", name, v)
	if utf8.RuneCountInString(requestID) > 64 {
		v.Add("request_id", "must be at most 64 characters")
	}
	if err := v.Err(); err != nil {
		return Team{}, err
	}
	return s.store.CreateTeam(ctx, Team{ID: uuid.Must(uuid.NewV7()), TenantID: uuid.MustParse(caller.TenantID), DisplayName: name}, requestID)
}

// ListTeams lists the caller's tenant's teams; any authenticated caller may.
func (s *Service) ListTeams(ctx context.Context, caller auth.Caller) ([]Team, error) {
	return s.store.ListTeams(ctx, uuid.MustParse(caller.TenantID))
}

// ListPrincipals pages through the caller's tenant's principals.
func (s *Service) ListPrincipals(ctx context.Context, caller auth.Caller, after uuid.UUID, limit int) ([]Principal, error) {
	if err := requireAdmin(caller); err != nil {
		return nil, err
	}
	return s.store.ListPrincipals(ctx, uuid.MustParse(caller.TenantID), after, limit)
}

// CreateAPIKey issues a key for a principal of the caller's tenant.
func (s *Service) CreateAPIKey(ctx context.Context, caller auth.Caller, principal uuid.UUID, name string) (NewKey, error) {
	if err := requireAdmin(caller); err != nil {
		return NewKey{}, err
	}
	v := &validation.Error{}
	if strings.TrimSpace(name) == "" {
		name = "api key"
	}
	name = validName("display_name", name, v)
	if err := v.Err(); err != nil {
		return NewKey{}, err
	}
	tenant := uuid.MustParse(caller.TenantID)
	if _, err := s.store.Principal(ctx, tenant, principal); err != nil {
		return NewKey{}, err
	}
	k, secret, hash := newKey(tenant, principal, name)
	k, err := s.store.CreateAPIKey(ctx, k, hash)
	if err != nil {
		return NewKey{}, err
	}
	return NewKey{APIKey: k, Secret: secret}, nil
}

// ListAPIKeys pages through the caller's tenant's keys.
func (s *Service) ListAPIKeys(ctx context.Context, caller auth.Caller, after uuid.UUID, limit int) ([]APIKey, error) {
	if err := requireAdmin(caller); err != nil {
		return nil, err
	}
	return s.store.ListAPIKeys(ctx, uuid.MustParse(caller.TenantID), after, limit)
}

// RevokeAPIKey revokes a key of the caller's tenant; revoking twice is harmless.
func (s *Service) RevokeAPIKey(ctx context.Context, caller auth.Caller, id uuid.UUID) (APIKey, error) {
	if err := requireAdmin(caller); err != nil {
		return APIKey{}, err
	}
	return s.store.RevokeAPIKey(ctx, uuid.MustParse(caller.TenantID), id)
}

// Token limits.
const (
	defaultTokenTTL = time.Hour
	maxTokenTTL     = 24 * time.Hour
)

// IssueToken signs a JWT for the caller.
func (s *Service) IssueToken(caller auth.Caller, ttl time.Duration) (string, time.Time, error) {
	if s.signer == nil {
		return "", time.Time{}, ErrNoSigner
	}
	switch {
	case ttl < 0 || ttl > maxTokenTTL:
		return "", time.Time{}, validation.Field("ttl_seconds", "must be between 0 and %d", int(maxTokenTTL.Seconds()))
	case ttl == 0:
		ttl = defaultTokenTTL
	}
	now := s.now()
	exp := now.Add(ttl)
	tok, err := s.signer.Sign(caller, now, exp)
	return tok, exp, err
}

// VerifyAPIKey implements auth.KeyVerifier against the store.
func (s *Service) VerifyAPIKey(ctx context.Context, key string) (auth.Caller, error) {
	parsed, ok := auth.ParseAPIKey(key)
	if !ok {
		return auth.Caller{}, auth.ErrUnauthenticated
	}
	return s.store.Authenticate(ctx, parsed)
}

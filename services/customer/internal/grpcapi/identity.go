package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/iamclient"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
)

// Identity implements iamv1.IdentityServiceServer.
type Identity struct {
	iamv1.UnimplementedIdentityServiceServer
	svc  *identity.Service
	keys auth.KeyVerifier
}

// NewIdentity returns the server; keys verifies API keys (a cache over svc).
func NewIdentity(svc *identity.Service, keys auth.KeyVerifier) *Identity {
	return &Identity{svc: svc, keys: keys}
}

// AuthenticateApiKeyMethod is public: the key under test is its credential.
const AuthenticateApiKeyMethod = "/rapport.iam.v1.IdentityService/AuthenticateApiKey"

func tenantMessage(t identity.Tenant) *iamv1.Tenant {
	return &iamv1.Tenant{TenantId: t.ID.String(), DisplayName: t.DisplayName, Operator: t.Operator, CreateTime: timestamppb.New(t.CreateTime)}
}

func principalMessage(p identity.Principal) *iamv1.Principal {
	out := &iamv1.Principal{PrincipalId: p.ID.String(), TenantId: p.TenantID.String(), DisplayName: p.DisplayName, CreateTime: timestamppb.New(p.CreateTime)}
	for _, r := range p.Roles {
		out.Roles = append(out.Roles, iamclient.RoleMessage(r))
	}
	for _, t := range p.TeamIDs {
		out.TeamIds = append(out.TeamIds, t.String())
	}
	if p.PartnerID != nil {
		out.PartnerId = p.PartnerID.String()
	}
	return out
}

// principalFrom reads the writable fields of a principal message.
func principalFrom(m *iamv1.Principal) (identity.Principal, error) {
	v := &validation.Error{}
	p := identity.Principal{DisplayName: m.GetDisplayName()}
	for _, r := range m.GetRoles() {
		role := iamclient.RoleFrom(r)
		if role == "" {
			v.Add("principal.roles", "unknown role %d", r)
		}
		p.Roles = append(p.Roles, role)
	}
	for _, t := range m.GetTeamIds() {
		id, err := uuid.Parse(t)
		if err != nil {
			v.Add("principal.team_ids", "%q is not a UUID", t)
		}
		p.TeamIDs = append(p.TeamIDs, id)
	}
	if m.GetPartnerId() != "" {
		id, err := uuid.Parse(m.GetPartnerId())
		if err != nil {
			v.Add("principal.partner_id", "must be a UUID")
		}
		p.PartnerID = &id
	}
	return p, v.Err()
}

func teamMessage(t identity.Team) *iamv1.Team {
	return &iamv1.Team{TeamId: t.ID.String(), DisplayName: t.DisplayName, CreateTime: timestamppb.New(t.CreateTime)}
}

func keyMessage(k identity.APIKey) *iamv1.ApiKey {
	out := &iamv1.ApiKey{ApiKeyId: k.ID.String(), TenantId: k.TenantID.String(), PrincipalId: k.PrincipalID.String(),
		DisplayName: k.DisplayName, Prefix: k.Prefix, CreateTime: timestamppb.New(k.CreateTime)}
	if k.RevokeTime != nil {
		out.RevokeTime = timestamppb.New(*k.RevokeTime)
	}
	if k.LastUseTime != nil {
		out.LastUseTime = timestamppb.New(*k.LastUseTime)
	}
	return out
}

func callerMessage(c auth.Caller) *iamv1.Caller {
	out := &iamv1.Caller{TenantId: c.TenantID, PrincipalId: c.PrincipalID, ApiKeyId: c.APIKeyID, TeamIds: c.TeamIDs, PartnerId: c.PartnerID}
	for _, r := range c.Roles {
		out.Roles = append(out.Roles, iamclient.RoleMessage(r))
	}
	return out
}

// CreateTenant implements the RPC.
func (s *Identity) CreateTenant(ctx context.Context, req *iamv1.CreateTenantRequest) (*iamv1.CreateTenantResponse, error) {
	t, admin, key, err := s.svc.CreateTenant(ctx, caller(ctx), req.GetDisplayName(), req.GetAdminDisplayName(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.CreateTenantResponse{Tenant: tenantMessage(t), Admin: principalMessage(admin), ApiKey: keyMessage(key.APIKey), ApiKeySecret: key.Secret}, nil
}

// ListTenants implements the RPC.
func (s *Identity) ListTenants(ctx context.Context, req *iamv1.ListTenantsRequest) (*iamv1.ListTenantsResponse, error) {
	after, n, err := page(req.GetPageSize(), req.GetPageToken(), "tenants")
	if err != nil {
		return nil, toStatus(err)
	}
	ts, err := s.svc.ListTenants(ctx, caller(ctx), after, n)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &iamv1.ListTenantsResponse{}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, tenantMessage(t))
	}
	if len(ts) > 0 {
		out.NextPageToken = nextToken("tenants", n, len(ts), ts[len(ts)-1].ID)
	}
	return out, nil
}

// IssueTenantToken implements the RPC.
func (s *Identity) IssueTenantToken(ctx context.Context, req *iamv1.IssueTenantTokenRequest) (*iamv1.IssueTenantTokenResponse, error) {
	tenant, err := parseID("tenant_id", req.GetTenantId())
	if err != nil {
		return nil, toStatus(err)
	}
	tok, exp, err := s.svc.IssueTenantToken(ctx, caller(ctx), tenant, time.Duration(req.GetTtlSeconds())*time.Second)
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.IssueTenantTokenResponse{Token: tok, ExpireTime: timestamppb.New(exp)}, nil
}

// CreatePrincipal implements the RPC.
func (s *Identity) CreatePrincipal(ctx context.Context, req *iamv1.CreatePrincipalRequest) (*iamv1.CreatePrincipalResponse, error) {
	p, err := principalFrom(req.GetPrincipal())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreatePrincipal(ctx, caller(ctx), p, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.CreatePrincipalResponse{Principal: principalMessage(saved)}, nil
}

// UpdatePrincipal implements the RPC.
func (s *Identity) UpdatePrincipal(ctx context.Context, req *iamv1.UpdatePrincipalRequest) (*iamv1.UpdatePrincipalResponse, error) {
	id, err := parseID("principal.principal_id", req.GetPrincipal().GetPrincipalId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := principalFrom(req.GetPrincipal())
	if err != nil {
		return nil, toStatus(err)
	}
	p.ID = id
	saved, err := s.svc.UpdatePrincipal(ctx, caller(ctx), p, maskPaths(req.GetUpdateMask().GetPaths(), "principal_id", "tenant_id", "create_time"))
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.UpdatePrincipalResponse{Principal: principalMessage(saved)}, nil
}

// CreateTeam implements the RPC.
func (s *Identity) CreateTeam(ctx context.Context, req *iamv1.CreateTeamRequest) (*iamv1.CreateTeamResponse, error) {
	t, err := s.svc.CreateTeam(ctx, caller(ctx), req.GetTeam().GetDisplayName(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.CreateTeamResponse{Team: teamMessage(t)}, nil
}

// ListTeams implements the RPC.
func (s *Identity) ListTeams(ctx context.Context, _ *iamv1.ListTeamsRequest) (*iamv1.ListTeamsResponse, error) {
	teams, err := s.svc.ListTeams(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &iamv1.ListTeamsResponse{}
	for _, t := range teams {
		out.Teams = append(out.Teams, teamMessage(t))
	}
	return out, nil
}

// page reads a simple id-keyset page request.
func page(size int32, token, query string) (uuid.UUID, int, error) {
	v := &validation.Error{}
	n := int(size)
	switch {
	case n < 0:
		v.Add("page_size", "must not be negative")
	case n == 0:
		n = 50
	case n > 1000:
		n = 1000
	}
	after := uuid.Nil
	if token != "" {
		if err := pagetoken.Decode(token, query, &after); err != nil {
			v.Add("page_token", "is not a token from this query")
		}
	}
	return after, n, v.Err()
}

func nextToken(query string, n, got int, last uuid.UUID) string {
	if got < n {
		return ""
	}
	t, _ := pagetoken.Encode(query, last)
	return t
}

// ListPrincipals implements the RPC.
func (s *Identity) ListPrincipals(ctx context.Context, req *iamv1.ListPrincipalsRequest) (*iamv1.ListPrincipalsResponse, error) {
	after, n, err := page(req.GetPageSize(), req.GetPageToken(), "principals")
	if err != nil {
		return nil, toStatus(err)
	}
	ps, err := s.svc.ListPrincipals(ctx, caller(ctx), after, n)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &iamv1.ListPrincipalsResponse{}
	for _, p := range ps {
		out.Principals = append(out.Principals, principalMessage(p))
	}
	if len(ps) > 0 {
		out.NextPageToken = nextToken("principals", n, len(ps), ps[len(ps)-1].ID)
	}
	return out, nil
}

// CreateApiKey implements the RPC.
func (s *Identity) CreateApiKey(ctx context.Context, req *iamv1.CreateApiKeyRequest) (*iamv1.CreateApiKeyResponse, error) {
	id, err := parseID("principal_id", req.GetPrincipalId())
	if err != nil {
		return nil, toStatus(err)
	}
	k, err := s.svc.CreateAPIKey(ctx, caller(ctx), id, req.GetDisplayName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.CreateApiKeyResponse{ApiKey: keyMessage(k.APIKey), ApiKeySecret: k.Secret}, nil
}

// ListApiKeys implements the RPC.
func (s *Identity) ListApiKeys(ctx context.Context, req *iamv1.ListApiKeysRequest) (*iamv1.ListApiKeysResponse, error) {
	after, n, err := page(req.GetPageSize(), req.GetPageToken(), "apikeys")
	if err != nil {
		return nil, toStatus(err)
	}
	ks, err := s.svc.ListAPIKeys(ctx, caller(ctx), after, n)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &iamv1.ListApiKeysResponse{}
	for _, k := range ks {
		out.ApiKeys = append(out.ApiKeys, keyMessage(k))
	}
	if len(ks) > 0 {
		out.NextPageToken = nextToken("apikeys", n, len(ks), ks[len(ks)-1].ID)
	}
	return out, nil
}

// RevokeApiKey implements the RPC.
func (s *Identity) RevokeApiKey(ctx context.Context, req *iamv1.RevokeApiKeyRequest) (*iamv1.RevokeApiKeyResponse, error) {
	id, err := parseID("api_key_id", req.GetApiKeyId())
	if err != nil {
		return nil, toStatus(err)
	}
	k, err := s.svc.RevokeAPIKey(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.RevokeApiKeyResponse{ApiKey: keyMessage(k)}, nil
}

// IssueToken implements the RPC.
func (s *Identity) IssueToken(ctx context.Context, req *iamv1.IssueTokenRequest) (*iamv1.IssueTokenResponse, error) {
	tok, exp, err := s.svc.IssueToken(caller(ctx), time.Duration(req.GetTtlSeconds())*time.Second)
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.IssueTokenResponse{Token: tok, ExpireTime: timestamppb.New(exp)}, nil
}

// GetCaller implements the RPC.
func (s *Identity) GetCaller(ctx context.Context, _ *iamv1.GetCallerRequest) (*iamv1.GetCallerResponse, error) {
	return &iamv1.GetCallerResponse{Caller: callerMessage(caller(ctx))}, nil
}

// AuthenticateApiKey implements the RPC.
func (s *Identity) AuthenticateApiKey(ctx context.Context, req *iamv1.AuthenticateApiKeyRequest) (*iamv1.AuthenticateApiKeyResponse, error) {
	c, err := s.keys.VerifyAPIKey(ctx, req.GetApiKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &iamv1.AuthenticateApiKeyResponse{Caller: callerMessage(c)}, nil
}

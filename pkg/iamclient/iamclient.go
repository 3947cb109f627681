// Package iamclient verifies API keys with the identity service over gRPC,
// for the services that do not host it.
package iamclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
)

// Keys implements auth.KeyVerifier with IdentityService.AuthenticateApiKey.
type Keys struct{ client iamv1.IdentityServiceClient }

// New returns a verifier over conn (a connection to the customer service).
func New(conn grpc.ClientConnInterface) *Keys {
	return &Keys{client: iamv1.NewIdentityServiceClient(conn)}
}

// callTimeout bounds one verification inside the inbound deadline.
const callTimeout = 3 * time.Second

// VerifyAPIKey implements auth.KeyVerifier.
func (k *Keys) VerifyAPIKey(ctx context.Context, key string) (auth.Caller, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := k.client.AuthenticateApiKey(ctx, &iamv1.AuthenticateApiKeyRequest{ApiKey: key})
	if status.Code(err) == codes.Unauthenticated {
		return auth.Caller{}, auth.ErrUnauthenticated
	}
	if err != nil {
		return auth.Caller{}, fmt.Errorf("identity service: %w", err)
	}
	return CallerFrom(resp.GetCaller()), nil
}

// CallerFrom converts the API's caller message.
func CallerFrom(c *iamv1.Caller) auth.Caller {
	out := auth.Caller{TenantID: c.GetTenantId(), PrincipalID: c.GetPrincipalId(), APIKeyID: c.GetApiKeyId(),
		TeamIDs: c.GetTeamIds(), PartnerID: c.GetPartnerId()}
	for _, r := range c.GetRoles() {
		out.Roles = append(out.Roles, RoleFrom(r))
	}
	return out
}

// RoleFrom maps an API role to auth's.
func RoleFrom(r iamv1.Role) auth.Role {
	switch r {
	case iamv1.Role_ROLE_ADMIN:
		return auth.RoleAdmin
	case iamv1.Role_ROLE_SALES_MANAGER:
		return auth.RoleSalesManager
	case iamv1.Role_ROLE_SALES_REP:
		return auth.RoleSalesRep
	case iamv1.Role_ROLE_SUPPORT_AGENT:
		return auth.RoleSupportAgent
	case iamv1.Role_ROLE_PARTNER_USER:
		return auth.RolePartnerUser
	case iamv1.Role_ROLE_ANALYST:
		return auth.RoleAnalyst
	}
	return ""
}

// RoleMessage maps auth's role to the API's.
func RoleMessage(r auth.Role) iamv1.Role {
	for v := range iamv1.Role_name {
		if RoleFrom(iamv1.Role(v)) == r && v != 0 {
			return iamv1.Role(v)
		}
	}
	return iamv1.Role_ROLE_UNSPECIFIED
}

package iamclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

// directoryCallTimeout bounds each call a TenantDirectory makes.
const directoryCallTimeout = 10 * time.Second

// renewBefore is how long before its expiry a tenant token is replaced, so
// that a stream is never opened with one about to lapse.
const renewBefore = 2 * time.Minute

// TenantDirectory tells a service that follows other services' event
// streams (analytics, integration) which tenants to follow and with what
// credential, from the identity service and the service's API key. An
// operator's key (an admin or analyst of an operator tenant) follows every
// tenant with tenant tokens it asks for; any other key follows its own
// tenant only, with itself.
type TenantDirectory struct {
	iam iamv1.IdentityServiceClient
	key string
	own uuid.UUID

	mu     sync.Mutex
	tokens map[uuid.UUID]token
}

type token struct {
	value  string
	expiry time.Time
}

// NewTenantDirectory returns a TenantDirectory asking iam with key, which
// belongs to tenant own.
func NewTenantDirectory(iam iamv1.IdentityServiceClient, key string, own uuid.UUID) *TenantDirectory {
	return &TenantDirectory{iam: iam, key: key, own: own, tokens: map[uuid.UUID]token{}}
}

func (d *TenantDirectory) call(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, directoryCallTimeout)
	return grpcclient.WithBearer(ctx, d.key), cancel
}

// Tenants lists every tenant, or only the key's own when it may not list them.
func (d *TenantDirectory) Tenants(ctx context.Context) ([]uuid.UUID, error) {
	var out []uuid.UUID
	pageToken := ""
	for {
		cctx, cancel := d.call(ctx)
		resp, err := d.iam.ListTenants(cctx, &iamv1.ListTenantsRequest{PageSize: 1000, PageToken: pageToken})
		cancel()
		if status.Code(err) == codes.PermissionDenied {
			return []uuid.UUID{d.own}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		for _, t := range resp.GetTenants() {
			id, err := uuid.Parse(t.GetTenantId())
			if err != nil {
				return nil, fmt.Errorf("list tenants: tenant id %q: %w", t.GetTenantId(), err)
			}
			out = append(out, id)
		}
		if pageToken = resp.GetNextPageToken(); pageToken == "" {
			return out, nil
		}
	}
}

// Credential returns what to follow tenant with: the key itself for its
// own tenant, a cached tenant token for the others.
func (d *TenantDirectory) Credential(ctx context.Context, tenant uuid.UUID) (string, error) {
	if tenant == d.own {
		return d.key, nil
	}
	d.mu.Lock()
	t, ok := d.tokens[tenant]
	d.mu.Unlock()
	if ok && time.Until(t.expiry) > renewBefore {
		return t.value, nil
	}
	cctx, cancel := d.call(ctx)
	defer cancel()
	resp, err := d.iam.IssueTenantToken(cctx, &iamv1.IssueTenantTokenRequest{TenantId: tenant.String()})
	if err != nil {
		return "", fmt.Errorf("issue a token for tenant %s: %w", tenant, err)
	}
	t = token{value: resp.GetToken(), expiry: resp.GetExpireTime().AsTime()}
	d.mu.Lock()
	d.tokens[tenant] = t
	d.mu.Unlock()
	return t.value, nil
}

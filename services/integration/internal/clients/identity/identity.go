// Package identity tells the integration service which tenants to follow
// and with what credential, from the identity service.
package identity

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
)

// callTimeout bounds each call to the identity service.
const callTimeout = 10 * time.Second

// renewBefore is how long before expiry a tenant token is replaced, so no
// stream opens with one about to lapse.
const renewBefore = 2 * time.Minute

// Directory implements follower.Directory with the service's API key. The
// key of an operator tenant's analyst follows every tenant with tenant
// tokens; any other key follows its own tenant with itself.
type Directory struct {
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

// New returns a Directory asking iam with key, a key of tenant own.
func New(iam iamv1.IdentityServiceClient, key string, own uuid.UUID) *Directory {
	return &Directory{iam: iam, key: key, own: own, tokens: map[uuid.UUID]token{}}
}

func (d *Directory) call(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+d.key), cancel
}

// Tenants lists every tenant, or only the key's own when it may not list them.
func (d *Directory) Tenants(ctx context.Context) ([]uuid.UUID, error) {
	var out []uuid.UUID
	page := ""
	for {
		cctx, cancel := d.call(ctx)
		resp, err := d.iam.ListTenants(cctx, &iamv1.ListTenantsRequest{PageSize: 1000, PageToken: page})
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
				return nil, fmt.Errorf("tenant id %q: %w", t.GetTenantId(), err)
			}
			out = append(out, id)
		}
		if page = resp.GetNextPageToken(); page == "" {
			return out, nil
		}
	}
}

// Credential returns the key for its own tenant and a cached tenant token
// for any other.
func (d *Directory) Credential(ctx context.Context, tenant uuid.UUID) (string, error) {
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
		return "", fmt.Errorf("token for tenant %s: %w", tenant, err)
	}
	t = token{value: resp.GetToken(), expiry: resp.GetExpireTime().AsTime()}
	d.mu.Lock()
	d.tokens[tenant] = t
	d.mu.Unlock()
	return t.value, nil
}

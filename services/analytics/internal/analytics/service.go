package analytics

import (
	"context"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// readers may see the read model: every internal role. Partner users see
// no customer data.
var readers = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}

// Service holds the read model's queries.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

// tenantOf checks the caller may read and returns its tenant.
func tenantOf(c auth.Caller) (uuid.UUID, error) {
	if !c.HasAny(readers...) {
		return uuid.Nil, auth.ErrForbidden
	}
	tenant, err := uuid.Parse(c.TenantID)
	if err != nil {
		return uuid.Nil, auth.ErrUnauthenticated
	}
	return tenant, nil
}

// CustomerSummary returns what is open for a customer of the caller's tenant.
func (s *Service) CustomerSummary(ctx context.Context, caller auth.Caller, customerID uuid.UUID) (Summary, error) {
	tenant, err := tenantOf(caller)
	if err != nil {
		return Summary{}, err
	}
	return s.store.Summary(ctx, tenant, customerID)
}

// Feeds returns how far each source's stream has been consumed for the caller's tenant.
func (s *Service) Feeds(ctx context.Context, caller auth.Caller) ([]Feed, error) {
	tenant, err := tenantOf(caller)
	if err != nil {
		return nil, err
	}
	return s.store.Feeds(ctx, tenant)
}

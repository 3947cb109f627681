// Package partnerlink links customers to the channel partners that brought
// or registered them. The customer record-access policy reads these links:
// a partner user sees exactly the customers linked to its partner.
package partnerlink

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Events a link change emits.
const (
	EventLinked   = "customer.partner_linked"
	EventUnlinked = "customer.partner_unlinked"
)

// ErrNotFound means the customer has no link to the partner.
var ErrNotFound = errors.New("partner link not found")

// Link says a partner brought or registered a customer.
type Link struct {
	CustomerID uuid.UUID
	PartnerID  uuid.UUID
	LinkTime   time.Time
}

// Resource is the link's resource name.
func (l Link) Resource() string {
	return "customers/" + l.CustomerID.String() + "/partnerLinks/" + l.PartnerID.String()
}

// Store keeps links, scoped to the caller's tenant. A customer the caller
// cannot see is customer.ErrNotFound.
type Store interface {
	// LinkPartner inserts l with its event, or returns the existing link
	// (created false, no event).
	LinkPartner(ctx context.Context, caller auth.Caller, l Link) (saved Link, created bool, err error)
	// UnlinkPartner deletes the link with its event.
	UnlinkPartner(ctx context.Context, caller auth.Caller, customerID, partnerID uuid.UUID) error
	// PartnerLinks returns up to limit links of the customer with partner
	// ids after after, in partner id order.
	PartnerLinks(ctx context.Context, caller auth.Caller, customerID, after uuid.UUID, limit int) ([]Link, error)
}

// Who may do what: linking decides what partner users see, so only the
// roles that manage channel business change links.
var (
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RoleAnalyst}
)

// Page sizes of List.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// Service holds the link use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Link links a customer to a partner; a repeat returns the first link.
func (s *Service) Link(ctx context.Context, caller auth.Caller, customerID, partnerID uuid.UUID) (Link, error) {
	if err := allow(caller, writers); err != nil {
		return Link{}, err
	}
	saved, _, err := s.store.LinkPartner(ctx, caller, Link{CustomerID: customerID, PartnerID: partnerID})
	return saved, err
}

// Unlink removes a link.
func (s *Service) Unlink(ctx context.Context, caller auth.Caller, customerID, partnerID uuid.UUID) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.UnlinkPartner(ctx, caller, customerID, partnerID)
}

// List returns a page of a customer's links after the partner id after
// (uuid.Nil for the first page) and whether more follow.
func (s *Service) List(ctx context.Context, caller auth.Caller, customerID, after uuid.UUID, pageSize int) ([]Link, bool, error) {
	if err := allow(caller, readers); err != nil {
		return nil, false, err
	}
	switch {
	case pageSize < 0:
		return nil, false, validation.Field("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = defaultPageSize
	case pageSize > maxPageSize:
		pageSize = maxPageSize
	}
	links, err := s.store.PartnerLinks(ctx, caller, customerID, after, pageSize+1)
	if err != nil {
		return nil, false, err
	}
	if len(links) > pageSize {
		return links[:pageSize], true, nil
	}
	return links, false, nil
}

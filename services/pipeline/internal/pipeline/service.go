package pipeline

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// EventCreated is the event type a new opportunity emits.
const EventCreated = "opportunity.created"

// Who may do what. Support agents see the pipeline to help customers but do
// not sell; partner users get scoped access with the channel-partner work.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RoleSupportAgent}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep}
)

// Service holds the pipeline use cases.
type Service struct {
	store     Store
	customers Customers
}

// New returns a Service over store that checks customers with customers.
func New(store Store, customers Customers) *Service {
	return &Service{store: store, customers: customers}
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Create validates and stores a new opportunity for an existing customer.
func (s *Service) Create(ctx context.Context, caller auth.Caller, o Opportunity, requestID string) (Opportunity, error) {
	if err := allow(caller, writers); err != nil {
		return Opportunity{}, err
	}
	o.normalize()
	v := &validation.Error{}
	o.validate("opportunity.", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Opportunity{}, err
	}
	// A retry returns its first result before asking the customer service,
	// so it succeeds even if the customer was deleted since or the customer
	// service is briefly down. Store.Create still settles concurrent retries.
	if requestID != "" {
		earlier, err := s.store.ByRequestID(ctx, caller, requestID)
		if err == nil {
			return earlier, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Opportunity{}, err
		}
	}
	ok, err := s.customers.Exists(ctx, o.CustomerID)
	if err != nil {
		return Opportunity{}, fmt.Errorf("check customer %s: %w", o.CustomerID, err)
	}
	if !ok {
		return Opportunity{}, validation.Field("opportunity.customer_id", "no such customer")
	}
	o.ID = uuid.Must(uuid.NewV7())
	return s.store.Create(ctx, caller, o, requestID)
}

// Get returns an opportunity.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Opportunity, error) {
	if err := allow(caller, readers); err != nil {
		return Opportunity{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// Page sizes of List.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// List returns a page of opportunities, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	switch {
	case q.PageSize < 0:
		return Page{}, validation.Field("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	return s.store.List(ctx, caller, q)
}

package ticket

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// EventCreated is the event type a new ticket emits.
const EventCreated = "ticket.created"

// Who may do what. Sales staff log tickets for their accounts; analysts
// only read; partner users get scoped access with the channel-partner work.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSupportAgent, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSupportAgent, auth.RoleSalesManager, auth.RoleSalesRep}
)

// Service holds the help desk use cases.
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

// Create validates and stores a new ticket for an existing customer.
func (s *Service) Create(ctx context.Context, caller auth.Caller, t Ticket, requestID string) (Ticket, error) {
	if err := allow(caller, writers); err != nil {
		return Ticket{}, err
	}
	t.normalize()
	v := &validation.Error{}
	t.validate("ticket.", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Ticket{}, err
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
			return Ticket{}, err
		}
	}
	ok, err := s.customers.Exists(ctx, t.CustomerID)
	if err != nil {
		return Ticket{}, fmt.Errorf("check customer %s: %w", t.CustomerID, err)
	}
	if !ok {
		return Ticket{}, validation.Field("ticket.customer_id", "no such customer")
	}
	t.ID = uuid.Must(uuid.NewV7())
	return s.store.Create(ctx, caller, t, requestID)
}

// Get returns a ticket.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Ticket, error) {
	if err := allow(caller, readers); err != nil {
		return Ticket{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// Page sizes of List.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// List returns a page of tickets, newest first.
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

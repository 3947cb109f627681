package partner

import (
	"context"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// EventCreated is the event a new partner emits.
const EventCreated = "partner.created"

// Who may do what. Partner users get a view of their own partner with the
// partner portal work; until then they see none.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// Page sizes of List.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// Service holds the partner use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Create validates and stores a new partner; a repeated requestID returns
// the first result.
func (s *Service) Create(ctx context.Context, caller auth.Caller, p Partner, requestID string) (Partner, error) {
	if err := allow(caller, writers); err != nil {
		return Partner{}, err
	}
	p.normalize()
	v := &validation.Error{}
	p.validate("partner.", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Partner{}, err
	}
	p.ID = uuid.Must(uuid.NewV7())
	saved, _, err := s.store.Create(ctx, caller, p, requestID)
	return saved, err
}

// Get returns a partner.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Partner, error) {
	if err := allow(caller, readers); err != nil {
		return Partner{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// List returns a page of partners, newest first.
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

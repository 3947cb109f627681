package partner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Events a partner emits.
const (
	EventCreated       = "partner.created"
	EventUpdated       = "partner.updated"
	EventStatusChanged = "partner.status_changed"
)

// Who may do what. Partner users read their own partner and the partners
// under it: the partner_access policy narrows what they see.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RolePartnerUser}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// updatable are the fields UpdatePartner may change.
var updatable = []string{"display_name", "type", "tier", "region", "city", "external_id", "territories", "postal_prefix"}

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

// Update changes the fields in mask to in's values. etag, when not empty,
// must be the partner's current one.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Partner, mask []string, etag string) (Partner, error) {
	if err := allow(caller, writers); err != nil {
		return Partner{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "names no field")
	}
	for _, f := range mask {
		if !slices.Contains(updatable, f) {
			v.Add("update_mask", "%q cannot be updated (updatable: %s)", f, strings.Join(updatable, ", "))
		}
	}
	if err := v.Err(); err != nil {
		return Partner{}, err
	}
	return s.store.Mutate(ctx, caller, in.ID, func(p *Partner) (string, *StatusChange, error) {
		if etag != "" && etag != p.Etag() {
			return "", nil, ErrEtagMismatch
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				p.DisplayName = in.DisplayName
			case "type":
				p.Type = in.Type
			case "tier":
				p.Tier = in.Tier
			case "region":
				p.Region = in.Region
			case "city":
				p.City = in.City
			case "external_id":
				p.ExternalID = in.ExternalID
			case "territories":
				p.Territories = in.Territories
			case "postal_prefix":
				p.PostalPrefix = in.PostalPrefix
			}
		}
		p.normalize()
		v := &validation.Error{}
		p.validate("partner.", v)
		return EventUpdated, nil, v.Err()
	})
}

// Transition moves a partner to status along the status machine and logs
// the step with reason.
func (s *Service) Transition(ctx context.Context, caller auth.Caller, id uuid.UUID, to Status, reason, etag string) (Partner, error) {
	if err := allow(caller, writers); err != nil {
		return Partner{}, err
	}
	reason = strings.TrimSpace(reason)
	v := &validation.Error{}
	if to <= StatusUnspecified || to > StatusTerminated {
		v.Add("status", "must be a known partner status")
	}
	if utf8.RuneCountInString(reason) > maxReason {
		v.Add("reason", "must be at most %d characters", maxReason)
	}
	if err := v.Err(); err != nil {
		return Partner{}, err
	}
	return s.store.Mutate(ctx, caller, id, func(p *Partner) (string, *StatusChange, error) {
		if etag != "" && etag != p.Etag() {
			return "", nil, ErrEtagMismatch
		}
		if !CanTransition(p.Status, to) {
			return "", nil, fmt.Errorf("%w: %s → %s", ErrBadTransition, p.Status, to)
		}
		change := &StatusChange{ID: uuid.Must(uuid.NewV7()), PartnerID: p.ID, From: p.Status, To: to, Reason: reason, PrincipalID: caller.PrincipalID}
		p.Status = to
		return EventStatusChanged, change, nil
	})
}

// StatusChanges returns a page of a partner's status log, newest first.
func (s *Service) StatusChanges(ctx context.Context, caller auth.Caller, id uuid.UUID, pageToken string, pageSize int) (StatusChangePage, error) {
	if err := allow(caller, readers); err != nil {
		return StatusChangePage{}, err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return StatusChangePage{}, err
	}
	return s.store.StatusChanges(ctx, caller, id, pageToken, size)
}

// pageSizeOf applies the list defaults and limits.
func pageSizeOf(n int) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return n, nil
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
	var err error
	if q.PageSize, err = pageSizeOf(q.PageSize); err != nil {
		return Page{}, err
	}
	return s.store.List(ctx, caller, q)
}

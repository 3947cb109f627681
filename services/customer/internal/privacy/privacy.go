// Package privacy answers for the personal data held about a customer: its
// audit trail, an export of everything held, and erasure.
package privacy

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// EventErased tells other services to erase their copies of a customer.
const EventErased = "customer.erased"

// ErrErased means the customer was erased already.
var ErrErased = errors.New("the customer was erased")

// AuditEntry is one change in the audit trail.
type AuditEntry struct {
	ID          uuid.UUID
	PrincipalID string
	Action      string
	Resource    string
	// Before and After are the resource's JSON around the change.
	Before, After []byte
	Time          time.Time
}

// Page is a page of audit entries.
type Page struct {
	Entries       []AuditEntry
	NextPageToken string
}

// Erasure is what erasing a customer did.
type Erasure struct {
	Customer                      customer.Customer
	RedactedEvents, RedactedAudit int64
}

// Store is what the use cases need from storage.
type Store interface {
	AuditEntries(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (Page, error)
	// Export returns everything held about a customer as one JSON object.
	Export(ctx context.Context, caller auth.Caller, id uuid.UUID) ([]byte, error)
	Erase(ctx context.Context, caller auth.Caller, id uuid.UUID, reason, etag string) (Erasure, error)
}

// Who may do what: the audit trail holds personal data of every version, so
// it is for admins and sales managers; exports and erasure answer data
// subjects' requests and are for admins.
var (
	auditors = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	officers = []auth.Role{auth.RoleAdmin}
)

const maxReason = 500

// Service holds the privacy use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// AuditEntries lists a customer's audit trail, newest first.
func (s *Service) AuditEntries(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (Page, error) {
	if err := allow(caller, auditors); err != nil {
		return Page{}, err
	}
	switch {
	case pageSize < 0:
		return Page{}, validation.Field("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = 50
	case pageSize > 1000:
		pageSize = 1000
	}
	return s.store.AuditEntries(ctx, caller, id, pageSize, pageToken)
}

// Export returns everything held about a customer.
func (s *Service) Export(ctx context.Context, caller auth.Caller, id uuid.UUID) ([]byte, error) {
	if err := allow(caller, officers); err != nil {
		return nil, err
	}
	return s.store.Export(ctx, caller, id)
}

// Erase anonymises a customer and strips its history of personal data.
func (s *Service) Erase(ctx context.Context, caller auth.Caller, id uuid.UUID, reason, etag string) (Erasure, error) {
	if err := allow(caller, officers); err != nil {
		return Erasure{}, err
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n == 0 || n > maxReason {
		return Erasure{}, validation.Field("reason", "must be 1 to %d characters: erasure is recorded with its reason", maxReason)
	}
	return s.store.Erase(ctx, caller, id, reason, etag)
}

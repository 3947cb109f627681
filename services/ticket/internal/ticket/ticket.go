// Package ticket is the help desk's domain: tickets, their rules, and the
// ports (store, customer lookup) they need.
package ticket

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Priority is a ticket's urgency; the numbers match the API's enum.
type Priority int32

// Priorities.
const (
	PriorityUnspecified Priority = iota
	PriorityLow
	PriorityMedium
	PriorityHigh
	PriorityUrgent
)

// Status is where a ticket stands; the numbers match the API's enum.
type Status int32

// Statuses.
const (
	StatusUnspecified Status = iota
	StatusNew
	StatusOpen
	StatusPendingCustomer
	StatusOnHold
	StatusResolved
	StatusClosed
	StatusReopened
)

// Channel is how a ticket arrived; the numbers match the API's enum.
type Channel int32

// Channels.
const (
	ChannelUnspecified Channel = iota
	ChannelPhone
	ChannelEmail
	ChannelWeb
	ChannelChat
	ChannelSocial
	ChannelInPerson
)

// Ticket is a customer's service request, incident or complaint.
type Ticket struct {
	ID          uuid.UUID
	CustomerID  uuid.UUID
	Subject     string
	Description string
	Priority    Priority
	Status      Status
	Channel     Channel
	CreateTime  time.Time
	UpdateTime  time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
}

// Etag is the opaque concurrency token of the ticket's current revision.
func (t Ticket) Etag() string { return strconv.FormatInt(t.Revision, 10) }

// Resource is the ticket's resource name.
func (t Ticket) Resource() string { return "tickets/" + t.ID.String() }

// Errors the use cases return.
var (
	ErrNotFound = errors.New("ticket not found")
	// ErrCustomerLookup means the customer service could not say whether a
	// customer exists; the caller may retry.
	ErrCustomerLookup = errors.New("the customer could not be checked; retry later")
)

// Limits on field sizes.
const (
	maxSubject     = 300
	maxDescription = 20000
	maxRequestID   = 64
)

// normalize trims the subject and fills defaults before validation. The
// description keeps its layout as written.
func (t *Ticket) normalize() {
	t.Subject = strings.TrimSpace(t.Subject)
	if t.Priority == PriorityUnspecified {
		t.Priority = PriorityMedium
	}
	if t.Status == StatusUnspecified {
		t.Status = StatusNew
	}
	if t.Channel == ChannelUnspecified {
		t.Channel = ChannelWeb
	}
}

// validate checks every field, reporting paths under prefix ("ticket.").
func (t Ticket) validate(prefix string, v *validation.Error) {
	if t.CustomerID == uuid.Nil {
		v.Add(prefix+"customer_id", "is required")
	}
	switch {
	case t.Subject == "":
		v.Add(prefix+"subject", "is required")
	case utf8.RuneCountInString(t.Subject) > maxSubject:
		v.Add(prefix+"subject", "must be at most %d characters", maxSubject)
	}
	if utf8.RuneCountInString(t.Description) > maxDescription {
		v.Add(prefix+"description", "must be at most %d characters", maxDescription)
	}
	if t.Priority < PriorityLow || t.Priority > PriorityUrgent {
		v.Add(prefix+"priority", "is not a known priority")
	}
	if t.Status < StatusNew || t.Status > StatusReopened {
		v.Add(prefix+"status", "is not a known status")
	}
	if t.Channel < ChannelPhone || t.Channel > ChannelInPerson {
		v.Add(prefix+"channel", "is not a known channel")
	}
}

// ListQuery selects a page of tickets, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of tickets.
type Page struct {
	Tickets       []Ticket
	NextPageToken string
}

// Store keeps tickets. Every method is scoped to the tenant of the caller.
type Store interface {
	// Create inserts t, or returns the ticket an earlier create with the
	// same non-empty requestID made.
	Create(ctx context.Context, caller auth.Caller, t Ticket, requestID string) (Ticket, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Ticket, error)
	// ByRequestID returns the ticket a create with requestID made, or ErrNotFound.
	ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (Ticket, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
}

// Customers answers whether a customer exists; it is implemented over gRPC
// by pkg/customerclient, given ErrCustomerLookup in main. A lookup that fails
// wraps ErrCustomerLookup.
type Customers interface {
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
}

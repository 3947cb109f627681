// Package ticket is the help desk's domain: tickets, their rules, and the
// ports (store, customer lookup) they need.
package ticket

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

var statusNames = []string{"unspecified", "new", "open", "pending customer", "on hold", "resolved", "closed", "reopened"}

// String names the status for error messages.
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return strconv.Itoa(int(s))
	}
	return statusNames[s]
}

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

// Type is what kind of case a ticket is; the numbers match the API's enum.
type Type int32

// Types; return, repair and refund are after-sales cases.
const (
	TypeUnspecified Type = iota
	TypeServiceRequest
	TypeIncident
	TypeComplaint
	TypeReturn
	TypeRepair
	TypeRefund
	TypeInquiry
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
	Type        Type
	// ContactID, OrderID and ProductID are uuid.Nil when not set.
	ContactID  uuid.UUID
	OrderID    uuid.UUID
	ProductID  uuid.UUID
	Tags       []string
	Attributes map[string]string
	// CustomerTier is the customer's tier when the ticket was raised; it
	// selects the SLA policy.
	CustomerTier      string
	ResolutionNote    string
	FirstResponseTime *time.Time
	ResolveTime       *time.Time
	CloseTime         *time.Time
	EscalationLevel   int32
	// QueueID and AssigneeID are uuid.Nil when the ticket is not routed or
	// nobody was available.
	QueueID    uuid.UUID
	AssigneeID uuid.UUID
	// PartnerID is the channel partner whose customer raised the ticket.
	PartnerID uuid.UUID
	// CustomerPartnerIDs are the partners the customer was linked to when
	// the ticket was created; the access policy admits their partner users.
	CustomerPartnerIDs []uuid.UUID
	// RequiredSkills must all be skills of the assigned agent.
	RequiredSkills []string
	// ExternalID is the ticket's id in the system it was imported from.
	ExternalID string
	SLA        SLA
	CreateTime time.Time
	UpdateTime time.Time
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
	// ErrEtagMismatch means the caller's etag is not the current one.
	ErrEtagMismatch = errors.New("the ticket changed since it was read")
	// ErrTransitionNotAllowed means the status machine has no such edge.
	ErrTransitionNotAllowed = errors.New("status transition not allowed")
	// ErrReopenWindowPassed means the ticket was resolved too long ago to reopen.
	ErrReopenWindowPassed = errors.New("the reopen window has passed")
	// ErrCustomerLookup means the customer service could not say whether a
	// customer exists; the caller may retry.
	ErrCustomerLookup = errors.New("the customer could not be checked; retry later")
)

// Limits on field sizes.
const (
	maxSubject     = 300
	maxDescription = 20000
	maxRequestID   = 64
	maxTags        = 20
	maxTag         = 50
	maxAttributes  = 50
	maxAttrKey     = 64
	maxAttrValue   = 1000
	maxTier        = 50
	maxNote        = 5000
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
	if t.Type == TypeUnspecified {
		t.Type = TypeServiceRequest
	}
	t.CustomerTier = strings.TrimSpace(t.CustomerTier)
	tags := make([]string, 0, len(t.Tags))
	for _, tag := range t.Tags {
		if tag = strings.TrimSpace(tag); !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	t.Tags = tags
	t.RequiredSkills = cleanSkills(t.RequiredSkills)
	if t.Attributes == nil {
		t.Attributes = map[string]string{}
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
	if t.Type < TypeServiceRequest || t.Type > TypeInquiry {
		v.Add(prefix+"type", "is not a known type")
	}
	if len(t.Tags) > maxTags {
		v.Add(prefix+"tags", "must hold at most %d tags", maxTags)
	}
	for i, tag := range t.Tags {
		if tag == "" || utf8.RuneCountInString(tag) > maxTag {
			v.Add(fmt.Sprintf("%stags[%d]", prefix, i), "must be 1 to %d characters", maxTag)
		}
	}
	if len(t.Attributes) > maxAttributes {
		v.Add(prefix+"attributes", "must hold at most %d keys", maxAttributes)
	}
	for k, val := range t.Attributes {
		if k == "" || utf8.RuneCountInString(k) > maxAttrKey {
			v.Add(prefix+"attributes", "keys must be 1 to %d characters", maxAttrKey)
		}
		if utf8.RuneCountInString(val) > maxAttrValue {
			v.Add(prefix+"attributes["+k+"]", "must be at most %d characters", maxAttrValue)
		}
	}
	validSkills(t.RequiredSkills, maxRequiredSkills, prefix+"required_skills", v)
	if utf8.RuneCountInString(t.CustomerTier) > maxTier {
		v.Add(prefix+"customer_tier", "must be at most %d characters", maxTier)
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
	// CreateRouted is Create that, when t has a queue, loads and locks the
	// queue's routing in the same transaction and lets route assign t and
	// log the assignment first.
	CreateRouted(ctx context.Context, caller auth.Caller, t Ticket, requestID string, route Route) (Ticket, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Ticket, error)
	// ByRequestID returns the ticket a create with requestID made, or ErrNotFound.
	ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (Ticket, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Mutate applies m to the locked ticket and saves it with m's event in
	// one transaction; an empty event leaves the ticket as it was.
	Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m Mutation) (Ticket, error)
	// Transition applies m like Mutate and logs tr (its statuses filled from
	// the change) with the event ticket.transitioned. A transition with the
	// same non-empty tr.RequestID already logged for the ticket returns the
	// ticket without applying m.
	Transition(ctx context.Context, caller auth.Caller, id uuid.UUID, tr Transition, m func(*Ticket) error) (Ticket, error)
	// Transitions lists a ticket's log, oldest first; ErrNotFound when the
	// ticket does not exist.
	Transitions(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]Transition, string, error)
	// DueTickets returns up to limit tickets of every tenant whose next SLA
	// time is at or before now, earliest first.
	DueTickets(ctx context.Context, now time.Time, limit int) ([]Ref, error)
	// Fire locks the ticket ref names unless another transaction holds it
	// or it is no longer due at now, lets fire change it, and saves it with
	// one event per type fire returns. It reports whether it fired anything.
	Fire(ctx context.Context, ref Ref, now time.Time, fire func(*Ticket) []string) (bool, error)
	ConfigStore
	QueueStore
	ConversationStore
	SurveyStore
	QualityStore
	ImportStore
	NPSStore
	FeedbackStore
}

// Mutation changes a locked ticket and returns the event type to record,
// or "" to leave the ticket unchanged.
type Mutation func(t *Ticket) (event string, err error)

// Ref names a ticket of some tenant.
type Ref struct {
	TenantID string
	TicketID uuid.UUID
}

// Transition is one entry of a ticket's status log.
type Transition struct {
	ID          uuid.UUID
	TicketID    uuid.UUID
	From, To    Status
	Note        string
	PrincipalID string
	RequestID   string
	CreateTime  time.Time
	// Survey is created with the transition unless the ticket has one:
	// set when the transition resolves the ticket.
	Survey *Survey
}

// Customers answers whether a customer exists; it is implemented over gRPC
// by pkg/customerclient, given ErrCustomerLookup in main. A lookup that fails
// wraps ErrCustomerLookup.
type Customers interface {
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
}

// PartnerLinks lists the channel partners a customer is linked to in the
// customer service; implemented over gRPC in internal/clients/customer with
// the caller's credentials. A lookup that fails wraps ErrCustomerLookup.
type PartnerLinks interface {
	CustomerPartners(ctx context.Context, customerID uuid.UUID) ([]uuid.UUID, error)
}

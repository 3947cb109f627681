// Package analytics is the read model's domain: what the other services'
// events are folded into, the figures computed from it, and the store it needs.
package analytics

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Stage is an opportunity's pipeline stage; the numbers match the pipeline API's enum.
type Stage int32

// Pipeline stages.
const (
	StageUnspecified Stage = iota
	StageProspecting
	StageQualification
	StageProposal
	StageNegotiation
	StageWon
	StageLost
)

// ClosedStages end an opportunity; in every other stage it is open.
var ClosedStages = []Stage{StageWon, StageLost}

// TicketStatus is a ticket's status; the numbers match the ticket API's enum.
type TicketStatus int32

// Ticket statuses.
const (
	TicketStatusUnspecified TicketStatus = iota
	TicketStatusNew
	TicketStatusOpen
	TicketStatusPendingCustomer
	TicketStatusOnHold
	TicketStatusResolved
	TicketStatusClosed
	TicketStatusReopened
)

// ClosedTicketStatuses end a ticket; in every other status it is open.
var ClosedTicketStatuses = []TicketStatus{TicketStatusResolved, TicketStatusClosed}

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	CurrencyCode string
	AmountMinor  int64
}

// Opportunity is the part of an opportunity the read model keeps.
type Opportunity struct {
	ID, CustomerID uuid.UUID
	Stage          Stage
	Amount         Money
	// Sales are the facts the sales figures group and time by.
	Sales SalesFacts
}

// Ticket is the part of a ticket the read model keeps.
type Ticket struct {
	ID, CustomerID uuid.UUID
	Status         TicketStatus
	// Service are the facts the service figures group and time by.
	Service ServiceFacts
}

// Customer is the part of a customer the read model keeps.
type Customer struct {
	ID      uuid.UUID
	Deleted bool
}

// Event is one source event. Events carry their resource's full state, so
// at most one of Opportunity, Ticket and Customer is set; none is set for
// events the read model does not use, which still advance their feed.
type Event struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	// Source is the emitting service's slug; Cursor is the event's position in its stream.
	Source, Cursor string
	Type           string
	Time           time.Time

	Opportunity *Opportunity
	Ticket      *Ticket
	Customer    *Customer

	// Resource is the resource name the event is about ("customers/…"):
	// some payloads (tier changes) name their customer only there.
	Resource string
	// Fact is what the insight read model folds in; it may be set beside Customer.
	Fact *Fact
	// Quarantine is set when the payload could not be projected: the event
	// is then recorded as applied and quarantined, and changes nothing else.
	Quarantine *QuarantinedEvent

	Satisfaction     *Satisfaction
	Campaign         *Campaign
	DealRegistration *DealRegistration
	Quota            *Quota
	Snapshot         *PipelineSnapshot

	// Rates are exchange rates loaded in the pipeline service.
	Rates []ExchangeRate
	// Reporting is the tenant's new reporting currency.
	Reporting *ReportingSettings
	// Erasure is set, alone, when the event erases a customer.
	Erasure *Erasure
}

// Summary is what is open for one customer.
type Summary struct {
	CustomerID        uuid.UUID
	OpenOpportunities int64
	// OpenAmounts sums the open opportunities per currency, sorted by currency code.
	OpenAmounts []Money
	OpenTickets int64
	// UpdateTime is the time of the latest event folded into the summary.
	UpdateTime time.Time
}

// Feed is how far one source's stream has been consumed for a tenant.
type Feed struct {
	Source        string
	Cursor        string
	LastEventTime time.Time
	AppliedEvents int64
	// Quarantined counts the feed's events that could not be projected.
	Quarantined int64
}

// ErrCustomerNotFound means the read model has never heard of the customer.
var ErrCustomerNotFound = errors.New("customer not found in the analytics read model")

// Store keeps the read model. Every method is scoped to one tenant.
type Store interface {
	// Apply folds e into the read model and advances its source's feed, in
	// one transaction, exactly once per event id: applied is false when e
	// had been applied before, and nothing changes then.
	Apply(ctx context.Context, e Event) (applied bool, err error)
	// Feed returns the tenant's feed of source; a feed never consumed is the zero Feed.
	Feed(ctx context.Context, tenant uuid.UUID, source string) (Feed, error)
	// Feeds returns the tenant's feeds, sorted by source.
	Feeds(ctx context.Context, tenant uuid.UUID) ([]Feed, error)
	// Summary computes a customer's summary, or returns ErrCustomerNotFound.
	Summary(ctx context.Context, tenant, customerID uuid.UUID) (Summary, error)
}

// Package relationship keeps the relationship with each customer: the
// timeline of interactions, scheduled follow-ups (回访), and the follow-up
// plans that schedule follow-ups when events happen. It holds the rules,
// the use cases and the ports they need.
package relationship

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// Kind is what sort of contact an interaction was; the numbers match the API's enum.
type Kind int32

// Kinds of interaction.
const (
	KindUnspecified Kind = iota
	KindCall
	KindEmail
	KindMeeting
	KindVisit
	KindChat
	KindNote
)

// Direction tells who started the contact; the numbers match the API's enum.
type Direction int32

// Directions of interaction.
const (
	DirectionUnspecified Direction = iota
	DirectionInbound
	DirectionOutbound
	DirectionInternal
)

// Location is where a visit took place.
type Location struct {
	Latitude, Longitude float64
	Address             string
}

// Interaction is one contact with a customer on its timeline.
type Interaction struct {
	ID                      uuid.UUID
	CustomerID              uuid.UUID
	Kind                    Kind
	Direction               Direction
	Channel                 string
	OccurTime               time.Time
	Duration                time.Duration
	Subject                 string
	Notes                   string
	Outcome                 string
	ParticipantPrincipalIDs []uuid.UUID
	ParticipantCustomerIDs  []uuid.UUID
	ParticipantNames        []string
	// Location is set only on visits.
	Location   *Location
	AuthorID   string
	CreateTime time.Time
	UpdateTime time.Time
	DeleteTime *time.Time
	Revision   int64
}

// Etag is the opaque concurrency token of the interaction's current revision.
func (i Interaction) Etag() string { return strconv.FormatInt(i.Revision, 10) }

// Resource is the interaction's resource name.
func (i Interaction) Resource() string {
	return "customers/" + i.CustomerID.String() + "/interactions/" + i.ID.String()
}

// Status is where a follow-up stands; the numbers match the API's enum.
type Status int32

// Follow-up statuses.
const (
	StatusUnspecified Status = iota
	StatusOpen
	StatusDone
	StatusCancelled
)

// FollowUp is a scheduled task to get back to a customer.
type FollowUp struct {
	ID         uuid.UUID
	CustomerID uuid.UUID
	Title      string
	Notes      string
	AssigneeID *uuid.UUID
	DueTime    time.Time
	RemindTime *time.Time
	Status     Status
	Outcome    string
	CloseTime  *time.Time
	// InteractionID is the interaction that closed it.
	InteractionID *uuid.UUID
	// PlanID, SourceEventID and SourceEventType say which plan created it
	// from which event; all empty for follow-ups people scheduled.
	PlanID          *uuid.UUID
	SourceEventID   *uuid.UUID
	SourceEventType string
	// RequestID is the idempotency key of a follow-up the runner makes
	// without a plan (a detractor's); empty otherwise.
	RequestID  string
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the opaque concurrency token of the follow-up's current revision.
func (f FollowUp) Etag() string { return strconv.FormatInt(f.Revision, 10) }

// Resource is the follow-up's resource name.
func (f FollowUp) Resource() string { return "followUps/" + f.ID.String() }

// Source is a service whose events plans follow; the numbers match the API's enum.
type Source int32

// Event sources.
const (
	SourceUnspecified Source = iota
	SourceCustomer
	SourceTicket
	SourcePipeline
)

// Name is the source's service slug, under which its checkpoints are kept.
func (s Source) Name() string {
	switch s {
	case SourceCustomer:
		return "customer"
	case SourceTicket:
		return "ticket"
	case SourcePipeline:
		return "pipeline"
	}
	return ""
}

// AssigneeRule decides who gets a plan's follow-ups; the numbers match the API's enum.
type AssigneeRule int32

// Assignee rules.
const (
	AssigneeUnspecified AssigneeRule = iota
	AssigneeFixed
	AssigneeCustomerOwner
)

// Plan schedules a follow-up for the customer of every event of EventType
// from Source that happens while it is active.
type Plan struct {
	ID           uuid.UUID
	DisplayName  string
	Source       Source
	EventType    string
	Delay        time.Duration
	RemindBefore time.Duration
	Title        string
	Notes        string
	AssigneeRule AssigneeRule
	AssigneeID   *uuid.UUID
	Active       bool
	// ActiveTime is when the plan last became active: it applies to events
	// from then on, so re-activating a plan does not replay the events that
	// happened while it was off.
	ActiveTime *time.Time
	CreateTime time.Time
	UpdateTime time.Time
	DeleteTime *time.Time
	Revision   int64
}

// Etag is the opaque concurrency token of the plan's current revision.
func (p Plan) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the plan's resource name.
func (p Plan) Resource() string { return "followUpPlans/" + p.ID.String() }

// Errors the use cases return.
var (
	ErrCustomerNotFound    = errors.New("customer not found")
	ErrInteractionNotFound = errors.New("interaction not found")
	ErrFollowUpNotFound    = errors.New("follow-up not found")
	ErrPlanNotFound        = errors.New("follow-up plan not found")
	ErrEtagMismatch        = errors.New("the resource changed since it was read (etag mismatch)")
	ErrDeleted             = errors.New("the resource is deleted")
	ErrFollowUpClosed      = errors.New("the follow-up is already done or cancelled")
)

// InteractionQuery selects a page of one customer's interactions.
type InteractionQuery struct {
	CustomerID  uuid.UUID
	PageSize    int
	PageToken   string
	Start, End  *time.Time
	Kind        Kind
	ShowDeleted bool
}

// InteractionPage is one page of interactions.
type InteractionPage struct {
	Interactions  []Interaction
	NextPageToken string
}

// FollowUpQuery selects a page of follow-ups, ordered by due time.
type FollowUpQuery struct {
	PageSize         int
	PageToken        string
	CustomerID       *uuid.UUID
	AssigneeID       *uuid.UUID
	Status           Status
	DueStart, DueEnd *time.Time
}

// FollowUpPage is one page of follow-ups.
type FollowUpPage struct {
	FollowUps     []FollowUp
	NextPageToken string
}

// PlanQuery selects a page of plans, newest first.
type PlanQuery struct {
	PageSize    int
	PageToken   string
	ShowDeleted bool
}

// PlanPage is one page of plans.
type PlanPage struct {
	Plans         []Plan
	NextPageToken string
}

// Mutations change a loaded resource inside the store's transaction and
// return the event type the change emits.
type (
	InteractionMutation func(i *Interaction) (eventType string, err error)
	FollowUpMutation    func(f *FollowUp) (eventType string, err error)
	PlanMutation        func(p *Plan) (eventType string, err error)
)

// Store keeps interactions, follow-ups and plans. Every method is scoped to
// the caller's tenant; every change is stored with its event and audit row.
type Store interface {
	// CreateInteraction inserts i, or returns the interaction an earlier
	// create with the same non-empty requestID made. A missing customer is
	// ErrCustomerNotFound.
	CreateInteraction(ctx context.Context, caller auth.Caller, i Interaction, requestID string) (Interaction, error)
	Interaction(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (Interaction, error)
	Interactions(ctx context.Context, caller auth.Caller, q InteractionQuery) (InteractionPage, error)
	// MutateInteraction loads and locks the interaction, applies m and saves
	// the result, in one transaction.
	MutateInteraction(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, m InteractionMutation) (Interaction, error)

	// CreateFollowUp is CreateInteraction for follow-ups.
	CreateFollowUp(ctx context.Context, caller auth.Caller, f FollowUp, requestID string) (FollowUp, error)
	FollowUp(ctx context.Context, caller auth.Caller, id uuid.UUID) (FollowUp, error)
	FollowUps(ctx context.Context, caller auth.Caller, q FollowUpQuery) (FollowUpPage, error)
	// OverdueFollowUps lists the open follow-ups of assignee due before now.
	OverdueFollowUps(ctx context.Context, caller auth.Caller, assignee uuid.UUID, now time.Time, pageSize int, pageToken string) (FollowUpPage, error)
	// MutateFollowUp loads and locks the follow-up, applies m and saves the
	// result. A closing interaction that is not the follow-up customer's is
	// ErrInteractionNotFound.
	MutateFollowUp(ctx context.Context, caller auth.Caller, id uuid.UUID, m FollowUpMutation) (FollowUp, error)

	CreatePlan(ctx context.Context, caller auth.Caller, p Plan, requestID string) (Plan, error)
	Plan(ctx context.Context, caller auth.Caller, id uuid.UUID) (Plan, error)
	Plans(ctx context.Context, caller auth.Caller, q PlanQuery) (PlanPage, error)
	MutatePlan(ctx context.Context, caller auth.Caller, id uuid.UUID, m PlanMutation) (Plan, error)
}

func nowUTC() time.Time { return time.Now().UTC() }

package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// BehaviourKind is what a visitor did; the numbers match the API's enum.
type BehaviourKind int16

// Behaviour kinds.
const (
	BehaviourUnspecified BehaviourKind = iota
	BehaviourPageView
	BehaviourClick
	BehaviourDwell
	BehaviourScreenView
)

// Limits of behaviour ingest.
const (
	MaxBehaviourBatch  = 500
	MaxAnonymousIDLen  = 128
	MaxTargetLen       = 2048
	MaxDwell           = 24 * time.Hour
	MaxBehaviourFuture = 5 * time.Minute
	// TopTargets is how many targets a customer's behaviour lists.
	TopTargets = 5
)

// BehaviourEvent is one thing a visitor did; CustomerID is uuid.Nil when
// the visitor is anonymous.
type BehaviourEvent struct {
	ID          uuid.UUID
	AnonymousID string
	CustomerID  uuid.UUID
	Kind        BehaviourKind
	Target      string
	Dwell       time.Duration
	OccurTime   time.Time
}

// IngestResult counts what an ingest call did.
type IngestResult struct {
	Created, Duplicates, Stitched int
}

// TargetCount is how often a target was seen.
type TargetCount struct {
	Target string
	Count  int64
}

// CustomerBehaviour summarises a customer's behaviour; see the API's message.
type CustomerBehaviour struct {
	CustomerID             uuid.UUID
	PageViews, ScreenViews int64
	Clicks                 int64
	TotalDwell             time.Duration
	Devices, ActiveDays    int64
	FirstSeen, LastSeen    time.Time
	TopTargets             []TargetCount
	WonOpportunities       int64
	WonAmounts             []Money
	Tickets                int64
	CSATAverage            float64
}

// UnknownCustomersError lists customers a batch named that the tenant's
// read model does not hold (or holds as deleted).
type UnknownCustomersError struct{ IDs []uuid.UUID }

func (e *UnknownCustomersError) Error() string {
	return fmt.Sprintf("%d customers unknown to the tenant", len(e.IDs))
}

// BehaviourStore keeps behaviour events.
type BehaviourStore interface {
	// IngestBehaviour stores the events not stored before, stitches the
	// anonymous ids of those naming a customer and records the change, all
	// in one transaction; it stores nothing and returns
	// *UnknownCustomersError when a named customer is unknown.
	IngestBehaviour(ctx context.Context, tenant uuid.UUID, principal string, events []BehaviourEvent) (IngestResult, error)
	// CustomerBehaviour summarises a customer, or returns ErrCustomerNotFound.
	CustomerBehaviour(ctx context.Context, tenant, customerID uuid.UUID) (CustomerBehaviour, error)
}

var (
	behaviourWriters = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst}
	behaviourReaders = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
)

// Behaviour ingests and serves web and app behaviour.
type Behaviour struct {
	store BehaviourStore
	now   func() time.Time
}

// NewBehaviour returns Behaviour over store; now is the clock events'
// times are checked against.
func NewBehaviour(store BehaviourStore, now func() time.Time) *Behaviour {
	return &Behaviour{store: store, now: now}
}

// Ingest validates a batch and stores it for the caller's tenant.
func (b *Behaviour) Ingest(ctx context.Context, caller auth.Caller, events []BehaviourEvent) (IngestResult, error) {
	if !caller.HasAny(behaviourWriters...) {
		return IngestResult{}, auth.ErrForbidden
	}
	tenant, err := callerTenant(caller)
	if err != nil {
		return IngestResult{}, err
	}
	if err := b.validate(events); err != nil {
		return IngestResult{}, err
	}
	res, err := b.store.IngestBehaviour(ctx, tenant, caller.PrincipalID, events)
	var unknown *UnknownCustomersError
	if errors.As(err, &unknown) {
		v := &validation.Error{}
		for i, e := range events {
			if slices.Contains(unknown.IDs, e.CustomerID) {
				v.Add(indexed("events", i)+".customer_id", "no such customer in this tenant")
			}
		}
		return IngestResult{}, v
	}
	return res, err
}

// validate reports every problem of a batch at once.
func (b *Behaviour) validate(events []BehaviourEvent) error {
	v := &validation.Error{}
	if len(events) == 0 || len(events) > MaxBehaviourBatch {
		v.Add("events", "must hold 1 to %d events", MaxBehaviourBatch)
		return v
	}
	latest := b.now().Add(MaxBehaviourFuture)
	seen := make(map[uuid.UUID]bool, len(events))
	for i, e := range events {
		f := indexed("events", i) + "."
		switch {
		case e.ID == uuid.Nil:
			v.Add(f+"event_id", "must be a UUID")
		case seen[e.ID]:
			v.Add(f+"event_id", "repeats an earlier event of the batch")
		}
		seen[e.ID] = true
		if n := utf8.RuneCountInString(e.AnonymousID); n == 0 || n > MaxAnonymousIDLen {
			v.Add(f+"anonymous_id", "must be 1 to %d characters", MaxAnonymousIDLen)
		}
		if e.Kind < BehaviourPageView || e.Kind > BehaviourScreenView {
			v.Add(f+"kind", "must be one of the BehaviourKind values")
		}
		if n := utf8.RuneCountInString(e.Target); n == 0 || n > MaxTargetLen {
			v.Add(f+"target", "must be 1 to %d characters", MaxTargetLen)
		}
		switch {
		case e.Kind == BehaviourDwell && (e.Dwell <= 0 || e.Dwell > MaxDwell):
			v.Add(f+"dwell", "must be above 0 and at most %s for DWELL events", MaxDwell)
		case e.Kind != BehaviourDwell && e.Dwell != 0:
			v.Add(f+"dwell", "applies only to DWELL events")
		}
		switch {
		case e.OccurTime.IsZero():
			v.Add(f+"occur_time", "is required")
		case e.OccurTime.After(latest):
			v.Add(f+"occur_time", "may not be more than %s in the future", MaxBehaviourFuture)
		}
	}
	return v.Err()
}

// CustomerBehaviour summarises a customer of the caller's tenant.
func (b *Behaviour) CustomerBehaviour(ctx context.Context, caller auth.Caller, customerID uuid.UUID) (CustomerBehaviour, error) {
	if !caller.HasAny(behaviourReaders...) {
		return CustomerBehaviour{}, auth.ErrForbidden
	}
	tenant, err := callerTenant(caller)
	if err != nil {
		return CustomerBehaviour{}, err
	}
	return b.store.CustomerBehaviour(ctx, tenant, customerID)
}

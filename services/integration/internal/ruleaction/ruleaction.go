// Package ruleaction runs the rule actions that change other services'
// data. The execution that decides on them records them as pending in the
// same transaction; a worker claims the due ones, calls the target service
// with the tenant's credential and an idempotency key fixed per rule, event
// and action, and records the outcome: a permanent failure settles the
// execution FAILED, a transient one is retried with capped backoff, and a
// crash mid-call is retried after the claim's lease, changing nothing twice.
package ruleaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/integration/internal/rule"
)

// ErrPermanent marks a failure that retrying cannot mend (bad input, a
// missing resource, no permission, a state conflict).
var ErrPermanent = errors.New("permanent failure")

// FollowUp is the follow-up a CREATE_FOLLOW_UP action schedules, rendered
// when the execution is recorded.
type FollowUp struct {
	CustomerID uuid.UUID `json:"customer_id"`
	Title      string    `json:"title"`
	Notes      string    `json:"notes,omitempty"`
	AssigneeID string    `json:"assignee,omitempty"`
	DueTime    time.Time `json:"due_time"`
}

// Assignment is what an ASSIGN_OWNER action asks: a customer's new owner,
// or a ticket's queue and agent (either may be empty, not both).
type Assignment struct {
	CustomerID uuid.UUID `json:"customer_id,omitempty"`
	TicketID   uuid.UUID `json:"ticket_id,omitempty"`
	OwnerID    string    `json:"owner,omitempty"`
	QueueID    uuid.UUID `json:"queue,omitempty"`
}

// StageMove is what a MOVE_LIFECYCLE_STAGE action asks.
type StageMove struct {
	CustomerID uuid.UUID `json:"customer_id"`
	// Stage is numbered as the customer service's LifecycleStage.
	Stage  int32  `json:"stage"`
	Reason string `json:"reason"`
}

// FieldSet is what a SET_FIELD action asks: one custom attribute, its
// value rendered when the execution was recorded.
type FieldSet struct {
	CustomerID uuid.UUID `json:"customer_id"`
	Key        string    `json:"key"`
	Value      string    `json:"value"`
}

// CampaignAdd is what an ADD_TO_CAMPAIGN action asks.
type CampaignAdd struct {
	CustomerID uuid.UUID `json:"customer_id"`
	CampaignID uuid.UUID `json:"campaign_id"`
}

// Job is one claimed attempt of a pending action.
type Job struct {
	TenantID    uuid.UUID
	ActionID    uuid.UUID
	ExecutionID uuid.UUID
	RuleID      uuid.UUID
	EventID     uuid.UUID
	Kind        rule.ActionKind
	Request     []byte
	RequestID   string
	Attempt     int
	// TraceParent is that of the event the rule acted on, or "".
	TraceParent string
}

// Cause is what the target service is told caused a call: the action
// (whose id the events of the call's changes carry as their causation id,
// which the run-time loop guard follows back to the rule) and the trace of
// the event the rule acted on, which the call joins.
type Cause struct {
	ActionID    uuid.UUID
	TraceParent string
}

// Store is what the worker needs of storage.
type Store interface {
	DueActionTenants(ctx context.Context, limit int) ([]uuid.UUID, error)
	// ClaimActions leases up to limit due actions of tenant for lease.
	ClaimActions(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]Job, error)
	// FinishAction records that j ran and created resource.
	FinishAction(ctx context.Context, j Job, resource string) error
	// FailAction records that j cannot run, settling its execution FAILED.
	FailAction(ctx context.Context, j Job, detail string) error
	// RetryAction records a transient failure and when to try again.
	RetryAction(ctx context.Context, j Job, detail string, at time.Time) error
}

// Target performs actions in the other services for a tenant.
type Target interface {
	// CreateFollowUp schedules f with requestID and returns the follow-up's
	// resource name; failures retrying cannot mend wrap ErrPermanent.
	CreateFollowUp(ctx context.Context, tenant uuid.UUID, cause Cause, f FollowUp, requestID string) (string, error)
	// The others set a state, so repeating one changes nothing more; each
	// returns the name of the resource it changed.
	AssignOwner(ctx context.Context, tenant uuid.UUID, cause Cause, a Assignment) (string, error)
	MoveStage(ctx context.Context, tenant uuid.UUID, cause Cause, m StageMove) (string, error)
	SetField(ctx context.Context, tenant uuid.UUID, cause Cause, f FieldSet) (string, error)
	AddToCampaign(ctx context.Context, tenant uuid.UUID, cause Cause, c CampaignAdd) (string, error)
}

// Config tunes a Worker.
type Config struct {
	// Poll is how often due actions are looked for.
	Poll time.Duration
	// Lease is how long a claimed action is left to its worker before
	// another may claim it again.
	Lease time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts is how many attempts a transiently failing action gets
	// before it is settled FAILED.
	MaxAttempts int
	// Batch is how many actions of a tenant are claimed at once.
	Batch int
	// Timeout bounds each call; it must be shorter than Lease.
	Timeout time.Duration
}

// Defaults are the settings the service runs with.
var Defaults = Config{Poll: 500 * time.Millisecond, Lease: time.Minute, MinBackoff: time.Second, MaxBackoff: 5 * time.Minute,
	MaxAttempts: 10, Batch: 50, Timeout: 15 * time.Second}

// Worker runs pending actions.
type Worker struct {
	store  Store
	target Target
	cfg    Config
	log    *slog.Logger
}

// New returns a Worker.
func New(store Store, target Target, cfg Config, log *slog.Logger) *Worker {
	return &Worker{store: store, target: target, cfg: cfg, log: log}
}

// Run works until ctx ends, then returns nil.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		if err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.ErrorContext(ctx, "rule actions", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce claims and runs the actions due now, returning the first error
// of storage; failures of the actions themselves are recorded.
func (w *Worker) RunOnce(ctx context.Context) error {
	tenants, err := w.store.DueActionTenants(ctx, 100)
	if err != nil {
		return err
	}
	for _, tenant := range tenants {
		jobs, err := w.store.ClaimActions(ctx, tenant, w.cfg.Batch, w.cfg.Lease)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if err := w.run(ctx, j); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Worker) run(ctx context.Context, j Job) error {
	resource, err := w.call(ctx, j)
	switch {
	case err == nil:
		return w.store.FinishAction(ctx, j, resource)
	case errors.Is(err, ErrPermanent) || j.Attempt >= w.cfg.MaxAttempts:
		w.log.WarnContext(ctx, "rule action failed", "tenant_id", j.TenantID.String(), "rule_id", j.RuleID.String(),
			"action_id", j.ActionID.String(), "attempt", j.Attempt, "error", err.Error())
		return w.store.FailAction(ctx, j, err.Error())
	default:
		wait := min(w.cfg.MinBackoff<<min(j.Attempt-1, 20), w.cfg.MaxBackoff)
		wait = wait/2 + rand.N(wait/2+1)
		return w.store.RetryAction(ctx, j, err.Error(), time.Now().Add(wait))
	}
}

func (w *Worker) call(ctx context.Context, j Job) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	cause := Cause{ActionID: j.ActionID, TraceParent: j.TraceParent}
	switch j.Kind {
	case rule.CreateFollowUp:
		return decoded(j, func(f FollowUp) (string, error) {
			return w.target.CreateFollowUp(ctx, j.TenantID, cause, f, j.RequestID)
		})
	case rule.AssignOwner:
		return decoded(j, func(a Assignment) (string, error) { return w.target.AssignOwner(ctx, j.TenantID, cause, a) })
	case rule.MoveStage:
		return decoded(j, func(m StageMove) (string, error) { return w.target.MoveStage(ctx, j.TenantID, cause, m) })
	case rule.SetField:
		return decoded(j, func(f FieldSet) (string, error) { return w.target.SetField(ctx, j.TenantID, cause, f) })
	case rule.AddToCampaign:
		return decoded(j, func(c CampaignAdd) (string, error) { return w.target.AddToCampaign(ctx, j.TenantID, cause, c) })
	}
	return "", fmt.Errorf("%w: action kind %d is not known to this version", ErrPermanent, j.Kind)
}

// decoded runs call with j's request; a request that does not decode can
// never run.
func decoded[R any](j Job, call func(R) (string, error)) (string, error) {
	var r R
	if err := json.Unmarshal(j.Request, &r); err != nil {
		return "", fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	return call(r)
}

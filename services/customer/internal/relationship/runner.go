package relationship

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
)

// SystemPrincipal is the principal the plan runner acts as: it signs the
// follow-ups it creates, and the runner ignores events it caused itself.
const SystemPrincipal = "system:follow-up-plans"

// Event is one event of a source stream, reduced to what plans need.
type Event struct {
	ID          uuid.UUID
	Cursor      string
	Type        string
	Time        time.Time
	PrincipalID string
	// CustomerID is the customer the event concerns; nil when none.
	CustomerID *uuid.UUID
	// Detractor is the unhappy answer of a detractor event; nil otherwise.
	Detractor *Detractor
}

// EventSource follows one service's event stream of a tenant.
type EventSource interface {
	Source() Source
	// Follow calls fn with each of tenant's events after cursor ("" is the
	// beginning), in order, until ctx ends or the stream or fn fails.
	Follow(ctx context.Context, tenant uuid.UUID, cursor string, fn func(Event) error) error
}

// PlanStore is what the plan runner needs of the store. Unlike Store it
// works for the runner itself, one tenant at a time, not for a caller.
type PlanStore interface {
	// PlanTenants lists the tenants that have active plans.
	PlanTenants(ctx context.Context) ([]uuid.UUID, error)
	// Tenants lists every tenant.
	Tenants(ctx context.Context) ([]uuid.UUID, error)
	// Checkpoint returns the cursor after the last event of source that
	// tenant's plans were applied to ("" when none).
	Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error)
	// TriggeredPlans returns tenant's active plans for events of eventType from source.
	TriggeredPlans(ctx context.Context, tenant uuid.UUID, source Source, eventType string) ([]Plan, error)
	// CustomerOwner returns the customer's owner (nil when it has none);
	// found is false when tenant has no such customer.
	CustomerOwner(ctx context.Context, tenant, customer uuid.UUID) (owner *uuid.UUID, found bool, err error)
	// SchedulePlanned stores the follow-ups that do not exist yet for their
	// plan and source event (or, without a plan, for their request id), with
	// their events, and moves source's checkpoint to cursor, in one
	// transaction. It returns how many were new.
	SchedulePlanned(ctx context.Context, tenant uuid.UUID, source, cursor string, followUps []FollowUp) (int, error)
}

// RunnerConfig tunes a Runner.
type RunnerConfig struct {
	// Refresh is how often the runner looks for tenants whose plans were
	// turned on or off.
	Refresh time.Duration
	// MinBackoff and MaxBackoff bound the wait before a broken stream is
	// reopened; it doubles on each failure in a row.
	MinBackoff, MaxBackoff time.Duration
	// CheckpointEvery bounds how long events that trigger nothing go
	// uncheckpointed; they are harmless to read again after a restart.
	CheckpointEvery time.Duration
}

// Runner follows the event sources of every tenant that has active plans
// and schedules the follow-ups the plans call for, once per plan and event.
// It follows the ticket stream of every tenant, and gives each detractor
// event one follow-up.
type Runner struct {
	store   PlanStore
	sources []EventSource
	cfg     RunnerConfig
	log     *slog.Logger
}

// NewRunner returns a runner of sources.
func NewRunner(store PlanStore, cfg RunnerConfig, log *slog.Logger, sources ...EventSource) *Runner {
	return &Runner{store: store, sources: sources, cfg: cfg, log: log}
}

// Run follows the sources until ctx ends and returns nil then. Failures are
// logged and retried, never returned: the API must keep serving without it.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	workers := map[worker]context.CancelFunc{}
	defer func() {
		for _, stop := range workers {
			stop()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(r.cfg.Refresh)
	defer tick.Stop()
	for {
		want, err := r.wanted(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "follow-up plans: listing tenants failed", "error", err.Error())
		}
		if err == nil {
			for w := range want {
				if workers[w] != nil {
					continue
				}
				wctx, stop := context.WithCancel(ctx)
				workers[w] = stop
				wg.Go(func() { r.follow(wctx, w.tenant, r.sources[w.source]) })
			}
			for w, stop := range workers {
				if !want[w] {
					stop()
					delete(workers, w)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// worker is one tenant's stream of one source (an index into sources).
type worker struct {
	tenant uuid.UUID
	source int
}

// wanted lists the streams to follow: every source of the tenants with
// active plans, and the sources that carry detractors for every tenant.
func (r *Runner) wanted(ctx context.Context) (map[worker]bool, error) {
	planned, err := r.store.PlanTenants(ctx)
	if err != nil {
		return nil, err
	}
	want := map[worker]bool{}
	var every []uuid.UUID
	for i, src := range r.sources {
		for _, t := range planned {
			want[worker{tenant: t, source: i}] = true
		}
		if !followsEveryTenant(src.Source()) {
			continue
		}
		if every == nil {
			if every, err = r.store.Tenants(ctx); err != nil {
				return nil, err
			}
		}
		for _, t := range every {
			want[worker{tenant: t, source: i}] = true
		}
	}
	return want, nil
}

// follow reads tenant's stream of src, reopening it with capped exponential
// backoff (with jitter, so replicas do not reconnect in step) until ctx ends.
func (r *Runner) follow(ctx context.Context, tenant uuid.UUID, src EventSource) {
	wait := r.cfg.MinBackoff
	name := src.Source().Name()
	for {
		start := time.Now()
		n, err := r.session(ctx, tenant, src)
		if ctx.Err() != nil {
			return
		}
		if n > 0 || time.Since(start) > r.cfg.MaxBackoff {
			wait = r.cfg.MinBackoff
		}
		pause := wait/2 + rand.N(wait/2+1)
		r.log.WarnContext(ctx, "follow-up plans: stream interrupted", "tenant_id", tenant.String(), "source", name,
			"scheduled", n, "error", err.Error(), "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		wait = min(2*wait, r.cfg.MaxBackoff)
	}
}

// session follows src from tenant's checkpoint until it fails; it returns
// how many follow-ups it scheduled.
func (r *Runner) session(ctx context.Context, tenant uuid.UUID, src EventSource) (int, error) {
	name := src.Source().Name()
	cursor, err := r.store.Checkpoint(ctx, tenant, name)
	if err != nil {
		return 0, err
	}
	r.log.InfoContext(ctx, "follow-up plans: following", "tenant_id", tenant.String(), "source", name, "after_cursor", cursor)
	scheduled := 0
	saved := time.Now()
	err = src.Follow(ctx, tenant, cursor, func(e Event) error {
		due, err := r.Schedule(ctx, tenant, src.Source(), e)
		if err != nil {
			return err
		}
		if len(due) == 0 && time.Since(saved) < r.cfg.CheckpointEvery {
			return nil
		}
		n, err := r.store.SchedulePlanned(ctx, tenant, name, e.Cursor, due)
		if err != nil {
			return err
		}
		scheduled += n
		saved = time.Now()
		return nil
	})
	return scheduled, err
}

// Schedule returns the follow-ups tenant's active plans call for on e from
// source: one per plan that e triggers, for e's customer, due the plan's
// delay after e; and for a detractor event from the ticket service, one for
// the customer's owner, due a day after the answer. Events without a
// customer, of an unknown customer, or caused by the runner itself trigger
// nothing.
func (r *Runner) Schedule(ctx context.Context, tenant uuid.UUID, source Source, e Event) ([]FollowUp, error) {
	if e.CustomerID == nil || e.PrincipalID == SystemPrincipal {
		return nil, nil
	}
	plans, err := r.store.TriggeredPlans(ctx, tenant, source, e.Type)
	if err != nil {
		return nil, err
	}
	detractor := e.Detractor != nil && source == SourceTicket
	if len(plans) == 0 && !detractor {
		return nil, nil
	}
	// A follow-up needs its customer to exist; a peer may name one that
	// does not, and retrying would never get past that event.
	owner, found, err := r.store.CustomerOwner(ctx, tenant, *e.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("owner of customer %s: %w", e.CustomerID, err)
	}
	if !found {
		r.log.WarnContext(ctx, "follow-up plans: event names an unknown customer", "tenant_id", tenant.String(),
			"event_id", e.ID.String(), "customer_id", e.CustomerID.String())
		return nil, nil
	}
	var out []FollowUp
	if detractor {
		out = append(out, detractorFollowUp(e, owner))
	}
	for _, p := range plans {
		if p.ActiveTime == nil || e.Time.Before(*p.ActiveTime) {
			continue
		}
		assignee := p.AssigneeID
		if p.AssigneeRule == AssigneeCustomerOwner && owner != nil {
			assignee = owner
		}
		f := FollowUp{
			ID: uuid.Must(uuid.NewV7()), CustomerID: *e.CustomerID, Title: p.Title, Notes: p.Notes,
			AssigneeID: assignee, DueTime: e.Time.Add(p.Delay).UTC(), Status: StatusOpen,
			PlanID: &p.ID, SourceEventID: &e.ID, SourceEventType: e.Type,
		}
		if p.RemindBefore > 0 {
			remind := f.DueTime.Add(-p.RemindBefore)
			f.RemindTime = &remind
		}
		out = append(out, f)
	}
	return out, nil
}

// Package scheduler runs scheduled automation rules: it claims due rules
// and runs left behind by a scheduler that stopped, pages through each
// run's selection (asking the service that owns the resources), and hands
// every page to the store, which fires the rule for the resources not yet
// fired in their episode and moves the run's persisted page token on in
// the same transaction. A restart resumes a run from that page.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/follower"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
)

// ErrLeaseLost reports that a run's lease passed to another scheduler (or
// the run ended): its holder stops.
var ErrLeaseLost = errors.New("the run's lease passed to another scheduler")

// Claim is a run leased to one scheduler until its lease runs out; every
// page taken in renews it.
type Claim struct {
	Tenant uuid.UUID
	RunID  uuid.UUID
	RuleID uuid.UUID
	// Collection is what the rule selects.
	Collection rule.Collection
	// Owner identifies this lease; a scheduler whose lease passed on can
	// no longer advance the run.
	Owner uuid.UUID
	// Query is the filter the run started with; Page the page it resumes at.
	Query string
	Page  string
	Lease time.Duration
}

// Item is one selected resource and the synthetic event its firing records.
type Item struct {
	Resource rule.Resource
	Event    delivery.Event
}

// Store is what the scheduler needs of storage.
type Store interface {
	DueTenants(ctx context.Context, limit int) ([]uuid.UUID, error)
	Claim(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]Claim, error)
	// Advance takes one page in and moves the run to next ("" ends it); it
	// reports whether the run ended.
	Advance(ctx context.Context, c Claim, items []Item, next string) (bool, error)
	Fail(ctx context.Context, c Claim, detail string) error
}

// Config tunes a Scheduler.
type Config struct {
	// Poll is how often due rules are looked for.
	Poll time.Duration
	// Lease is how long a run stays with a scheduler without progress
	// before another may take it over.
	Lease time.Duration
	// Batch bounds the tenants and runs taken per poll.
	Batch int
}

// Scheduler runs scheduled rules.
type Scheduler struct {
	store    Store
	selector rule.Selector
	cfg      Config
	log      *slog.Logger
}

// New returns a Scheduler.
func New(store Store, selector rule.Selector, cfg Config, log *slog.Logger) *Scheduler {
	return &Scheduler{store: store, selector: selector, cfg: cfg, log: log}
}

// Run polls until ctx ends, then returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "scheduled rules", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick claims what is due now and runs it to the end.
func (s *Scheduler) Tick(ctx context.Context) error {
	tenants, err := s.store.DueTenants(ctx, s.cfg.Batch)
	if err != nil {
		return err
	}
	var errs []error
	for _, tenant := range tenants {
		claims, err := s.store.Claim(ctx, tenant, s.cfg.Batch, s.cfg.Lease)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range claims {
			if err := s.Execute(ctx, c, -1); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Execute pages through c's selection, at most pages pages (negative: to
// the end). A selection that cannot be read fails the run; a lost lease or
// an ended context leaves it to whoever holds it next.
func (s *Scheduler) Execute(ctx context.Context, c Claim, pages int) error {
	for n := 0; pages < 0 || n < pages; n++ {
		page, err := s.selector.Select(ctx, c.Tenant, c.Collection, c.Query, c.Page)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ferr := s.store.Fail(ctx, c, "selection: "+err.Error()); ferr != nil {
				return ferr
			}
			return fmt.Errorf("run %s: %w", c.RunID, err)
		}
		items := make([]Item, len(page.Resources))
		for i, res := range page.Resources {
			if items[i], err = item(c.Tenant, res); err != nil {
				return err
			}
		}
		ended, err := s.store.Advance(ctx, c, items, page.NextPageToken)
		if errors.Is(err, ErrLeaseLost) {
			return nil
		}
		if err != nil || ended {
			return err
		}
		c.Page = page.NextPageToken
	}
	return nil
}

// item makes the synthetic event of res in the envelope every other event
// has, so webhook actions deliver it as they deliver the followed events.
func item(tenant uuid.UUID, res rule.Resource) (Item, error) {
	id := uuid.Must(uuid.NewV7())
	e, err := follower.Decode(rule.ScheduledSource, &eventsv1.Event{
		EventId: id.String(), TenantId: tenant.String(), Cursor: "scheduled", Type: rule.ScheduledEventType,
		Resource: res.Name, PrincipalId: rule.ActionPrincipal, Time: timestamppb.Now(),
	})
	if err != nil {
		return Item{}, fmt.Errorf("scheduled event: %w", err)
	}
	return Item{Resource: res, Event: e}, nil
}

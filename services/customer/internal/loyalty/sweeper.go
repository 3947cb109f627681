package loyalty

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// SweepStore is what the background sweep needs besides the Store: which
// tenants have work, and their programs.
type SweepStore interface {
	Store
	// LoyaltyDueTenants lists the tenants with points due to expire or with
	// tiers that lapse with time.
	LoyaltyDueTenants(ctx context.Context) ([]string, error)
	ActivePrograms(ctx context.Context, tenant string) ([]uuid.UUID, error)
}

// Sweeper expires due points and re-tiers members, for every tenant, in the
// background: what ExpireLoyaltyPoints does on request.
type Sweeper struct {
	store SweepStore
	every time.Duration
	log   *slog.Logger
}

// NewSweeper returns a Sweeper that sweeps every interval.
func NewSweeper(store SweepStore, every time.Duration, log *slog.Logger) *Sweeper {
	return &Sweeper{store: store, every: every, log: log}
}

// Run sweeps at once and then every interval until ctx ends. A failing
// tenant is logged and retried at the next sweep; it never stops the others.
func (w *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep runs one pass over every tenant with work.
func (w *Sweeper) Sweep(ctx context.Context) {
	tenants, err := w.store.LoyaltyDueTenants(ctx)
	if err != nil {
		w.log.WarnContext(ctx, "loyalty sweep: list tenants", "error", err.Error())
		return
	}
	for _, tenant := range tenants {
		programs, err := w.store.ActivePrograms(ctx, tenant)
		if err != nil {
			w.log.WarnContext(ctx, "loyalty sweep: list programs", "tenant_id", tenant, "error", err.Error())
			continue
		}
		// The service acts for itself: no principal, so no record-level limits.
		system := auth.Caller{TenantID: tenant}
		for _, p := range programs {
			e, err := w.store.Expire(ctx, system, p)
			if err != nil {
				w.log.WarnContext(ctx, "loyalty sweep: expire", "tenant_id", tenant, "program_id", p.String(), "error", err.Error())
				continue
			}
			if e.Lots > 0 {
				w.log.InfoContext(ctx, "loyalty points expired", "tenant_id", tenant, "program_id", p.String(), "lots", e.Lots, "points", e.Points)
			}
		}
	}
}

package consumer

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"

	"github.com/rapportcrm/rapport/pkg/eventfeed"
)

// FleetConfig tunes a Fleet.
type FleetConfig struct {
	// Refresh is how often the directory is asked for new tenants.
	Refresh time.Duration
	// MinBackoff and MaxBackoff are each consumer's reconnection bounds.
	MinBackoff, MaxBackoff time.Duration
}

// Fleet runs one Consumer per tenant of the directory: the read model of a
// multi-tenant suite. A tenant that appears is followed from its first
// event; one that disappears stops being followed (its read model stays).
type Fleet struct {
	store   Store
	dir     eventfeed.Directory
	cfg     FleetConfig
	log     *slog.Logger
	meter   metric.Meter
	sources []eventfeed.Source
}

// NewFleet returns a Fleet following sources for every tenant of dir.
func NewFleet(store Store, dir eventfeed.Directory, cfg FleetConfig, log *slog.Logger, meter metric.Meter, sources ...eventfeed.Source) *Fleet {
	return &Fleet{store: store, dir: dir, cfg: cfg, log: log, meter: meter, sources: sources}
}

// Run follows the tenants until ctx ends, then stops every consumer and
// returns nil. A directory that cannot be read is retried at the next refresh.
func (f *Fleet) Run(ctx context.Context) error {
	eventfeed.PerTenant(ctx, f.dir, f.cfg.Refresh, f.log, func(ctx context.Context, tenant uuid.UUID) {
		c, err := New(f.store, Config{
			Tenant:     tenant,
			Credential: func(ctx context.Context) (string, error) { return f.dir.Credential(ctx, tenant) },
			MinBackoff: f.cfg.MinBackoff, MaxBackoff: f.cfg.MaxBackoff,
		}, f.log.With("tenant_id", tenant.String()), f.meter, f.sources...)
		if err != nil {
			f.log.ErrorContext(ctx, "cannot follow tenant", "tenant_id", tenant.String(), "error", err.Error())
			return
		}
		_ = c.Run(ctx)
	})
	return nil
}

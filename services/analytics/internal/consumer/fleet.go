package consumer

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
)

// Directory says which tenants to follow and with what credentials.
type Directory interface {
	// Tenants lists the tenants whose streams to follow.
	Tenants(ctx context.Context) ([]uuid.UUID, error)
	// Credential returns a bearer credential valid in tenant for a while.
	Credential(ctx context.Context, tenant uuid.UUID) (string, error)
}

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
	dir     Directory
	cfg     FleetConfig
	log     *slog.Logger
	meter   metric.Meter
	sources []Source
}

// NewFleet returns a Fleet following sources for every tenant of dir.
func NewFleet(store Store, dir Directory, cfg FleetConfig, log *slog.Logger, meter metric.Meter, sources ...Source) *Fleet {
	return &Fleet{store: store, dir: dir, cfg: cfg, log: log, meter: meter, sources: sources}
}

// Run follows the tenants until ctx ends, then stops every consumer and
// returns nil. A directory that cannot be read is retried at the next refresh.
func (f *Fleet) Run(ctx context.Context) error {
	running := map[uuid.UUID]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(f.cfg.Refresh)
	defer tick.Stop()
	for {
		tenants, err := f.dir.Tenants(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			f.log.WarnContext(ctx, "tenant directory unavailable", "error", err.Error())
		case err == nil:
			f.reconcile(ctx, tenants, running, &wg)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// reconcile starts consumers for new tenants and stops those of tenants
// no longer listed.
func (f *Fleet) reconcile(ctx context.Context, tenants []uuid.UUID, running map[uuid.UUID]context.CancelFunc, wg *sync.WaitGroup) {
	for tenant, cancel := range running {
		if !slices.Contains(tenants, tenant) {
			cancel()
			delete(running, tenant)
			f.log.InfoContext(ctx, "tenant no longer followed", "tenant_id", tenant.String())
		}
	}
	for _, tenant := range tenants {
		if _, ok := running[tenant]; ok {
			continue
		}
		c, err := New(f.store, Config{
			Tenant:     tenant,
			Credential: func(ctx context.Context) (string, error) { return f.dir.Credential(ctx, tenant) },
			MinBackoff: f.cfg.MinBackoff, MaxBackoff: f.cfg.MaxBackoff,
		}, f.log.With("tenant_id", tenant.String()), f.meter, f.sources...)
		if err != nil {
			f.log.ErrorContext(ctx, "cannot follow tenant", "tenant_id", tenant.String(), "error", err.Error())
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		running[tenant] = cancel
		wg.Go(func() { _ = c.Run(cctx) })
		f.log.InfoContext(ctx, "tenant followed", "tenant_id", tenant.String())
	}
}

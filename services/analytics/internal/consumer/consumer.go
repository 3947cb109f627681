// Package consumer follows the other services' WatchEvents streams and folds
// each event into the analytics read model exactly once.
//
// Each source's stream is read in its own goroutine from the checkpoint the
// store persisted with the last applied event, so a restart of analytics or
// of a source resumes without loss; the store skips events it has applied
// before, so a stream that repeats itself (or a second replica reading the
// same stream) counts nothing twice.
package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	"github.com/rapportcrm/rapport/pkg/eventfeed"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// Store is what the consumer needs of the read model.
type Store interface {
	// ApplyBatch applies events of one tenant and source in order, in one
	// transaction, skipping those applied before; it returns how many were new.
	ApplyBatch(ctx context.Context, events []analytics.Event) (applied int, err error)
	Feed(ctx context.Context, tenant uuid.UUID, source string) (analytics.Feed, error)
	// Quarantine records an event whose envelope could not be read and
	// moves its source's checkpoint past it, exactly once per event id.
	Quarantine(ctx context.Context, q analytics.QuarantinedEvent) error
}

// Config tunes a Consumer.
type Config struct {
	// Tenant is the tenant followed: the streams are scoped to it, and its
	// checkpoints are where reading resumes.
	Tenant uuid.UUID
	// Credential returns what is presented to every source as
	// "authorization: Bearer <credential>" each time a stream opens: an API
	// key of the tenant, or a short-lived token for it.
	Credential func(ctx context.Context) (string, error)
	// MinBackoff and MaxBackoff bound the wait before a broken stream is
	// reopened; it doubles on each failure in a row.
	MinBackoff, MaxBackoff time.Duration
}

// Consumer follows a set of sources.
type Consumer struct {
	store   Store
	cfg     Config
	log     *slog.Logger
	sources []eventfeed.Source
	// lastEvent holds, per source, the Unix nanoseconds of the last applied
	// event's time (0 until known); the lag gauge reads it.
	lastEvent map[string]*atomic.Int64
	lag       metric.Float64ObservableGauge
	meter     metric.Meter
}

// New returns a consumer of sources that reports its lag on meter.
func New(store Store, cfg Config, log *slog.Logger, meter metric.Meter, sources ...eventfeed.Source) (*Consumer, error) {
	lag, err := meter.Float64ObservableGauge("rapport.analytics.feed.lag",
		metric.WithUnit("s"),
		metric.WithDescription("Seconds since the time of the last event applied from each source."))
	if err != nil {
		return nil, fmt.Errorf("lag gauge: %w", err)
	}
	c := &Consumer{store: store, cfg: cfg, log: log, sources: sources, lastEvent: map[string]*atomic.Int64{}, lag: lag, meter: meter}
	for _, s := range sources {
		c.lastEvent[s.Name] = &atomic.Int64{}
	}
	return c, nil
}

// Run follows every source until ctx ends, reconnecting broken streams; it
// returns nil then. Stream and store errors are logged, not returned: one
// source being down must not stop the others or the API.
func (c *Consumer) Run(ctx context.Context) error {
	reg, err := c.meter.RegisterCallback(c.observe, c.lag)
	if err != nil {
		return fmt.Errorf("lag gauge: %w", err)
	}
	defer func() { _ = reg.Unregister() }()
	var wg sync.WaitGroup
	for _, s := range c.sources {
		wg.Go(func() { c.follow(ctx, s) })
	}
	wg.Wait()
	return nil
}

// follow reads src, reopening it with capped exponential backoff (with
// jitter, so replicas do not reconnect in step) until ctx ends.
func (c *Consumer) follow(ctx context.Context, src eventfeed.Source) {
	wait := c.cfg.MinBackoff
	for {
		start := time.Now()
		n, err := c.session(ctx, src)
		if ctx.Err() != nil {
			return
		}
		// A stream that delivered or stayed up a while was healthy: start over.
		if n > 0 || time.Since(start) > c.cfg.MaxBackoff {
			wait = c.cfg.MinBackoff
		}
		pause := wait/2 + rand.N(wait/2+1)
		c.log.WarnContext(ctx, "feed disconnected", "source", src.Name, "applied_events", n,
			"code", status.Code(err).String(), "error", err.Error(), "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		wait = min(2*wait, c.cfg.MaxBackoff)
	}
}

// session opens src after its persisted checkpoint and applies events until
// the stream or the store fails; it returns how many it applied.
func (c *Consumer) session(ctx context.Context, src eventfeed.Source) (int, error) {
	feed, err := c.store.Feed(ctx, c.cfg.Tenant, src.Name)
	if err != nil {
		return 0, err
	}
	c.noteEvent(src.Name, feed.LastEventTime)
	credential, err := c.cfg.Credential(ctx)
	if err != nil {
		return 0, fmt.Errorf("credential: %w", err)
	}
	sctx, cancel := context.WithCancel(grpcclient.WithBearer(ctx, credential))
	defer cancel()
	stream, err := src.Watch(sctx, feed.Cursor)
	if err != nil {
		return 0, err
	}
	c.log.InfoContext(ctx, "feed open", "source", src.Name, "after_cursor", feed.Cursor, "applied_events", feed.AppliedEvents)
	// A reader goroutine keeps receiving while a batch is applied, so each
	// batch holds what arrived meanwhile: under load one transaction
	// applies many events, at rest each event goes at once.
	incoming := make(chan received, maxBatch)
	go func() {
		for {
			pe, err := stream.Recv()
			select {
			case incoming <- received{pe: pe, err: err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	applied := 0
	var batch []analytics.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := c.store.ApplyBatch(ctx, batch)
		if err != nil {
			return err
		}
		applied += n
		if n > 0 {
			c.noteEvent(src.Name, batch[len(batch)-1].Time)
		}
		batch = batch[:0]
		return nil
	}
	for {
		var r received
		select {
		case r = <-incoming:
		case <-ctx.Done():
			return applied, ctx.Err()
		}
		for {
			if r.err != nil {
				if err := flush(); err != nil {
					return applied, err
				}
				return applied, r.err
			}
			e, ok, err := c.event(ctx, src.Name, r.pe, flush)
			if err != nil {
				return applied, err
			}
			if ok && len(batch) > 0 && batch[0].TenantID != e.TenantID {
				// A batch is one tenant's; a stream is scoped to one, but
				// an event naming another is applied as before, on its own.
				if err := flush(); err != nil {
					return applied, err
				}
			}
			if ok {
				batch = append(batch, e)
			}
			if len(batch) == maxBatch {
				break
			}
			var more bool
			select {
			case r, more = <-incoming:
			default:
			}
			if !more {
				break
			}
		}
		if err := flush(); err != nil {
			return applied, err
		}
	}
}

// maxBatch bounds the events applied in one transaction (a source reads
// its outbox 500 at a time).
const maxBatch = 500

// received is what the reader goroutine passes on: an event, or the
// stream's end.
type received struct {
	pe  *eventsv1.Event
	err error
}

// event turns a received event into what the store applies. An envelope
// that breaks the contract is quarantined at once (after flush applied the
// events before it, so the checkpoint moves in order) and gives no event;
// a payload that does is applied as quarantined.
func (c *Consumer) event(ctx context.Context, source string, pe *eventsv1.Event, flush func() error) (analytics.Event, bool, error) {
	e, err := envelope(source, pe)
	if err != nil {
		// Retrying cannot fix an envelope that breaks the contract, and
		// stopping would stall the whole feed: quarantine it under this
		// consumer's tenant and move the checkpoint past it.
		if err := flush(); err != nil {
			return analytics.Event{}, false, err
		}
		q := malformed(c.cfg.Tenant, source, pe, err)
		if err := c.store.Quarantine(ctx, q); err != nil {
			return analytics.Event{}, false, err
		}
		c.log.ErrorContext(ctx, "event quarantined: malformed envelope", "source", source, "cursor", pe.GetCursor(), "error", err.Error())
		return analytics.Event{}, false, nil
	}
	if err := project(&e, pe.GetPayload()); err != nil {
		// Likewise for a payload: it is applied as quarantined, which
		// records it and advances the feed without projecting it.
		e.Opportunity, e.Ticket, e.Customer, e.Fact = nil, nil, nil, nil
		e.Satisfaction, e.Campaign, e.DealRegistration, e.Quota, e.Snapshot = nil, nil, nil, nil, nil
		e.Quarantine = &analytics.QuarantinedEvent{Reason: err.Error(), PayloadType: pe.GetPayload().GetTypeUrl(), Payload: pe.GetPayload().GetValue()}
		c.log.ErrorContext(ctx, "event quarantined: unexpected payload", "source", source,
			"event_id", e.ID.String(), "type", e.Type, "error", err.Error())
	}
	return e, true, nil
}

func (c *Consumer) noteEvent(source string, t time.Time) {
	if !t.IsZero() {
		c.lastEvent[source].Store(t.UnixNano())
	}
}

// observe reports the lag of every source with a known last event.
func (c *Consumer) observe(_ context.Context, o metric.Observer) error {
	now := time.Now()
	for source, last := range c.lastEvent {
		if ns := last.Load(); ns != 0 {
			o.ObserveFloat64(c.lag, now.Sub(time.Unix(0, ns)).Seconds(),
				metric.WithAttributes(attribute.String("source", source), attribute.String("tenant_id", c.cfg.Tenant.String())))
		}
	}
	return nil
}

// Package eventfeed follows the suite's event streams from the consuming
// side (analytics, integration): the services' WatchEvents calls as
// resumable Sources, and one worker per tenant of a Directory, started and
// stopped as tenants come and go.
package eventfeed

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
)

// Stream is an open WatchEvents call.
type Stream interface {
	Recv() (*eventsv1.Event, error)
}

// Source is one service's event stream.
type Source struct {
	// Name is the service's slug; the stream's checkpoint is kept under it.
	Name string
	// Watch opens the stream after afterCursor ("" is the beginning).
	Watch func(ctx context.Context, afterCursor string) (Stream, error)
}

// CustomerSource follows the customer service's events.
func CustomerSource(client customerv1.CustomerServiceClient) Source {
	return Source{Name: "customer", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(client.WatchEvents(ctx, &customerv1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// PipelineSource follows the pipeline service's events.
func PipelineSource(client pipelinev1.PipelineServiceClient) Source {
	return Source{Name: "pipeline", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(client.WatchEvents(ctx, &pipelinev1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// TicketSource follows the ticket service's events.
func TicketSource(client ticketv1.TicketServiceClient) Source {
	return Source{Name: "ticket", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(client.WatchEvents(ctx, &ticketv1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// PartnerSource follows the channel-partner service's events.
func PartnerSource(client partnerv1.PartnerServiceClient) Source {
	return Source{Name: "partner", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(client.WatchEvents(ctx, &partnerv1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// responses unwraps the envelope from each service's own WatchEventsResponse.
type responses[R any, P interface {
	*R
	GetEvent() *eventsv1.Event
}] struct {
	stream grpc.ServerStreamingClient[R]
}

// Recv implements Stream.
func (r responses[R, P]) Recv() (*eventsv1.Event, error) {
	m, err := r.stream.Recv()
	if err != nil {
		return nil, err
	}
	return P(m).GetEvent(), nil
}

// adapt wraps a just-opened WatchEvents call, passing its error through.
func adapt[R any, P interface {
	*R
	GetEvent() *eventsv1.Event
}](s grpc.ServerStreamingClient[R], err error) (Stream, error) {
	if err != nil {
		return nil, err
	}
	return responses[R, P]{stream: s}, nil
}

// Directory says which tenants to follow and with what credentials
// (iamclient.TenantDirectory is the identity service's).
type Directory interface {
	// Tenants lists the tenants whose streams to follow.
	Tenants(ctx context.Context) ([]uuid.UUID, error)
	// Credential returns a bearer credential valid in tenant for a while.
	Credential(ctx context.Context, tenant uuid.UUID) (string, error)
}

// PerTenant runs follow(ctx, tenant) in a goroutine of its own for every
// tenant dir lists, asking dir again every refresh: a tenant that appears
// is followed, one that disappears has its context cancelled. A directory
// that cannot be read is asked again at the next refresh. It returns when
// ctx ends and every follow has returned.
func PerTenant(ctx context.Context, dir Directory, refresh time.Duration, log *slog.Logger, follow func(ctx context.Context, tenant uuid.UUID)) {
	running := map[uuid.UUID]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	for {
		tenants, err := dir.Tenants(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "tenant directory unavailable", "error", err.Error())
		case err == nil:
			for tenant, cancel := range running {
				if !slices.Contains(tenants, tenant) {
					cancel()
					delete(running, tenant)
					log.InfoContext(ctx, "tenant no longer followed", "tenant_id", tenant.String())
				}
			}
			for _, tenant := range tenants {
				if _, ok := running[tenant]; ok {
					continue
				}
				tctx, cancel := context.WithCancel(ctx)
				running[tenant] = cancel
				wg.Go(func() { follow(tctx, tenant) })
				log.InfoContext(ctx, "tenant followed", "tenant_id", tenant.String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

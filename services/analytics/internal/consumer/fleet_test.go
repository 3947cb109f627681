package consumer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric/noop"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/eventfeed"
	"github.com/rapportcrm/rapport/services/analytics/internal/consumer"
)

// directory lists the rig's tenant once its first answer (an outage) is
// behind it, with the rig's key as the credential.
type directory struct {
	r     *rig
	calls atomic.Int32
}

func (d *directory) Tenants(context.Context) ([]uuid.UUID, error) {
	if d.calls.Add(1) == 1 {
		return nil, errors.New("identity service unavailable")
	}
	return []uuid.UUID{d.r.tenant, uuid.New()}, nil
}

func (d *directory) Credential(_ context.Context, tenant uuid.UUID) (string, error) {
	if tenant != d.r.tenant {
		return "", errors.New("no credential for a tenant of no source")
	}
	return d.r.key, nil
}

func TestFleetFollowsTheDirectorysTenants(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.serve(t)
	r.customers.add(r.customerEvent(uuid.New()))
	dir := &directory{r: r}
	f := consumer.NewFleet(r.store, dir, consumer.FleetConfig{Refresh: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		slog.New(slog.NewJSONHandler(io.Discard, nil)), noop.NewMeterProvider().Meter("test"),
		eventfeed.CustomerSource(customerv1.NewCustomerServiceClient(r.conn)),
		eventfeed.PipelineSource(pipelinev1.NewPipelineServiceClient(r.conn)),
		eventfeed.TicketSource(ticketv1.NewTicketServiceClient(r.conn)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// The directory's outage is retried; the tenant that has no credential
	// fails on its own without holding up the rig's tenant.
	r.waitFeeds(t, map[string]int64{"customer": 1})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	if n := dir.calls.Load(); n < 2 {
		t.Fatalf("directory asked %d times, want a retry after the outage", n)
	}
}

package consumer_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/eventfeed"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/consumer"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

// fakeSource is one service's event stream, held in memory; cursors are
// 1-based positions in it.
type fakeSource struct {
	key string
	// breakAfter ends every stream with Unavailable after that many events (0: never).
	breakAfter int

	mu     sync.Mutex
	events []*eventsv1.Event
	grown  chan struct{} // closed when events are added
	// replay ignores after_cursor and starts at the beginning, as a source
	// restored from a backup or delivering at least once might.
	replay bool
	// requests are the after_cursor of every authenticated WatchEvents
	// call; attempts counts every call.
	requests []string
	attempts int
}

func newFakeSource(key string) *fakeSource { return &fakeSource{key: key, grown: make(chan struct{})} }

func (f *fakeSource) add(es ...*eventsv1.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range es {
		e.Cursor = strconv.Itoa(len(f.events) + 1)
		f.events = append(f.events, e)
	}
	close(f.grown)
	f.grown = make(chan struct{})
}

func (f *fakeSource) setReplay(on bool) {
	f.mu.Lock()
	f.replay = on
	f.mu.Unlock()
}

func (f *fakeSource) requested() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeSource) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func (f *fakeSource) watch(ctx context.Context, after string, send func(*eventsv1.Event) error) error {
	f.mu.Lock()
	f.attempts++
	f.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer "+f.key {
		return status.Error(codes.Unauthenticated, "invalid credentials")
	}
	f.mu.Lock()
	f.requests = append(f.requests, after)
	replay := f.replay
	f.mu.Unlock()
	pos := 0
	if after != "" && !replay {
		n, err := strconv.Atoi(after)
		if err != nil {
			return status.Error(codes.InvalidArgument, "bad cursor")
		}
		pos = n
	}
	sent := 0
	for {
		f.mu.Lock()
		events, grown := f.events, f.grown
		f.mu.Unlock()
		for ; pos < len(events); pos++ {
			if f.breakAfter > 0 && sent == f.breakAfter {
				return status.Error(codes.Unavailable, "source restarting")
			}
			if err := send(events[pos]); err != nil {
				return err
			}
			sent++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-grown:
		}
	}
}

type customerServer struct {
	customerv1.UnimplementedCustomerServiceServer
	f *fakeSource
}

func (s customerServer) WatchEvents(req *customerv1.WatchEventsRequest, stream customerv1.CustomerService_WatchEventsServer) error {
	return s.f.watch(stream.Context(), req.GetAfterCursor(), func(e *eventsv1.Event) error {
		return stream.Send(&customerv1.WatchEventsResponse{Event: e})
	})
}

type pipelineServer struct {
	pipelinev1.UnimplementedPipelineServiceServer
	f *fakeSource
}

func (s pipelineServer) WatchEvents(req *pipelinev1.WatchEventsRequest, stream pipelinev1.PipelineService_WatchEventsServer) error {
	return s.f.watch(stream.Context(), req.GetAfterCursor(), func(e *eventsv1.Event) error {
		return stream.Send(&pipelinev1.WatchEventsResponse{Event: e})
	})
}

type ticketServer struct {
	ticketv1.UnimplementedTicketServiceServer
	f *fakeSource
}

func (s ticketServer) WatchEvents(req *ticketv1.WatchEventsRequest, stream ticketv1.TicketService_WatchEventsServer) error {
	return s.f.watch(stream.Context(), req.GetAfterCursor(), func(e *eventsv1.Event) error {
		return stream.Send(&ticketv1.WatchEventsResponse{Event: e})
	})
}

// rig is the three source services on one real socket, and a read model.
type rig struct {
	tenant                      uuid.UUID
	key                         string
	customers, pipeline, ticket *fakeSource
	store                       *postgres.Store
	db                          *pgtest.DB
	addr                        string
	conn                        *grpc.ClientConn

	mu  sync.Mutex
	srv *grpc.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tenant := uuid.New()
	key, _ := auth.NewAPIKey(tenant, uuid.New())
	r := &rig{tenant: tenant, key: key, customers: newFakeSource(key), pipeline: newFakeSource(key), ticket: newFakeSource(key),
		store: postgres.New(db.App), db: db}
	return r
}

// serve starts (or restarts, on the same address) the source services.
func (r *rig) serve(t *testing.T) {
	t.Helper()
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	customerv1.RegisterCustomerServiceServer(srv, customerServer{f: r.customers})
	pipelinev1.RegisterPipelineServiceServer(srv, pipelineServer{f: r.pipeline})
	ticketv1.RegisterTicketServiceServer(srv, ticketServer{f: r.ticket})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	if r.addr == "" {
		r.addr = lis.Addr().String()
		if r.conn, err = grpcclient.New(r.addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.conn.Close() })
	}
}

// stopSources stops the source services, breaking every open stream.
func (r *rig) stopSources() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv.Stop()
}

// run starts a consumer with key; the returned func stops it and waits
// until Run has returned.
func (r *rig) run(t *testing.T, key string, opts ...func(*consumerOptions)) (stop func()) {
	t.Helper()
	o := consumerOptions{meter: noop.NewMeterProvider().Meter("test")}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := consumer.New(r.store, consumer.Config{Tenant: r.tenant, Credential: func(context.Context) (string, error) { return key, nil },
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		slog.New(slog.NewJSONHandler(io.Discard, nil)), o.meter,
		eventfeed.CustomerSource(customerv1.NewCustomerServiceClient(r.conn)),
		eventfeed.PipelineSource(pipelinev1.NewPipelineServiceClient(r.conn)),
		eventfeed.TicketSource(ticketv1.NewTicketServiceClient(r.conn)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// consumerOptions vary the consumer a test runs.
type consumerOptions struct{ meter metric.Meter }

// waitFeeds waits until the tenant's feeds have applied want events per source.
func (r *rig) waitFeeds(t *testing.T, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got map[string]int64
	for time.Now().Before(deadline) {
		feeds, err := r.store.Feeds(t.Context(), r.tenant)
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]int64{}
		for _, f := range feeds {
			got[f.Source] = f.AppliedEvents
		}
		if cmp.Equal(got, want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("applied events per source = %v, want %v", got, want)
}

func (r *rig) summary(t *testing.T, customer uuid.UUID) analytics.Summary {
	t.Helper()
	s, err := r.store.Summary(t.Context(), r.tenant, customer)
	if err != nil {
		t.Fatalf("Summary(%s): %v", customer, err)
	}
	s.UpdateTime = time.Time{}
	return s
}

func event(tenant uuid.UUID, typ string, payload proto.Message) *eventsv1.Event {
	a, err := anypb.New(payload)
	if err != nil {
		panic(err)
	}
	return &eventsv1.Event{EventId: uuid.Must(uuid.NewV7()).String(), Type: typ, TenantId: tenant.String(), Time: timestamppb.Now(), Payload: a}
}

func (r *rig) customerEvent(id uuid.UUID) *eventsv1.Event {
	return event(r.tenant, "customer.created", &customerv1.Customer{CustomerId: id.String(), DisplayName: "Ada"})
}

func (r *rig) opportunityEvent(typ string, id, customer uuid.UUID, stage pipelinev1.Stage, currency string, minor int64) *eventsv1.Event {
	return event(r.tenant, typ, &pipelinev1.Opportunity{OpportunityId: id.String(), CustomerId: customer.String(), Stage: stage,
		Amount: &typesv1.Money{CurrencyCode: currency, AmountMinor: minor}})
}

func (r *rig) ticketEvent(typ string, id, customer uuid.UUID, st ticketv1.Status) *eventsv1.Event {
	return event(r.tenant, typ, &ticketv1.Ticket{TicketId: id.String(), CustomerId: customer.String(), Status: st})
}

func money(currency string, minor int64) analytics.Money {
	return analytics.Money{CurrencyCode: currency, AmountMinor: minor}
}

func TestResumesAfterRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.serve(t)
	ada, o1, t1 := uuid.New(), uuid.New(), uuid.New()
	r.customers.add(r.customerEvent(ada))
	r.pipeline.add(
		r.opportunityEvent("opportunity.created", o1, ada, pipelinev1.Stage_STAGE_PROSPECTING, "USD", 1000),
		r.opportunityEvent("opportunity.created", uuid.New(), ada, pipelinev1.Stage_STAGE_NEGOTIATION, "USD", 500),
		r.opportunityEvent("opportunity.created", uuid.New(), ada, pipelinev1.Stage_STAGE_WON, "EUR", 700),
	)
	r.ticket.add(r.ticketEvent("ticket.created", t1, ada, ticketv1.Status_STATUS_NEW))
	stop := r.run(t, r.key)
	r.waitFeeds(t, map[string]int64{"customer": 1, "pipeline": 3, "ticket": 1})
	want := analytics.Summary{CustomerID: ada, OpenOpportunities: 2, OpenAmounts: []analytics.Money{money("USD", 1500)}, OpenTickets: 1}
	if diff := cmp.Diff(want, r.summary(t, ada)); diff != "" {
		t.Fatalf("summary after the first run (-want +got):\n%s", diff)
	}
	stop()

	// While analytics is down the sources move on.
	r.pipeline.add(
		r.opportunityEvent("opportunity.updated", o1, ada, pipelinev1.Stage_STAGE_WON, "USD", 1000),
		r.opportunityEvent("opportunity.created", uuid.New(), ada, pipelinev1.Stage_STAGE_PROPOSAL, "EUR", 300),
	)
	r.ticket.add(
		r.ticketEvent("ticket.updated", t1, ada, ticketv1.Status_STATUS_RESOLVED),
		r.ticketEvent("ticket.created", uuid.New(), ada, ticketv1.Status_STATUS_OPEN),
	)
	r.run(t, r.key)
	r.waitFeeds(t, map[string]int64{"customer": 1, "pipeline": 5, "ticket": 3})
	if got, want := r.pipeline.requested(), []string{"", "3"}; !slices.Equal(got, want) {
		t.Fatalf("pipeline was asked for events after %q, want %q: the restart resumes at the checkpoint", got, want)
	}
	want = analytics.Summary{CustomerID: ada, OpenOpportunities: 2, OpenAmounts: []analytics.Money{money("EUR", 300), money("USD", 500)}, OpenTickets: 1}
	if diff := cmp.Diff(want, r.summary(t, ada)); diff != "" {
		t.Fatalf("summary after the restart (-want +got):\n%s", diff)
	}
}

func TestReconnectsBrokenStreams(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.pipeline.breakAfter = 2
	r.serve(t)
	ada := uuid.New()
	for i := range 5 {
		r.pipeline.add(r.opportunityEvent("opportunity.created", uuid.New(), ada, pipelinev1.Stage_STAGE_PROSPECTING, "USD", int64(i+1)))
	}
	r.run(t, r.key)
	r.waitFeeds(t, map[string]int64{"pipeline": 5})
	if got, want := r.pipeline.requested()[:3], []string{"", "2", "4"}; !slices.Equal(got, want) {
		t.Fatalf("pipeline reconnections asked after %q, want %q", got, want)
	}
	if got := r.summary(t, ada); got.OpenOpportunities != 5 || got.OpenAmounts[0].AmountMinor != 15 {
		t.Fatalf("summary = %+v, want 5 opportunities worth 15", got)
	}
}

func TestSurvivesSourceRestartAndRedelivery(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.serve(t)
	ada, t1 := uuid.New(), uuid.New()
	r.customers.add(r.customerEvent(ada))
	r.ticket.add(r.ticketEvent("ticket.created", t1, ada, ticketv1.Status_STATUS_NEW),
		r.ticketEvent("ticket.created", uuid.New(), ada, ticketv1.Status_STATUS_OPEN))
	r.run(t, r.key)
	r.waitFeeds(t, map[string]int64{"customer": 1, "ticket": 2})

	r.stopSources()
	r.ticket.add(r.ticketEvent("ticket.updated", t1, ada, ticketv1.Status_STATUS_CLOSED),
		r.ticketEvent("ticket.created", uuid.New(), ada, ticketv1.Status_STATUS_NEW))
	r.ticket.setReplay(true)           // the restarted source sends everything again
	time.Sleep(100 * time.Millisecond) // the consumer meets refused connections meanwhile
	r.serve(t)
	r.waitFeeds(t, map[string]int64{"customer": 1, "ticket": 4})
	want := analytics.Summary{CustomerID: ada, OpenTickets: 2}
	if diff := cmp.Diff(want, r.summary(t, ada)); diff != "" {
		t.Fatalf("summary after a source restart that redelivered (-want +got):\n%s", diff)
	}
	if n := len(r.ticket.requested()); n < 2 {
		t.Fatalf("ticket stream opened %d times, want a reconnection", n)
	}
	var processed int
	if err := r.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM processed_events").Scan(&processed); err != nil || processed != 5 {
		t.Fatalf("processed events = %d (%v), want 5", processed, err)
	}
}

func TestRetriesWithoutAccess(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.serve(t)
	r.customers.add(r.customerEvent(uuid.New()))
	wrong, _ := auth.NewAPIKey(r.tenant, uuid.New())
	stop := r.run(t, wrong)
	time.Sleep(300 * time.Millisecond)
	stop()
	if feeds, err := r.store.Feeds(t.Context(), r.tenant); err != nil || len(feeds) != 0 {
		t.Fatalf("feeds with a rejected key = %v, %v; want none", feeds, err)
	}
	if n := r.customers.calls(); n < 3 {
		t.Fatalf("WatchEvents called %d times in 300ms with a rejected key, want retries", n)
	}
	// The right key then reads from the beginning.
	r.run(t, r.key)
	r.waitFeeds(t, map[string]int64{"customer": 1})
}

func TestSkipsWhatItCannotUse(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.serve(t)
	ada := uuid.New()
	malformed := r.opportunityEvent("opportunity.created", uuid.New(), ada, pipelinev1.Stage_STAGE_PROPOSAL, "USD", 1)
	malformed.EventId = "not-a-uuid"
	r.pipeline.add(
		malformed, // no usable id: quarantined under a derived id, not applied
		event(r.tenant, "opportunity.created", &ticketv1.Ticket{TicketId: uuid.NewString()}), // another message under the prefix: recorded, not projected
		event(r.tenant, "order.created", &pipelinev1.Order{OrderId: "x"}),                    // a broken order: applied as quarantined
		event(r.tenant, "pipeline.settings_changed", &customerv1.Customer{}),                 // a type the read model ignores
		r.opportunityEvent("opportunity.created", uuid.New(), uuid.New(), pipelinev1.Stage_STAGE_PROPOSAL, "USD", 1),
		r.opportunityEvent("opportunity.created", uuid.New(), ada, pipelinev1.Stage_STAGE_PROPOSAL, "USD", 7),
	)
	r.run(t, r.key)
	r.waitFeeds(t, map[string]int64{"pipeline": 5})
	want := analytics.Summary{CustomerID: ada, OpenOpportunities: 1, OpenAmounts: []analytics.Money{money("USD", 7)}}
	if diff := cmp.Diff(want, r.summary(t, ada)); diff != "" {
		t.Fatalf("summary (-want +got):\n%s", diff)
	}
	feed, err := r.store.Feed(t.Context(), r.tenant, "pipeline")
	if err != nil || feed.Cursor != "6" || feed.Quarantined != 2 || feed.AppliedEvents != 5 {
		t.Fatalf("pipeline checkpoint = %+v, %v; want cursor 6, 5 applied and 2 quarantined", feed, err)
	}
	quarantined, _, err := r.store.Quarantined(t.Context(), r.tenant, "", "", 10)
	if err != nil || len(quarantined) != 2 {
		t.Fatalf("Quarantined = %+v, %v; want 2", quarantined, err)
	}
	reasons := []string{quarantined[0].Reason, quarantined[1].Reason}
	slices.Sort(reasons)
	if !strings.HasPrefix(reasons[0], "malformed envelope: event_id:") || !strings.HasPrefix(reasons[1], "order_id:") {
		t.Fatalf("quarantine reasons = %q, want the bad event id and the bad order id", reasons)
	}
}

func TestReportsLag(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.serve(t)
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	old := event(r.tenant, "customer.created", &customerv1.Customer{CustomerId: uuid.NewString()})
	old.Time = timestamppb.New(time.Now().Add(-time.Hour))
	r.customers.add(old)
	r.run(t, r.key, func(o *consumerOptions) { o.meter = provider.Meter("rapport/analytics") })
	// The gauge follows the commit, so poll it.
	var lag map[string]float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(lag) == 0; time.Sleep(10 * time.Millisecond) {
		lag = collectLag(t, reader)
	}
	if len(lag) != 1 || lag["customer"] < 3590 || lag["customer"] > 3700 {
		t.Fatalf("lag = %v, want about 3600s for customer only (the others have applied nothing)", lag)
	}
}

// collectLag reads the lag gauge's data points by source.
func collectLag(t *testing.T, reader *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	lag := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == "rapport.analytics.feed.lag" {
				for _, dp := range g.DataPoints {
					source, _ := dp.Attributes.Value("source")
					lag[source.AsString()] = dp.Value
				}
			}
		}
	}
	return lag
}

package relationship_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/clients/peerevents"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

// fixture is a private database with one tenant, its admin and a customer.
type fixture struct {
	db       *pgtest.DB
	store    *postgres.Store
	svc      *relationship.Service
	tenant   uuid.UUID
	admin    auth.Caller
	owner    uuid.UUID
	customer uuid.UUID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	f := &fixture{db: db, store: postgres.New(db.App), tenant: uuid.New(), owner: uuid.New()}
	f.svc = relationship.New(f.store)
	f.admin = auth.Caller{TenantID: f.tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	f.customer = f.newCustomer(t, &f.owner)
	return f
}

func (f *fixture) newCustomer(t *testing.T, owner *uuid.UUID) uuid.UUID {
	t.Helper()
	c, err := customer.New(f.store).Create(t.Context(), f.admin, customer.Customer{Kind: customer.KindPerson, DisplayName: "Ada", OwnerID: owner}, "")
	if err != nil {
		t.Fatalf("create customer: %v", err)
	}
	return c.ID
}

func (f *fixture) plan(t *testing.T, p relationship.Plan) relationship.Plan {
	t.Helper()
	saved, err := f.svc.CreatePlan(t.Context(), f.admin, p, "")
	if err != nil {
		t.Fatalf("CreatePlan(%s): %v", p.DisplayName, err)
	}
	return saved
}

// run starts a runner of sources and returns its stop function.
func (f *fixture) run(t *testing.T, sources ...relationship.EventSource) (stop func()) {
	t.Helper()
	r := relationship.NewRunner(f.store, relationship.RunnerConfig{
		Refresh: 20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}, quiet, sources...)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}

// planned waits until the tenant has want follow-ups made by plans and returns them.
func (f *fixture) planned(t *testing.T, want int) []relationship.FollowUp {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := f.svc.ListFollowUps(t.Context(), f.admin, relationship.FollowUpQuery{})
		if err != nil {
			t.Fatalf("ListFollowUps: %v", err)
		}
		var got []relationship.FollowUp
		for _, fu := range page.FollowUps {
			if fu.PlanID != nil {
				got = append(got, fu)
			}
		}
		if len(got) >= want || time.Now().After(deadline) {
			if len(got) != want {
				t.Fatalf("planned follow-ups = %d, want %d", len(got), want)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkpoint waits until the tenant's checkpoint of source is cursor.
func (f *fixture) checkpoint(t *testing.T, source, cursor string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := f.store.Checkpoint(t.Context(), f.tenant, source)
		if err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		if got == cursor {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint of %s = %q, want %q", source, got, cursor)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunnerFollowsTheOutbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fallback := uuid.New()
	fires := f.plan(t, relationship.Plan{DisplayName: "After visits", Source: relationship.SourceCustomer, EventType: relationship.EventInteractionCreated,
		Delay: 48 * time.Hour, RemindBefore: time.Hour, Title: "How was the visit?", AssigneeRule: relationship.AssigneeCustomerOwner, AssigneeID: &fallback, Active: true})
	f.plan(t, relationship.Plan{DisplayName: "Off", Source: relationship.SourceCustomer, EventType: relationship.EventInteractionCreated,
		Title: "never", AssigneeRule: relationship.AssigneeCustomerOwner})
	f.plan(t, relationship.Plan{DisplayName: "Other type", Source: relationship.SourceCustomer, EventType: "customer.updated",
		Title: "never", AssigneeRule: relationship.AssigneeCustomerOwner, Active: true})
	rep := auth.Caller{TenantID: f.tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesRep}}
	orphan := f.newCustomer(t, nil)
	for _, c := range []uuid.UUID{f.customer, orphan} {
		if _, err := f.svc.CreateInteraction(t.Context(), rep, relationship.Interaction{CustomerID: c, Kind: relationship.KindCall,
			Direction: relationship.DirectionOutbound, OccurTime: time.Now()}, ""); err != nil {
			t.Fatalf("CreateInteraction: %v", err)
		}
	}

	stop := f.run(t, f.store.OutboxEvents(10*time.Millisecond, quiet))
	got := f.planned(t, 2)
	stop()
	events := map[uuid.UUID]struct {
		id uuid.UUID
		at time.Time
	}{}
	rows, err := f.db.Owner.Query(t.Context(), `SELECT event_id, occurred_at, resource FROM outbox WHERE type = $1`, relationship.EventInteractionCreated)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		var at time.Time
		var resource string
		if err := rows.Scan(&id, &at, &resource); err != nil {
			t.Fatal(err)
		}
		events[uuid.MustParse(resource[len("customers/"):len("customers/")+36])] = struct {
			id uuid.UUID
			at time.Time
		}{id, at}
	}
	wantAssignee := map[uuid.UUID]uuid.UUID{f.customer: f.owner, orphan: fallback}
	for _, fu := range got {
		e := events[fu.CustomerID]
		switch {
		case *fu.PlanID != fires.ID:
			t.Fatalf("follow-up from plan %s, want %s", fu.PlanID, fires.ID)
		case fu.AssigneeID == nil || *fu.AssigneeID != wantAssignee[fu.CustomerID]:
			t.Fatalf("follow-up of %s assigned to %v, want %s", fu.CustomerID, fu.AssigneeID, wantAssignee[fu.CustomerID])
		case !fu.DueTime.Equal(e.at.Add(48*time.Hour)) || fu.RemindTime == nil || !fu.RemindTime.Equal(fu.DueTime.Add(-time.Hour)):
			t.Fatalf("follow-up due %v remind %v, want due %v and remind an hour before", fu.DueTime, fu.RemindTime, e.at.Add(48*time.Hour))
		case *fu.SourceEventID != e.id || fu.SourceEventType != relationship.EventInteractionCreated || fu.Status != relationship.StatusOpen:
			t.Fatalf("follow-up source %v %q status %d, want %s", fu.SourceEventID, fu.SourceEventType, fu.Status, e.id)
		}
	}
	var byRunner int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = $1 AND principal_id = $2`,
		relationship.EventFollowUpCreated, relationship.SystemPrincipal).Scan(&byRunner); err != nil || byRunner != 2 {
		t.Fatalf("follow_up.created events by the runner = %d (%v), want 2", byRunner, err)
	}

	// Forget where the runner got to: reading everything again must schedule nothing twice.
	if _, err := f.db.Owner.Exec(t.Context(), `DELETE FROM plan_checkpoints`); err != nil {
		t.Fatal(err)
	}
	var last string
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT txid::text || '.' || seq FROM outbox ORDER BY txid DESC, seq DESC LIMIT 1`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	stop = f.run(t, f.store.OutboxEvents(10*time.Millisecond, quiet))
	f.checkpoint(t, "customer", last)
	stop()
	f.planned(t, 2)
}

// tickets is a peer fake: a ticket service that streams a fixed list of
// events (cursor = position in the list) to callers allowed to watch.
type tickets struct {
	ticketv1.UnimplementedTicketServiceServer
	events []*eventsv1.Event
	mu     sync.Mutex
	opens  []string // after_cursor of each stream opened
	caller auth.Caller
}

func (s *tickets) WatchEvents(req *ticketv1.WatchEventsRequest, stream ticketv1.TicketService_WatchEventsServer) error {
	c, _ := auth.CallerFrom(stream.Context())
	s.mu.Lock()
	s.opens = append(s.opens, req.GetAfterCursor())
	s.caller = c
	s.mu.Unlock()
	if !c.HasAny(auth.RoleAdmin, auth.RoleAnalyst) {
		return status.Error(codes.PermissionDenied, "not a watcher")
	}
	after := -1
	if req.GetAfterCursor() != "" {
		after, _ = strconv.Atoi(req.GetAfterCursor())
	}
	for i, e := range s.events {
		if i > after && e.GetTenantId() == c.TenantID {
			if err := stream.Send(&ticketv1.WatchEventsResponse{Event: e}); err != nil {
				return err
			}
		}
	}
	<-stream.Context().Done()
	return nil
}

func ticketEvent(t *testing.T, i int, tenant uuid.UUID, typ string, at time.Time, customer uuid.UUID) *eventsv1.Event {
	t.Helper()
	payload, err := anypb.New(&ticketv1.Ticket{TicketId: uuid.NewString(), CustomerId: customer.String(), Subject: "Broken"})
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.Event{EventId: uuid.NewString(), Cursor: strconv.Itoa(i), Type: typ, Source: "ticket", TenantId: tenant.String(),
		Time: timestamppb.New(at), PrincipalId: uuid.NewString(), Payload: payload}
}

func TestRunnerFollowsPeerStreams(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	agent := uuid.New()
	plan := f.plan(t, relationship.Plan{DisplayName: "After tickets", Source: relationship.SourceTicket, EventType: "ticket.created",
		Delay: 24 * time.Hour, Title: "Check the fix held", AssigneeRule: relationship.AssigneeFixed, AssigneeID: &agent, Active: true})
	now := time.Now().UTC()
	fake := &tickets{}
	fake.events = []*eventsv1.Event{
		ticketEvent(t, 0, f.tenant, "ticket.created", plan.ActiveTime.Add(-time.Minute), f.customer), // before the plan was on
		ticketEvent(t, 1, f.tenant, "ticket.created", now, uuid.New()),                               // unknown customer
		ticketEvent(t, 2, uuid.New(), "ticket.created", now, f.customer),                             // another tenant's
		ticketEvent(t, 3, f.tenant, "ticket.created", now, f.customer),                               // fires
		ticketEvent(t, 4, f.tenant, "ticket.closed", now, f.customer),                                // no plan
	}
	tokens := grpctest.NewTokens(t)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) { ticketv1.RegisterTicketServiceServer(srv, fake) })
	source := peerevents.Ticket(ticketv1.NewTicketServiceClient(conn), tokens.Signer, quiet)

	stop := f.run(t, source)
	got := f.planned(t, 1)
	f.checkpoint(t, "ticket", "4")
	stop()
	fu := got[0]
	if fu.SourceEventID.String() != fake.events[3].GetEventId() || *fu.AssigneeID != agent || fu.CustomerID != f.customer ||
		!fu.DueTime.Equal(now.Add(24*time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("planned follow-up = %+v, want event %s's, assigned to %s, due a day later", fu, fake.events[3].GetEventId(), agent)
	}
	fake.mu.Lock()
	c := fake.caller
	fake.mu.Unlock()
	if c.TenantID != f.tenant.String() || c.PrincipalID != relationship.SystemPrincipal || !c.HasAny(auth.RoleAnalyst) {
		t.Fatalf("the stream was opened by %+v, want the runner's analyst principal of tenant %s", c, f.tenant)
	}

	// A restart resumes after the checkpoint and schedules nothing twice.
	stop = f.run(t, source)
	deadline := time.Now().Add(10 * time.Second)
	for {
		fake.mu.Lock()
		opens := append([]string{}, fake.opens...)
		fake.mu.Unlock()
		if len(opens) >= 2 {
			if opens[len(opens)-1] != "4" {
				t.Fatalf("stream reopened after %q, want after the checkpoint 4", opens[len(opens)-1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runner did not reopen the stream: opens %v", opens)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	f.planned(t, 1)
}

func TestRunnerWorksOnlyForTenantsWithActivePlans(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := newFixture(t)
	assignee := uuid.New()
	p := relationship.Plan{DisplayName: "p", Source: relationship.SourceTicket, EventType: "ticket.created", Title: "t",
		AssigneeRule: relationship.AssigneeFixed, AssigneeID: &assignee}
	off := f.plan(t, p)
	p.Active = true
	on := other.plan(t, p)
	// The other fixture's database is separate: put its active plan's tenant into f's too.
	f2 := &fixture{db: f.db, store: f.store, svc: f.svc, tenant: uuid.New()}
	f2.admin = auth.Caller{TenantID: f2.tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	f2.plan(t, p)
	tests := []struct {
		name  string
		store *postgres.Store
		want  []uuid.UUID
	}{
		{"inactive plan is not listed", f.store, []uuid.UUID{f2.tenant}},
		{"active plan is listed", other.store, []uuid.UUID{other.tenant}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.store.PlanTenants(t.Context())
			if err != nil || len(got) != len(tt.want) || got[0] != tt.want[0] {
				t.Fatalf("PlanTenants = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if off.ActiveTime != nil || on.ActiveTime == nil {
		t.Fatalf("active_time of inactive/active plans = %v/%v, want unset/set", off.ActiveTime, on.ActiveTime)
	}
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assignee := uuid.New()
	plan := f.plan(t, relationship.Plan{DisplayName: "p", Source: relationship.SourcePipeline, EventType: "opportunity.created",
		Delay: time.Hour, Title: "t", AssigneeRule: relationship.AssigneeCustomerOwner, AssigneeID: &assignee, Active: true})
	r := relationship.NewRunner(f.store, relationship.RunnerConfig{}, quiet)
	now := time.Now().UTC()
	unknown := uuid.New()
	sad := relationship.Detractor{SourceID: uuid.New(), NPS: true, Score: 2}
	tests := []struct {
		name   string
		source relationship.Source
		e      relationship.Event
		want   int
	}{
		{"fires", relationship.SourcePipeline, relationship.Event{ID: uuid.New(), Type: "opportunity.created", Time: now, CustomerID: &f.customer}, 1},
		{"other source", relationship.SourceTicket, relationship.Event{ID: uuid.New(), Type: "opportunity.created", Time: now, CustomerID: &f.customer}, 0},
		{"caused by the runner", relationship.SourcePipeline, relationship.Event{ID: uuid.New(), Type: "opportunity.created", Time: now, CustomerID: &f.customer, PrincipalID: relationship.SystemPrincipal}, 0},
		{"no customer", relationship.SourcePipeline, relationship.Event{ID: uuid.New(), Type: "opportunity.created", Time: now}, 0},
		{"unknown customer", relationship.SourcePipeline, relationship.Event{ID: uuid.New(), Type: "opportunity.created", Time: now, CustomerID: &unknown}, 0},
		{"before the plan was on", relationship.SourcePipeline, relationship.Event{ID: uuid.New(), Type: "opportunity.created", Time: plan.ActiveTime.Add(-time.Second), CustomerID: &f.customer}, 0},
		{"detractor", relationship.SourceTicket, relationship.Event{ID: uuid.New(), Type: relationship.EventDetractorRecorded, Time: now, CustomerID: &f.customer, Detractor: &sad}, 1},
		{"detractor from another source", relationship.SourcePipeline, relationship.Event{ID: uuid.New(), Type: relationship.EventDetractorRecorded, Time: now, CustomerID: &f.customer, Detractor: &sad}, 0},
		{"detractor of an unknown customer", relationship.SourceTicket, relationship.Event{ID: uuid.New(), Type: relationship.EventDetractorRecorded, Time: now, CustomerID: &unknown, Detractor: &sad}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := r.Schedule(t.Context(), f.tenant, tt.source, tt.e)
			if err != nil || len(got) != tt.want {
				t.Fatalf("Schedule(%s) = %d follow-ups, %v; want %d", tt.name, len(got), err, tt.want)
			}
		})
	}

	// Storing the same plan's follow-up for the same event twice keeps one.
	e := relationship.Event{ID: uuid.New(), Cursor: "1.1", Type: "opportunity.created", Time: now, CustomerID: &f.customer}
	var created []int
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			due, err := r.Schedule(t.Context(), f.tenant, relationship.SourcePipeline, e)
			if err != nil {
				t.Errorf("Schedule: %v", err)
				return
			}
			n, err := f.store.SchedulePlanned(t.Context(), f.tenant, "pipeline", e.Cursor, due)
			if err != nil {
				t.Errorf("SchedulePlanned: %v", err)
			}
			mu.Lock()
			created = append(created, n)
			mu.Unlock()
		})
	}
	wg.Wait()
	total := 0
	for _, n := range created {
		total += n
	}
	if total != 1 {
		t.Fatalf("concurrent SchedulePlanned of one event created %v, want 1 in all", created)
	}
	f.planned(t, 1)
}

func detractorEvent(t *testing.T, i int, tenant uuid.UUID, at time.Time, d *ticketv1.Detractor) *eventsv1.Event {
	t.Helper()
	payload, err := anypb.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.Event{EventId: uuid.NewString(), Cursor: strconv.Itoa(i), Type: relationship.EventDetractorRecorded, Source: "ticket",
		TenantId: tenant.String(), Time: timestamppb.New(at), PrincipalId: "system:csat-link", Payload: payload}
}

// detractorFollowUps waits until the tenant has want follow-ups made
// without a plan and returns them.
func (f *fixture) detractorFollowUps(t *testing.T, want int) []relationship.FollowUp {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := f.svc.ListFollowUps(t.Context(), f.admin, relationship.FollowUpQuery{})
		if err != nil {
			t.Fatalf("ListFollowUps: %v", err)
		}
		var got []relationship.FollowUp
		for _, fu := range page.FollowUps {
			if fu.PlanID == nil {
				got = append(got, fu)
			}
		}
		if len(got) >= want || time.Now().After(deadline) {
			if len(got) != want {
				t.Fatalf("detractor follow-ups = %d, want %d", len(got), want)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunnerFollowsUpDetractorsOfEveryTenant: a tenant without any plan
// still gets one follow-up per unhappy answer, however often its event is
// read, and none for another tenant's or an unknown customer's answer.
func TestRunnerFollowsUpDetractorsOfEveryTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.db.Owner.Exec(t.Context(), `INSERT INTO tenants (tenant_id, display_name) VALUES ($1, 'Acme')`, f.tenant); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	survey, ticketID, response := uuid.New(), uuid.New(), uuid.New()
	csat := &ticketv1.Detractor{SourceId: survey.String(), Kind: ticketv1.SatisfactionKind_SATISFACTION_KIND_CSAT, TicketId: ticketID.String(),
		CustomerId: f.customer.String(), Score: 1}
	nps := &ticketv1.Detractor{SourceId: response.String(), Kind: ticketv1.SatisfactionKind_SATISFACTION_KIND_NPS, CustomerId: f.customer.String(), Score: 4}
	fake := &tickets{}
	fake.events = []*eventsv1.Event{
		detractorEvent(t, 0, f.tenant, now, csat),
		detractorEvent(t, 1, f.tenant, now, csat),  // the same answer reported again
		detractorEvent(t, 2, uuid.New(), now, nps), // another tenant's
		detractorEvent(t, 3, f.tenant, now, &ticketv1.Detractor{SourceId: uuid.NewString(), Kind: ticketv1.SatisfactionKind_SATISFACTION_KIND_NPS,
			CustomerId: uuid.NewString(), Score: 0}), // unknown customer
		detractorEvent(t, 4, f.tenant, now, nps),
		ticketEvent(t, 5, f.tenant, "ticket.created", now, f.customer), // no plan, no detractor
	}
	tokens := grpctest.NewTokens(t)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) { ticketv1.RegisterTicketServiceServer(srv, fake) })
	source := peerevents.Ticket(ticketv1.NewTicketServiceClient(conn), tokens.Signer, quiet)

	stop := f.run(t, source, f.store.OutboxEvents(10*time.Millisecond, quiet))
	f.checkpoint(t, "ticket", "5")
	stop()
	got := f.detractorFollowUps(t, 2)
	want := map[string]string{
		"Follow up a 1/5 satisfaction answer": "The customer rated the resolution of tickets/" + ticketID.String() + " poorly.",
		"Follow up a 4/10 NPS answer":         "The customer answered an NPS survey as a detractor (npsResponses/" + response.String() + ").",
	}
	for _, fu := range got {
		if want[fu.Title] != fu.Notes || fu.CustomerID != f.customer || fu.AssigneeID == nil || *fu.AssigneeID != f.owner ||
			!fu.DueTime.Equal(now.Add(relationship.DetractorFollowUpDue)) || fu.Status != relationship.StatusOpen {
			t.Fatalf("detractor follow-up = %+v, want one of %v for the owner %s, due a day after the answer", fu, want, f.owner)
		}
	}
	var keys int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM follow_ups WHERE request_id IN ($1, $2)`,
		"csat-detractor-"+survey.String(), "nps-detractor-"+response.String()).Scan(&keys); err != nil || keys != 2 {
		t.Fatalf("follow-ups keyed by their answers = %d (%v), want 2", keys, err)
	}

	// Reading the whole stream again after losing the checkpoint makes nothing twice.
	if _, err := f.db.Owner.Exec(t.Context(), `DELETE FROM plan_checkpoints`); err != nil {
		t.Fatal(err)
	}
	stop = f.run(t, source)
	f.checkpoint(t, "ticket", "5")
	stop()
	f.detractorFollowUps(t, 2)
}

func TestTenantsListsEveryTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want := map[uuid.UUID]bool{}
	for range 3 {
		id := uuid.New()
		want[id] = true
		if _, err := f.db.Owner.Exec(t.Context(), `INSERT INTO tenants (tenant_id, display_name) VALUES ($1, 'x')`, id); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.store.Tenants(t.Context())
	if err != nil || len(got) != len(want) {
		t.Fatalf("Tenants = %v, %v; want %d tenants", got, err, len(want))
	}
	for _, id := range got {
		if !want[id] {
			t.Fatalf("Tenants = %v, want %v", got, want)
		}
	}
}

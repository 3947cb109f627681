package grpcapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// relEnv is the relationship API on a real socket over a private database,
// with callers of two tenants authenticated by JWTs.
type relEnv struct {
	rel       customerv1.RelationshipServiceClient
	customers customerv1.CustomerServiceClient
	db        *pgtest.DB
	tokens    *grpctest.Tokens
	tenant    string
	// rep is the sales rep who owns customer, a customer of tenant; other
	// reps do not see it.
	rep, customer string
}

func newRelEnv(t *testing.T) *relEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		customerv1.RegisterCustomerServiceServer(srv, grpcapi.NewCustomers(customer.New(store), search.New(store), db.App, 20*time.Millisecond))
		customerv1.RegisterRelationshipServiceServer(srv, grpcapi.NewRelationship(relationship.New(store)))
	})
	e := &relEnv{rel: customerv1.NewRelationshipServiceClient(conn), customers: customerv1.NewCustomerServiceClient(conn),
		db: db, tokens: tokens, tenant: uuid.NewString(), rep: uuid.NewString()}
	e.customer = e.newCustomer(t, e.tenant)
	return e
}

// as returns a context of a new principal of tenant with roles.
func (e *relEnv) as(t *testing.T, tenant string, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant, roles...)
}

// asPrincipal is as for a given principal id.
func (e *relEnv) asPrincipal(t *testing.T, tenant, principal string, roles ...auth.Role) context.Context {
	t.Helper()
	tok, err := e.tokens.Sign(auth.Caller{TenantID: tenant, PrincipalID: principal, Roles: roles}, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

func (e *relEnv) newCustomer(t *testing.T, tenant string) string {
	t.Helper()
	c, err := e.customers.CreateCustomer(e.as(t, tenant, auth.RoleAdmin), &customerv1.CreateCustomerRequest{Customer: &customerv1.Customer{
		Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: "Analytical Engines Ltd", OwnerId: e.rep}})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	return c.GetCustomer().GetCustomerId()
}

var day0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func visit(at time.Time) *customerv1.Interaction {
	return &customerv1.Interaction{
		Kind: customerv1.InteractionKind_INTERACTION_KIND_VISIT, Direction: customerv1.InteractionDirection_INTERACTION_DIRECTION_OUTBOUND,
		Channel: "on-site", OccurTime: timestamppb.New(at), Duration: durationpb.New(90 * time.Minute),
		Subject: "Quarterly review", Notes: "Walked the plant floor.", Outcome: "Renewal likely",
		ParticipantPrincipalIds: []string{uuid.NewString()}, ParticipantNames: []string{" Charles Babbage ", "Charles Babbage"},
		Location: &customerv1.Location{Latitude: 51.5072, Longitude: -0.1276, Address: "London"},
	}
}

func call(at time.Time) *customerv1.Interaction {
	return &customerv1.Interaction{
		Kind: customerv1.InteractionKind_INTERACTION_KIND_CALL, Direction: customerv1.InteractionDirection_INTERACTION_DIRECTION_INBOUND,
		Channel: "phone", OccurTime: timestamppb.New(at), Subject: "Question about an invoice",
	}
}

func TestInteractionValidation(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := e.asPrincipal(t, e.tenant, e.rep, auth.RoleSalesRep)
	with := func(f func(i *customerv1.Interaction)) *customerv1.Interaction {
		i := visit(day0)
		f(i)
		return i
	}
	tests := []struct {
		name       string
		customerID string
		in         *customerv1.Interaction
		wantField  string
	}{
		{"no interaction", e.customer, nil, "interaction"},
		{"bad customer id", "nope", visit(day0), "customer_id"},
		{"missing kind", e.customer, with(func(i *customerv1.Interaction) { i.Kind = 0 }), "interaction.kind"},
		{"unknown kind", e.customer, with(func(i *customerv1.Interaction) { i.Kind = 42 }), "interaction.kind"},
		{"missing direction", e.customer, with(func(i *customerv1.Interaction) { i.Direction = 0 }), "interaction.direction"},
		{"missing occur time", e.customer, with(func(i *customerv1.Interaction) { i.OccurTime = nil }), "interaction.occur_time"},
		{"negative duration", e.customer, with(func(i *customerv1.Interaction) { i.Duration = durationpb.New(-time.Minute) }), "interaction.duration"},
		{"latitude out of range", e.customer, with(func(i *customerv1.Interaction) { i.Location.Latitude = 91 }), "interaction.location.latitude"},
		{"longitude out of range", e.customer, with(func(i *customerv1.Interaction) { i.Location.Longitude = -180.5 }), "interaction.location.longitude"},
		{"location on a call", e.customer, with(func(i *customerv1.Interaction) { i.Kind = customerv1.InteractionKind_INTERACTION_KIND_CALL }), "interaction.location"},
		{"bad participant id", e.customer, with(func(i *customerv1.Interaction) { i.ParticipantCustomerIds = []string{"x"} }), "interaction.participant_customer_ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: tt.customerID, Interaction: tt.in})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("CreateInteraction(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
}

func TestInteractionLifecycle(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSupportAgent)
	first, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: visit(day0), RequestId: "visit-1"})
	if err != nil {
		t.Fatalf("CreateInteraction: %v", err)
	}
	got := first.GetInteraction()
	if got.GetLocation().GetLatitude() != 51.5072 || len(got.GetParticipantNames()) != 1 || got.GetDuration().AsDuration() != 90*time.Minute || got.GetAuthorId() == "" {
		t.Fatalf("CreateInteraction = %v, want the location, one deduplicated name, 90m and an author", got)
	}
	again, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: visit(day0), RequestId: "visit-1"})
	if err != nil || again.GetInteraction().GetInteractionId() != got.GetInteractionId() {
		t.Fatalf("repeated CreateInteraction = %v, %v; want %s again", again, err, got.GetInteractionId())
	}
	upd := &customerv1.Interaction{CustomerId: e.customer, InteractionId: got.GetInteractionId(), Etag: got.GetEtag(), Outcome: "Signed", Subject: "ignored"}
	u, err := e.rel.UpdateInteraction(ctx, &customerv1.UpdateInteractionRequest{Interaction: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"outcome"}}})
	if err != nil || u.GetInteraction().GetOutcome() != "Signed" || u.GetInteraction().GetSubject() != "Quarterly review" {
		t.Fatalf("UpdateInteraction = %v, %v; want only the outcome changed", u, err)
	}
	if _, err := e.rel.UpdateInteraction(ctx, &customerv1.UpdateInteractionRequest{Interaction: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"outcome"}}}); status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateInteraction with a stale etag = %v, want Aborted", err)
	}
	if _, err := e.rel.UpdateInteraction(ctx, &customerv1.UpdateInteractionRequest{Interaction: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"author_id"}}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("UpdateInteraction(author_id) = %v, want InvalidArgument", err)
	}
	d, err := e.rel.DeleteInteraction(ctx, &customerv1.DeleteInteractionRequest{CustomerId: e.customer, InteractionId: got.GetInteractionId()})
	if err != nil || d.GetInteraction().GetDeleteTime() == nil {
		t.Fatalf("DeleteInteraction = %v, %v; want a delete_time", d, err)
	}
	if _, err := e.rel.DeleteInteraction(ctx, &customerv1.DeleteInteractionRequest{CustomerId: e.customer, InteractionId: got.GetInteractionId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("DeleteInteraction twice = %v, want FailedPrecondition", err)
	}
	list, err := e.rel.ListInteractions(ctx, &customerv1.ListInteractionsRequest{CustomerId: e.customer})
	if err != nil || len(list.GetInteractions()) != 0 {
		t.Fatalf("ListInteractions after delete = %v, %v; want none", list, err)
	}
	var events []string
	rows, err := e.db.Owner.Query(t.Context(), "SELECT type FROM outbox WHERE type LIKE 'customer.interaction.%' ORDER BY txid, seq")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		events = append(events, s)
	}
	want := []string{relationship.EventInteractionCreated, relationship.EventInteractionUpdated, relationship.EventInteractionDeleted}
	if len(events) != len(want) || events[0] != want[0] || events[1] != want[1] || events[2] != want[2] {
		t.Fatalf("events = %v, want %v", events, want)
	}
}

func TestListInteractionsTimeline(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := e.asPrincipal(t, e.tenant, e.rep, auth.RoleSalesRep)
	// Two share an occur_time, so the keyset must break the tie by id.
	times := []time.Time{day0, day0.Add(time.Hour), day0.Add(time.Hour), day0.Add(3 * time.Hour), day0.Add(4 * time.Hour)}
	for i, at := range times {
		in := call(at)
		if i%2 == 1 {
			in = visit(at)
		}
		if _, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: in}); err != nil {
			t.Fatal(err)
		}
	}
	other := e.newCustomer(t, e.tenant)
	if _, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: other, Interaction: call(day0)}); err != nil {
		t.Fatal(err)
	}
	analyst := e.as(t, e.tenant, auth.RoleAnalyst)
	tests := []struct {
		name string
		req  *customerv1.ListInteractionsRequest
		want int
	}{
		{"all", &customerv1.ListInteractionsRequest{CustomerId: e.customer}, 5},
		{"visits", &customerv1.ListInteractionsRequest{CustomerId: e.customer, Kind: customerv1.InteractionKind_INTERACTION_KIND_VISIT}, 2},
		{"time range", &customerv1.ListInteractionsRequest{CustomerId: e.customer, StartTime: timestamppb.New(day0.Add(time.Hour)), EndTime: timestamppb.New(day0.Add(4 * time.Hour))}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen []*customerv1.Interaction
			req := tt.req
			req.PageSize = 2
			for {
				page, err := e.rel.ListInteractions(analyst, req)
				if err != nil {
					t.Fatalf("ListInteractions: %v", err)
				}
				seen = append(seen, page.GetInteractions()...)
				if page.GetNextPageToken() == "" {
					break
				}
				req.PageToken = page.GetNextPageToken()
			}
			if len(seen) != tt.want {
				t.Fatalf("ListInteractions(%s) gave %d, want %d", tt.name, len(seen), tt.want)
			}
			ids := map[string]bool{}
			for i, in := range seen {
				ids[in.GetInteractionId()] = true
				if in.GetCustomerId() != e.customer {
					t.Fatalf("ListInteractions(%s) returned another customer's interaction", tt.name)
				}
				if i > 0 && in.GetOccurTime().AsTime().After(seen[i-1].GetOccurTime().AsTime()) {
					t.Fatalf("ListInteractions(%s) not newest first at %d", tt.name, i)
				}
			}
			if len(ids) != tt.want {
				t.Fatalf("ListInteractions(%s) repeated rows across pages", tt.name)
			}
		})
	}
	_, err := e.rel.ListInteractions(analyst, &customerv1.ListInteractionsRequest{CustomerId: e.customer, PageToken: "garbage"})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["page_token"] {
		t.Fatalf("ListInteractions(bad token) = %v, want InvalidArgument on page_token", err)
	}
}

func TestRelationshipPermissionsAndTenancy(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	rep := e.asPrincipal(t, e.tenant, e.rep, auth.RoleSalesRep)
	in, err := e.rel.CreateInteraction(rep, &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: call(day0)})
	if err != nil {
		t.Fatal(err)
	}
	fu, err := e.rel.CreateFollowUp(rep, &customerv1.CreateFollowUpRequest{FollowUp: &customerv1.FollowUp{CustomerId: e.customer, Title: "Call back", DueTime: timestamppb.New(day0)}})
	if err != nil {
		t.Fatal(err)
	}
	other := uuid.NewString()
	interactionID, followUpID := in.GetInteraction().GetInteractionId(), fu.GetFollowUp().GetFollowUpId()
	plan := &customerv1.FollowUpPlan{DisplayName: "After tickets", EventSource: customerv1.EventSource_EVENT_SOURCE_TICKET, EventType: "ticket.created",
		Title: "How did it go?", AssigneeRule: customerv1.AssigneeRule_ASSIGNEE_RULE_CUSTOMER_OWNER, Active: true}
	tests := []struct {
		name       string
		call       func() error
		want       codes.Code
		wantReason string
	}{
		{"analyst records an interaction", func() error {
			_, err := e.rel.CreateInteraction(e.as(t, e.tenant, auth.RoleAnalyst), &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: call(day0)})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"analyst reads the timeline", func() error {
			_, err := e.rel.ListInteractions(e.as(t, e.tenant, auth.RoleAnalyst), &customerv1.ListInteractionsRequest{CustomerId: e.customer})
			return err
		}, codes.OK, ""},
		{"partner user reads an interaction", func() error {
			_, err := e.rel.GetInteraction(e.as(t, e.tenant, auth.RolePartnerUser), &customerv1.GetInteractionRequest{CustomerId: e.customer, InteractionId: interactionID})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"sales rep creates a plan", func() error {
			_, err := e.rel.CreateFollowUpPlan(rep, &customerv1.CreateFollowUpPlanRequest{FollowUpPlan: plan})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"sales manager creates a plan", func() error {
			_, err := e.rel.CreateFollowUpPlan(e.as(t, e.tenant, auth.RoleSalesManager), &customerv1.CreateFollowUpPlanRequest{FollowUpPlan: plan})
			return err
		}, codes.OK, ""},
		{"analyst completes a follow-up", func() error {
			_, err := e.rel.CompleteFollowUp(e.as(t, e.tenant, auth.RoleAnalyst), &customerv1.CompleteFollowUpRequest{FollowUpId: followUpID, Outcome: "done"})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"another tenant reads the interaction", func() error {
			_, err := e.rel.GetInteraction(e.as(t, other, auth.RoleAdmin), &customerv1.GetInteractionRequest{CustomerId: e.customer, InteractionId: interactionID})
			return err
		}, codes.NotFound, "INTERACTION_NOT_FOUND"},
		{"another tenant records on the customer", func() error {
			_, err := e.rel.CreateInteraction(e.as(t, other, auth.RoleAdmin), &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: call(day0)})
			return err
		}, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"another tenant reads the follow-up", func() error {
			_, err := e.rel.GetFollowUp(e.as(t, other, auth.RoleAdmin), &customerv1.GetFollowUpRequest{FollowUpId: followUpID})
			return err
		}, codes.NotFound, "FOLLOW_UP_NOT_FOUND"},
		{"another tenant cancels the follow-up", func() error {
			_, err := e.rel.CancelFollowUp(e.as(t, other, auth.RoleAdmin), &customerv1.CancelFollowUpRequest{FollowUpId: followUpID})
			return err
		}, codes.NotFound, "FOLLOW_UP_NOT_FOUND"},
		{"a rep who does not own the customer reads its timeline", func() error {
			_, err := e.rel.GetInteraction(e.as(t, e.tenant, auth.RoleSalesRep), &customerv1.GetInteractionRequest{CustomerId: e.customer, InteractionId: interactionID})
			return err
		}, codes.NotFound, "INTERACTION_NOT_FOUND"},
		{"a rep who does not own the customer records on it", func() error {
			_, err := e.rel.CreateInteraction(e.as(t, e.tenant, auth.RoleSalesRep), &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: call(day0)})
			return err
		}, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"a rep who does not own the customer lists its follow-ups", func() error {
			r, err := e.rel.ListFollowUps(e.as(t, e.tenant, auth.RoleSalesRep), &customerv1.ListFollowUpsRequest{CustomerId: e.customer})
			if err == nil && len(r.GetFollowUps()) != 0 {
				return status.Error(codes.Internal, "saw another rep's customer's follow-ups")
			}
			return err
		}, codes.OK, ""},
		{"the interaction under another customer", func() error {
			_, err := e.rel.GetInteraction(rep, &customerv1.GetInteractionRequest{CustomerId: uuid.NewString(), InteractionId: interactionID})
			return err
		}, codes.NotFound, "INTERACTION_NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			if status.Code(err) != tt.want || grpctest.Reason(err) != tt.wantReason {
				t.Fatalf("%s = %v (reason %q), want %s (reason %q)", tt.name, err, grpctest.Reason(err), tt.want, tt.wantReason)
			}
		})
	}
}

func TestFollowUps(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	me := e.rep
	ctx := e.asPrincipal(t, e.tenant, me, auth.RoleSalesRep)
	now := time.Now().UTC()
	create := func(title string, due time.Time, assignee string) *customerv1.FollowUp {
		t.Helper()
		r, err := e.rel.CreateFollowUp(ctx, &customerv1.CreateFollowUpRequest{FollowUp: &customerv1.FollowUp{
			CustomerId: e.customer, Title: title, AssigneeId: assignee, DueTime: timestamppb.New(due), RemindTime: timestamppb.New(due.Add(-time.Hour))}})
		if err != nil {
			t.Fatalf("CreateFollowUp(%s): %v", title, err)
		}
		return r.GetFollowUp()
	}
	late := create("late", now.Add(-48*time.Hour), me)
	later := create("later", now.Add(-time.Hour), me)
	future := create("future", now.Add(24*time.Hour), me)
	othersLate := create("someone else's", now.Add(-2*time.Hour), uuid.NewString())

	bad := []struct {
		name      string
		in        *customerv1.FollowUp
		wantField string
	}{
		{"no title", &customerv1.FollowUp{CustomerId: e.customer, DueTime: timestamppb.New(now)}, "follow_up.title"},
		{"no due time", &customerv1.FollowUp{CustomerId: e.customer, Title: "x"}, "follow_up.due_time"},
		{"no customer", &customerv1.FollowUp{Title: "x", DueTime: timestamppb.New(now)}, "follow_up.customer_id"},
		{"remind after due", &customerv1.FollowUp{CustomerId: e.customer, Title: "x", DueTime: timestamppb.New(now), RemindTime: timestamppb.New(now.Add(time.Minute))}, "follow_up.remind_time"},
		{"bad assignee", &customerv1.FollowUp{CustomerId: e.customer, Title: "x", DueTime: timestamppb.New(now), AssigneeId: "me"}, "follow_up.assignee_id"},
	}
	for _, tt := range bad {
		if _, err := e.rel.CreateFollowUp(ctx, &customerv1.CreateFollowUpRequest{FollowUp: tt.in}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
			t.Fatalf("CreateFollowUp(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
		}
	}
	if _, err := e.rel.CreateFollowUp(ctx, &customerv1.CreateFollowUpRequest{FollowUp: &customerv1.FollowUp{CustomerId: uuid.NewString(), Title: "x", DueTime: timestamppb.New(now)}}); status.Code(err) != codes.NotFound {
		t.Fatalf("CreateFollowUp(unknown customer) = %v, want NotFound", err)
	}

	titles := func(fs []*customerv1.FollowUp) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.GetTitle())
		}
		return out
	}
	overdue, err := e.rel.ListOverdueFollowUps(ctx, &customerv1.ListOverdueFollowUpsRequest{})
	if got := titles(overdue.GetFollowUps()); err != nil || len(got) != 2 || got[0] != "late" || got[1] != "later" {
		t.Fatalf("ListOverdueFollowUps(me) = %v, %v; want [late later]", got, err)
	}
	overdue, err = e.rel.ListOverdueFollowUps(ctx, &customerv1.ListOverdueFollowUpsRequest{AssigneeId: othersLate.GetAssigneeId()})
	if got := titles(overdue.GetFollowUps()); err != nil || len(got) != 1 || got[0] != "someone else's" {
		t.Fatalf("ListOverdueFollowUps(other) = %v, %v; want [someone else's]", got, err)
	}

	// Completing links the closing interaction, which must be the customer's.
	strange := e.newCustomer(t, e.tenant)
	foreign, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: strange, Interaction: call(now)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rel.CompleteFollowUp(ctx, &customerv1.CompleteFollowUpRequest{FollowUpId: late.GetFollowUpId(), Outcome: "talked", InteractionId: foreign.GetInteraction().GetInteractionId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("CompleteFollowUp(another customer's interaction) = %v, want NotFound", err)
	}
	if _, err := e.rel.CompleteFollowUp(ctx, &customerv1.CompleteFollowUpRequest{FollowUpId: late.GetFollowUpId()}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["outcome"] {
		t.Fatalf("CompleteFollowUp(no outcome) = %v, want InvalidArgument on outcome", err)
	}
	own, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: call(now)})
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.rel.CompleteFollowUp(ctx, &customerv1.CompleteFollowUpRequest{FollowUpId: late.GetFollowUpId(), Outcome: "talked", InteractionId: own.GetInteraction().GetInteractionId(), Etag: late.GetEtag()})
	if err != nil || done.GetFollowUp().GetStatus() != customerv1.FollowUpStatus_FOLLOW_UP_STATUS_DONE || done.GetFollowUp().GetCloseTime() == nil ||
		done.GetFollowUp().GetInteractionId() != own.GetInteraction().GetInteractionId() {
		t.Fatalf("CompleteFollowUp = %v, %v; want done, closed, linked", done, err)
	}
	if _, err := e.rel.CancelFollowUp(ctx, &customerv1.CancelFollowUpRequest{FollowUpId: late.GetFollowUpId()}); status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "FOLLOW_UP_CLOSED" {
		t.Fatalf("CancelFollowUp(done) = %v, want FailedPrecondition FOLLOW_UP_CLOSED", err)
	}
	if _, err := e.rel.CancelFollowUp(ctx, &customerv1.CancelFollowUpRequest{FollowUpId: later.GetFollowUpId(), Reason: "customer moved"}); err != nil {
		t.Fatalf("CancelFollowUp: %v", err)
	}
	moved := &customerv1.FollowUp{FollowUpId: future.GetFollowUpId(), DueTime: timestamppb.New(now.Add(-time.Minute)), RemindTime: timestamppb.New(now.Add(-2 * time.Minute)), Etag: future.GetEtag()}
	if _, err := e.rel.UpdateFollowUp(ctx, &customerv1.UpdateFollowUpRequest{FollowUp: moved, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"due_time", "remind_time"}}}); err != nil {
		t.Fatalf("UpdateFollowUp: %v", err)
	}
	overdue, err = e.rel.ListOverdueFollowUps(ctx, &customerv1.ListOverdueFollowUpsRequest{})
	if got := titles(overdue.GetFollowUps()); err != nil || len(got) != 1 || got[0] != "future" {
		t.Fatalf("ListOverdueFollowUps(me) after closing two and moving one = %v, %v; want [future]", got, err)
	}

	lists := []struct {
		name string
		req  *customerv1.ListFollowUpsRequest
		want []string
	}{
		{"all by due", &customerv1.ListFollowUpsRequest{}, []string{"late", "someone else's", "later", "future"}},
		{"open", &customerv1.ListFollowUpsRequest{Status: customerv1.FollowUpStatus_FOLLOW_UP_STATUS_OPEN}, []string{"someone else's", "future"}},
		{"mine", &customerv1.ListFollowUpsRequest{AssigneeId: me}, []string{"late", "later", "future"}},
		{"customer", &customerv1.ListFollowUpsRequest{CustomerId: e.customer, DueStartTime: timestamppb.New(now.Add(-3 * time.Hour))}, []string{"someone else's", "later", "future"}},
		{"due range", &customerv1.ListFollowUpsRequest{DueStartTime: timestamppb.New(now.Add(-3 * time.Hour)), DueEndTime: timestamppb.New(now.Add(-30 * time.Minute))}, []string{"someone else's", "later"}},
	}
	for _, tt := range lists {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.PageSize = 1
			var got []string
			for {
				page, err := e.rel.ListFollowUps(e.as(t, e.tenant, auth.RoleAnalyst), req)
				if err != nil {
					t.Fatalf("ListFollowUps(%s): %v", tt.name, err)
				}
				got = append(got, titles(page.GetFollowUps())...)
				if page.GetNextPageToken() == "" {
					break
				}
				req.PageToken = page.GetNextPageToken()
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ListFollowUps(%s) = %v, want %v", tt.name, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ListFollowUps(%s) = %v, want %v", tt.name, got, tt.want)
				}
			}
		})
	}
}

func TestConcurrentFollowUpUpdates(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := e.asPrincipal(t, e.tenant, e.rep, auth.RoleSalesRep)
	r, err := e.rel.CreateFollowUp(ctx, &customerv1.CreateFollowUpRequest{FollowUp: &customerv1.FollowUp{CustomerId: e.customer, Title: "Call", DueTime: timestamppb.New(day0)}})
	if err != nil {
		t.Fatal(err)
	}
	f := r.GetFollowUp()
	const writers = 8
	codesSeen := make([]codes.Code, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := e.rel.UpdateFollowUp(ctx, &customerv1.UpdateFollowUpRequest{
				FollowUp:   &customerv1.FollowUp{FollowUpId: f.GetFollowUpId(), Title: "Call " + string(rune('A'+i)), Etag: f.GetEtag()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
			})
			codesSeen[i] = status.Code(err)
		})
	}
	wg.Wait()
	ok, aborted := 0, 0
	for _, c := range codesSeen {
		switch c {
		case codes.OK:
			ok++
		case codes.Aborted:
			aborted++
		}
	}
	if ok != 1 || aborted != writers-1 {
		t.Fatalf("concurrent updates on one etag: %d ok, %d aborted; want 1 and %d", ok, aborted, writers-1)
	}
}

func TestFollowUpPlans(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleAdmin)
	valid := func() *customerv1.FollowUpPlan {
		return &customerv1.FollowUpPlan{DisplayName: "Thank-you call", EventSource: customerv1.EventSource_EVENT_SOURCE_PIPELINE,
			EventType: "opportunity.created", Delay: durationpb.New(72 * time.Hour), RemindBefore: durationpb.New(time.Hour),
			Title: "Thank the customer", AssigneeRule: customerv1.AssigneeRule_ASSIGNEE_RULE_FIXED, AssigneeId: uuid.NewString(), Active: true}
	}
	with := func(f func(p *customerv1.FollowUpPlan)) *customerv1.FollowUpPlan {
		p := valid()
		f(p)
		return p
	}
	bad := []struct {
		name      string
		in        *customerv1.FollowUpPlan
		wantField string
	}{
		{"fixed without assignee", with(func(p *customerv1.FollowUpPlan) { p.AssigneeId = "" }), "follow_up_plan.assignee_id"},
		{"no source", with(func(p *customerv1.FollowUpPlan) { p.EventSource = 0 }), "follow_up_plan.event_source"},
		{"bad event type", with(func(p *customerv1.FollowUpPlan) { p.EventType = "Ticket Created" }), "follow_up_plan.event_type"},
		{"follow-up events", with(func(p *customerv1.FollowUpPlan) {
			p.EventSource, p.EventType = customerv1.EventSource_EVENT_SOURCE_CUSTOMER, "customer.follow_up.completed"
		}), "follow_up_plan.event_type"},
		{"negative delay", with(func(p *customerv1.FollowUpPlan) { p.Delay = durationpb.New(-time.Hour) }), "follow_up_plan.delay"},
		{"no title", with(func(p *customerv1.FollowUpPlan) { p.Title = " " }), "follow_up_plan.title"},
		{"no rule", with(func(p *customerv1.FollowUpPlan) { p.AssigneeRule = 0 }), "follow_up_plan.assignee_rule"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := e.rel.CreateFollowUpPlan(ctx, &customerv1.CreateFollowUpPlanRequest{FollowUpPlan: tt.in}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("CreateFollowUpPlan(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
	t.Run("lifecycle", func(t *testing.T) {
		t.Parallel()
		r, err := e.rel.CreateFollowUpPlan(ctx, &customerv1.CreateFollowUpPlanRequest{FollowUpPlan: valid(), RequestId: "plan-1"})
		if err != nil || r.GetFollowUpPlan().GetActiveTime() == nil {
			t.Fatalf("CreateFollowUpPlan = %v, %v; want an active_time", r, err)
		}
		p := r.GetFollowUpPlan()
		again, err := e.rel.CreateFollowUpPlan(ctx, &customerv1.CreateFollowUpPlanRequest{FollowUpPlan: valid(), RequestId: "plan-1"})
		if err != nil || again.GetFollowUpPlan().GetFollowUpPlanId() != p.GetFollowUpPlanId() {
			t.Fatalf("repeated CreateFollowUpPlan = %v, %v; want %s", again, err, p.GetFollowUpPlanId())
		}
		off, err := e.rel.UpdateFollowUpPlan(ctx, &customerv1.UpdateFollowUpPlanRequest{
			FollowUpPlan: &customerv1.FollowUpPlan{FollowUpPlanId: p.GetFollowUpPlanId(), Etag: p.GetEtag()},
			UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"active"}},
		})
		if err != nil || off.GetFollowUpPlan().GetActive() {
			t.Fatalf("UpdateFollowUpPlan(active=false) = %v, %v", off, err)
		}
		on, err := e.rel.UpdateFollowUpPlan(ctx, &customerv1.UpdateFollowUpPlanRequest{
			FollowUpPlan: &customerv1.FollowUpPlan{FollowUpPlanId: p.GetFollowUpPlanId(), Active: true, Etag: off.GetFollowUpPlan().GetEtag()},
			UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"active"}},
		})
		if err != nil || !on.GetFollowUpPlan().GetActiveTime().AsTime().After(p.GetActiveTime().AsTime()) {
			t.Fatalf("UpdateFollowUpPlan(active=true) = %v, %v; want a later active_time", on, err)
		}
		if _, err := e.rel.DeleteFollowUpPlan(ctx, &customerv1.DeleteFollowUpPlanRequest{FollowUpPlanId: p.GetFollowUpPlanId(), Etag: p.GetEtag()}); status.Code(err) != codes.Aborted {
			t.Fatalf("DeleteFollowUpPlan(stale etag) = %v, want Aborted", err)
		}
		if _, err := e.rel.DeleteFollowUpPlan(ctx, &customerv1.DeleteFollowUpPlanRequest{FollowUpPlanId: p.GetFollowUpPlanId()}); err != nil {
			t.Fatalf("DeleteFollowUpPlan: %v", err)
		}
		list, err := e.rel.ListFollowUpPlans(e.as(t, e.tenant, auth.RoleAnalyst), &customerv1.ListFollowUpPlansRequest{})
		if err != nil || len(list.GetFollowUpPlans()) != 0 {
			t.Fatalf("ListFollowUpPlans after delete = %v, %v; want none", list, err)
		}
		list, err = e.rel.ListFollowUpPlans(ctx, &customerv1.ListFollowUpPlansRequest{ShowDeleted: true})
		if err != nil || len(list.GetFollowUpPlans()) != 1 {
			t.Fatalf("ListFollowUpPlans(show_deleted) = %v, %v; want one", list, err)
		}
	})
}

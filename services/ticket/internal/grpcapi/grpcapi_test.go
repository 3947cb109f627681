package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/ticket/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/ticket/internal/postgres"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// fakeCustomers stands in for the customer service.
type fakeCustomers struct {
	known map[uuid.UUID]bool
	// down fails the lookup as an unreachable customer service would.
	down uuid.UUID
}

func (f fakeCustomers) Exists(_ context.Context, id uuid.UUID) (bool, error) {
	if id == f.down {
		return false, fmt.Errorf("%w: connection refused", ticket.ErrCustomerLookup)
	}
	return f.known[id], nil
}

// fakePartners stands in for the customer service's partner links.
type fakePartners struct {
	links map[uuid.UUID][]uuid.UUID
	// down fails the lookup of this customer.
	down uuid.UUID
}

func (f fakePartners) CustomerPartners(_ context.Context, id uuid.UUID) ([]uuid.UUID, error) {
	if id == f.down {
		return nil, fmt.Errorf("%w: connection refused", ticket.ErrCustomerLookup)
	}
	return f.links[id], nil
}

// env is a ticket service on a real socket over a private database.
type env struct {
	client ticketv1.TicketServiceClient
	svc    *ticket.Service
	db     *pgtest.DB
	tokens *grpctest.Tokens
	// tenant and other are two tenants' ids.
	tenant, other string
	// acme exists in tenant's customer master; gone is unknown; down cannot be checked.
	acme, gone, down uuid.UUID
	// acme is linked to reseller and to distributor above it; unlinkable
	// exists, but its partner links cannot be read.
	reseller, distributor, unlinkable uuid.UUID
	// segment is a segment the fake customer service knows; its members
	// are segments.members.
	segment  uuid.UUID
	segments *fakeSegments
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	e := &env{db: db, tokens: tokens, tenant: uuid.NewString(), other: uuid.NewString(),
		acme: uuid.New(), gone: uuid.New(), down: uuid.New(), reseller: uuid.New(), distributor: uuid.New(), unlinkable: uuid.New()}
	customers := fakeCustomers{known: map[uuid.UUID]bool{e.acme: true, e.unlinkable: true}, down: e.down}
	partners := fakePartners{links: map[uuid.UUID][]uuid.UUID{e.acme: {e.reseller, e.distributor}}, down: e.unlinkable}
	e.segment, e.segments = uuid.New(), &fakeSegments{}
	e.svc = ticket.New(postgres.New(db.App), customers, partners, e.segments)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		ticketv1.RegisterTicketServiceServer(srv, grpcapi.New(e.svc, db.App, 20*time.Millisecond))
	})
	e.client = ticketv1.NewTicketServiceClient(conn)
	return e
}

// as returns a context carrying a fresh JWT for a principal of tenant with roles.
func (e *env) as(t *testing.T, tenant string, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant, roles...)
}

func (e *env) admin(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RoleAdmin) }

func (e *env) widget() *ticketv1.Ticket {
	return &ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "Broken widget"}
}

func (e *env) create(t *testing.T, ctx context.Context, tk *ticketv1.Ticket) *ticketv1.Ticket {
	t.Helper()
	resp, err := e.client.CreateTicket(ctx, &ticketv1.CreateTicketRequest{Ticket: tk})
	if err != nil {
		t.Fatalf("CreateTicket: %v", err)
	}
	return resp.GetTicket()
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSupportAgent)
	ignore := protocmp.IgnoreFields(&ticketv1.Ticket{}, "ticket_id", "create_time", "update_time")
	tests := []struct {
		name string
		in   *ticketv1.Ticket
		want *ticketv1.Ticket
	}{
		{
			"defaults",
			&ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "  Broken widget "},
			&ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "Broken widget", Priority: ticketv1.Priority_PRIORITY_MEDIUM,
				Status: ticketv1.Status_STATUS_NEW, Channel: ticketv1.Channel_CHANNEL_WEB, Type: ticketv1.TicketType_TICKET_TYPE_SERVICE_REQUEST, Etag: "1",
				CustomerPartnerIds: []string{e.reseller.String(), e.distributor.String()}},
		},
		{
			"every field",
			&ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "Outage", Description: "  Line 1\nLine 2\n",
				Priority: ticketv1.Priority_PRIORITY_URGENT, Status: ticketv1.Status_STATUS_OPEN, Channel: ticketv1.Channel_CHANNEL_PHONE},
			&ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "Outage", Description: "  Line 1\nLine 2\n",
				Priority: ticketv1.Priority_PRIORITY_URGENT, Status: ticketv1.Status_STATUS_OPEN, Channel: ticketv1.Channel_CHANNEL_PHONE,
				Type: ticketv1.TicketType_TICKET_TYPE_SERVICE_REQUEST, Etag: "1", CustomerPartnerIds: []string{e.reseller.String(), e.distributor.String()}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			created := e.create(t, ctx, tt.in)
			if diff := cmp.Diff(tt.want, created, protocmp.Transform(), ignore); diff != "" {
				t.Errorf("CreateTicket (-want +got):\n%s", diff)
			}
			// An analyst reads tickets.
			got, err := e.client.GetTicket(e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.GetTicketRequest{TicketId: created.GetTicketId()})
			if err != nil {
				t.Fatalf("GetTicket: %v", err)
			}
			if diff := cmp.Diff(created, got.GetTicket(), protocmp.Transform()); diff != "" {
				t.Errorf("GetTicket (-created +got):\n%s", diff)
			}
		})
	}
	for _, tt := range []struct {
		id   string
		want codes.Code
	}{
		{uuid.NewString(), codes.NotFound},
		{"not-a-uuid", codes.InvalidArgument},
	} {
		if _, err := e.client.GetTicket(ctx, &ticketv1.GetTicketRequest{TicketId: tt.id}); status.Code(err) != tt.want {
			t.Errorf("GetTicket(%q) = %v, want %v", tt.id, err, tt.want)
		}
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	with := func(change func(tk *ticketv1.Ticket)) *ticketv1.CreateTicketRequest {
		tk := e.widget()
		change(tk)
		return &ticketv1.CreateTicketRequest{Ticket: tk}
	}
	tests := []struct {
		name      string
		req       *ticketv1.CreateTicketRequest
		wantField string
	}{
		{"no ticket", &ticketv1.CreateTicketRequest{}, "ticket"},
		{"missing customer", with(func(tk *ticketv1.Ticket) { tk.CustomerId = "" }), "ticket.customer_id"},
		{"bad customer id", with(func(tk *ticketv1.Ticket) { tk.CustomerId = "acme" }), "ticket.customer_id"},
		{"unknown customer", with(func(tk *ticketv1.Ticket) { tk.CustomerId = e.gone.String() }), "ticket.customer_id"},
		{"missing subject", with(func(tk *ticketv1.Ticket) { tk.Subject = "\t" }), "ticket.subject"},
		{"long subject", with(func(tk *ticketv1.Ticket) { tk.Subject = strings.Repeat("s", 301) }), "ticket.subject"},
		{"long description", with(func(tk *ticketv1.Ticket) { tk.Description = strings.Repeat("d", 20001) }), "ticket.description"},
		{"unknown priority", with(func(tk *ticketv1.Ticket) { tk.Priority = 9 }), "ticket.priority"},
		{"unknown status", with(func(tk *ticketv1.Ticket) { tk.Status = -1 }), "ticket.status"},
		{"unknown channel", with(func(tk *ticketv1.Ticket) { tk.Channel = 99 }), "ticket.channel"},
		{"long request id", &ticketv1.CreateTicketRequest{Ticket: e.widget(), RequestId: strings.Repeat("r", 65)}, "request_id"},
	}
	// The group returns when its parallel cases have finished.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				_, err := e.client.CreateTicket(ctx, tt.req)
				if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
					t.Fatalf("CreateTicket(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
				}
			})
		}
	})
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM outbox)").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after rejected creates = %d (%v), want 0", n, err)
	}
}

func TestCreateCustomerLookupFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tk := e.widget()
	tk.CustomerId = e.down.String()
	_, err := e.client.CreateTicket(e.admin(t), &ticketv1.CreateTicketRequest{Ticket: tk})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("CreateTicket with the customer service down = %v, want Unavailable", err)
	}
}

func TestCreateIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSalesRep)
	first, err := e.client.CreateTicket(ctx, &ticketv1.CreateTicketRequest{Ticket: e.widget(), RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreateTicket: %v", err)
	}
	// A retry gets the first result, even when the customer can no longer be checked.
	retry := e.widget()
	retry.CustomerId = e.down.String()
	again, err := e.client.CreateTicket(ctx, &ticketv1.CreateTicketRequest{Ticket: retry, RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreateTicket repeat: %v", err)
	}
	if diff := cmp.Diff(first.GetTicket(), again.GetTicket(), protocmp.Transform()); diff != "" {
		t.Fatalf("repeated request_id (-first +repeat):\n%s", diff)
	}
	var rows, events int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM outbox)").Scan(&rows, &events); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || events != 1 {
		t.Fatalf("after a repeated create: %d rows, %d events; want 1 each", rows, events)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSalesManager)
	var ids []string // oldest first
	for i := range 5 {
		tk := e.widget()
		tk.Subject = fmt.Sprintf("Issue %d", i)
		if i%2 == 0 {
			tk.Priority = ticketv1.Priority_PRIORITY_HIGH
		}
		ids = append(ids, e.create(t, ctx, tk).GetTicketId())
	}
	e.create(t, e.as(t, e.other, auth.RoleAdmin), e.widget()) // never listed for tenant
	var got []string
	token := ""
	for range len(ids) {
		resp, err := e.client.ListTickets(ctx, &ticketv1.ListTicketsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListTickets: %v", err)
		}
		for _, tk := range resp.GetTickets() {
			got = append(got, tk.GetTicketId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged ids, newest first (-want +got):\n%s", diff)
	}
	resp, err := e.client.ListTickets(ctx, &ticketv1.ListTicketsRequest{Filter: `priority = PRIORITY_HIGH AND status = STATUS_NEW AND channel = CHANNEL_WEB`})
	if err != nil {
		t.Fatalf("ListTickets(filter): %v", err)
	}
	got = nil
	for _, tk := range resp.GetTickets() {
		got = append(got, tk.GetTicketId())
	}
	if diff := cmp.Diff([]string{ids[4], ids[2], ids[0]}, got); diff != "" || resp.GetNextPageToken() != "" {
		t.Errorf("filtered ids (-want +got):\n%s (next token %q)", diff, resp.GetNextPageToken())
	}
	bad := []struct {
		req       *ticketv1.ListTicketsRequest
		wantField string
	}{
		{&ticketv1.ListTicketsRequest{Filter: `subject = "x"`}, "filter"},
		{&ticketv1.ListTicketsRequest{Filter: `priority = HIGH`}, "filter"},
		{&ticketv1.ListTicketsRequest{PageSize: -1}, "page_size"},
		{&ticketv1.ListTicketsRequest{PageToken: "garbage"}, "page_token"},
	}
	for _, tt := range bad {
		if _, err := e.client.ListTickets(ctx, tt.req); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("ListTickets(%v) = %v, want InvalidArgument on %s", tt.req, err, tt.wantField)
		}
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.create(t, e.admin(t), e.widget()).GetTicketId()
	get := &ticketv1.GetTicketRequest{TicketId: id}
	tests := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated},
		{"unknown API key", grpctest.Bearer(t.Context(), "rk_nonsense"), codes.Unauthenticated},
		{"forged token", grpctest.Bearer(t.Context(), "eyJhbGciOiJub25lIn0.e30."), codes.Unauthenticated},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), codes.NotFound},
		// Partner users read only their partner's tickets, when the tenant allows it.
		{"partner user", e.as(t, e.tenant, auth.RolePartnerUser), codes.NotFound},
		{"no roles", e.as(t, e.tenant), codes.PermissionDenied},
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := e.client.GetTicket(tt.ctx, get); status.Code(err) != tt.want {
				t.Fatalf("GetTicket(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	for _, role := range []auth.Role{auth.RoleAnalyst, auth.RolePartnerUser} {
		_, err := e.client.CreateTicket(e.as(t, e.tenant, role), &ticketv1.CreateTicketRequest{Ticket: e.widget()})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("CreateTicket as %s = %v, want PermissionDenied", role, err)
		}
	}
	if resp, err := e.client.ListTickets(e.as(t, e.tenant, auth.RolePartnerUser), &ticketv1.ListTicketsRequest{}); err != nil || len(resp.GetTickets()) != 0 {
		t.Errorf("ListTickets as partner user = %v, %v; want none", resp, err)
	}
	// The other tenant's NotFound is RLS at work: the row exists.
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM tickets WHERE ticket_id = $1", id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("owner sees %d rows (%v), want 1", n, err)
	}
}

func TestWatchEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	var ids []string
	for range 3 {
		ids = append(ids, e.create(t, ctx, e.widget()).GetTicketId())
	}
	// The other tenant's events never appear.
	e.create(t, e.as(t, e.other, auth.RoleAdmin), e.widget())
	read := func(after string, n int) []string {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		stream, err := e.client.WatchEvents(sctx, &ticketv1.WatchEventsRequest{AfterCursor: after})
		if err != nil {
			t.Fatal(err)
		}
		var cursors []string
		for range n {
			r, err := stream.Recv()
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			ev := r.GetEvent()
			var tk ticketv1.Ticket
			if err := ev.GetPayload().UnmarshalTo(&tk); err != nil {
				t.Fatal(err)
			}
			want := ids[len(ids)-n+len(cursors)]
			if tk.GetTicketId() != want || ev.GetType() != "ticket.created" || ev.GetSource() != "ticket" ||
				ev.GetResource() != "tickets/"+want || ev.GetTenantId() != e.tenant {
				t.Fatalf("event %d = %s %s %s about %s, want ticket.created from ticket about %s",
					len(cursors), ev.GetType(), ev.GetSource(), ev.GetResource(), tk.GetTicketId(), want)
			}
			cursors = append(cursors, ev.GetCursor())
		}
		return cursors
	}
	all := read("", 3)
	rest := read(all[0], 2)
	if diff := cmp.Diff(all[1:], rest); diff != "" {
		t.Fatalf("resumed cursors (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		req  *ticketv1.WatchEventsRequest
		want codes.Code
	}{
		{"bogus cursor", ctx, &ticketv1.WatchEventsRequest{AfterCursor: "bogus"}, codes.InvalidArgument},
		{"support agent", e.as(t, e.tenant, auth.RoleSupportAgent), &ticketv1.WatchEventsRequest{}, codes.PermissionDenied},
	} {
		stream, err := e.client.WatchEvents(tt.ctx, tt.req)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != tt.want {
			t.Errorf("WatchEvents(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
}

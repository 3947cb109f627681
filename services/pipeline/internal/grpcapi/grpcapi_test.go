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

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/pipeline/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
)

// fakeCustomers stands in for the customer service.
type fakeCustomers struct {
	known map[uuid.UUID]bool
	// down fails the lookup as an unreachable customer service would.
	down uuid.UUID
}

func (f fakeCustomers) Exists(_ context.Context, id uuid.UUID) (bool, error) {
	if id == f.down {
		return false, fmt.Errorf("%w: connection refused", pipeline.ErrCustomerLookup)
	}
	return f.known[id], nil
}

// env is a pipeline service on a real socket over a private database.
type env struct {
	client pipelinev1.PipelineServiceClient
	db     *pgtest.DB
	tokens *grpctest.Tokens
	// tenant and other are two tenants' ids.
	tenant, other string
	// acme exists in tenant's customer master; gone is unknown; down cannot be checked.
	acme, gone, down uuid.UUID
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	e := &env{db: db, tokens: tokens, tenant: uuid.NewString(), other: uuid.NewString(),
		acme: uuid.New(), gone: uuid.New(), down: uuid.New()}
	customers := fakeCustomers{known: map[uuid.UUID]bool{e.acme: true}, down: e.down}
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		pipelinev1.RegisterPipelineServiceServer(srv, grpcapi.New(pipeline.New(postgres.New(db.App), customers), db.App, 20*time.Millisecond))
	})
	e.client = pipelinev1.NewPipelineServiceClient(conn)
	return e
}

// as returns a context carrying a fresh JWT for a principal of tenant with roles.
func (e *env) as(t *testing.T, tenant string, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant, roles...)
}

// asPrincipal is as for a given principal, for rules about owners.
func (e *env) asPrincipal(t *testing.T, tenant string, principal uuid.UUID, roles ...auth.Role) context.Context {
	t.Helper()
	now := time.Now()
	tok, err := e.tokens.Sign(auth.Caller{TenantID: tenant, PrincipalID: principal.String(), Roles: roles}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

func (e *env) admin(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RoleAdmin) }

// clockFields are the fields that change with the time of reading.
var clockFields = protocmp.IgnoreFields(&pipelinev1.Opportunity{}, "time_in_stage")

func (e *env) pilot() *pipelinev1.Opportunity {
	return &pipelinev1.Opportunity{
		CustomerId: e.acme.String(), DisplayName: "Pilot",
		Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 150000},
	}
}

func (e *env) create(t *testing.T, ctx context.Context, o *pipelinev1.Opportunity) *pipelinev1.Opportunity {
	t.Helper()
	resp, err := e.client.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{Opportunity: o})
	if err != nil {
		t.Fatalf("CreateOpportunity: %v", err)
	}
	return resp.GetOpportunity()
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := uuid.New()
	ctx := e.asPrincipal(t, e.tenant, owner, auth.RoleSalesRep)
	in := e.pilot()
	in.Amount.CurrencyCode = " usd "
	in.ExpectedCloseDate = "2026-03-31"
	in.EngageDate = "2026-01-15"
	created := e.create(t, ctx, in)
	want := &pipelinev1.Opportunity{
		CustomerId: e.acme.String(), DisplayName: "Pilot", Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 150000},
		Stage: pipelinev1.Stage_STAGE_PROSPECTING, ExpectedCloseDate: "2026-03-31", OwnerId: owner.String(), Etag: "1",
		StageKind: pipelinev1.StageKind_STAGE_KIND_OPEN, EngageDate: "2026-01-15",
	}
	ignore := protocmp.IgnoreFields(&pipelinev1.Opportunity{}, "opportunity_id", "create_time", "update_time",
		"pipeline_id", "stage_id", "stage_enter_time", "time_in_stage")
	if diff := cmp.Diff(want, created, protocmp.Transform(), ignore); diff != "" {
		t.Errorf("CreateOpportunity (-want +got):\n%s", diff)
	}
	if _, err := uuid.Parse(created.GetOpportunityId()); err != nil || created.GetCreateTime() == nil {
		t.Errorf("CreateOpportunity gave id %q, create_time %v; want a UUID and a time", created.GetOpportunityId(), created.GetCreateTime())
	}
	// A support agent reads the pipeline.
	got, err := e.client.GetOpportunity(e.as(t, e.tenant, auth.RoleSupportAgent), &pipelinev1.GetOpportunityRequest{OpportunityId: created.GetOpportunityId()})
	if err != nil {
		t.Fatalf("GetOpportunity: %v", err)
	}
	if diff := cmp.Diff(created, got.GetOpportunity(), protocmp.Transform(), clockFields); diff != "" {
		t.Errorf("GetOpportunity (-created +got):\n%s", diff)
	}
	for _, tt := range []struct {
		id   string
		want codes.Code
	}{
		{uuid.NewString(), codes.NotFound},
		{"not-a-uuid", codes.InvalidArgument},
	} {
		if _, err := e.client.GetOpportunity(ctx, &pipelinev1.GetOpportunityRequest{OpportunityId: tt.id}); status.Code(err) != tt.want {
			t.Errorf("GetOpportunity(%q) = %v, want %v", tt.id, err, tt.want)
		}
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	with := func(change func(o *pipelinev1.Opportunity)) *pipelinev1.Opportunity {
		o := e.pilot()
		change(o)
		return o
	}
	long := strings.Repeat("r", 65)
	tests := []struct {
		name      string
		req       *pipelinev1.CreateOpportunityRequest
		wantField string
	}{
		{"no opportunity", &pipelinev1.CreateOpportunityRequest{}, "opportunity"},
		{"missing customer", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.CustomerId = "" })}, "opportunity.customer_id"},
		{"bad customer id", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.CustomerId = "acme" })}, "opportunity.customer_id"},
		{"unknown customer", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.CustomerId = e.gone.String() })}, "opportunity.customer_id"},
		{"missing name", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.DisplayName = " " })}, "opportunity.display_name"},
		{"missing amount", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.Amount = nil })}, "opportunity.amount"},
		{"missing currency", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.Amount.CurrencyCode = "" })}, "opportunity.amount.currency_code"},
		{"bad currency", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.Amount.CurrencyCode = "US$" })}, "opportunity.amount.currency_code"},
		{"negative amount", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.Amount.AmountMinor = -1 })}, "opportunity.amount.amount_minor"},
		{"unknown currency", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.Amount.CurrencyCode = "ABC" })}, "opportunity.amount.currency_code"},
		{"no-money currency", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.Amount.CurrencyCode = "XXX" })}, "opportunity.amount.currency_code"},
		{"close before engage", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) {
			o.EngageDate, o.ExpectedCloseDate = "2026-02-01", "2026-01-31"
		})}, "opportunity.expected_close_date"},
		{"bad engage date", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.EngageDate = "2026-13-01" })}, "opportunity.engage_date"},
		{"line without product", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) {
			o.LineItems = []*pipelinev1.LineItem{{Quantity: 1, UnitPriceMinor: 100, PriceOverridden: true}}
		})}, "opportunity.line_items[0].product_id"},
		{"line of nothing", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) {
			o.LineItems = []*pipelinev1.LineItem{{ProductId: uuid.NewString(), Quantity: 0, PriceOverridden: true}}
		})}, "opportunity.line_items[0].quantity"},
		{"bad stage id", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.StageId = "first" })}, "opportunity.stage_id"},
		{"unknown stage", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.Stage = 42 })}, "opportunity.stage"},
		{"bad close date", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.ExpectedCloseDate = "31/03/2026" })}, "opportunity.expected_close_date"},
		{"impossible close date", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.ExpectedCloseDate = "2026-02-30" })}, "opportunity.expected_close_date"},
		{"year zero", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.ExpectedCloseDate = "0000-01-01" })}, "opportunity.expected_close_date"},
		{"bad owner", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.OwnerId = "me" })}, "opportunity.owner_id"},
		{"bad partner", &pipelinev1.CreateOpportunityRequest{Opportunity: with(func(o *pipelinev1.Opportunity) { o.SourcePartnerId = "them" })}, "opportunity.source_partner_id"},
		{"long request id", &pipelinev1.CreateOpportunityRequest{Opportunity: e.pilot(), RequestId: long}, "request_id"},
	}
	// The group returns when its parallel cases have finished.
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				_, err := e.client.CreateOpportunity(ctx, tt.req)
				if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
					t.Fatalf("CreateOpportunity(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
				}
			})
		}
	})
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM opportunities) + (SELECT count(*) FROM outbox)").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after rejected creates = %d (%v), want 0", n, err)
	}
}

func TestCreateCustomerLookupFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.pilot()
	o.CustomerId = e.down.String()
	_, err := e.client.CreateOpportunity(e.admin(t), &pipelinev1.CreateOpportunityRequest{Opportunity: o})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("CreateOpportunity with the customer service down = %v, want Unavailable", err)
	}
}

func TestCreateIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	first, err := e.client.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{Opportunity: e.pilot(), RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreateOpportunity: %v", err)
	}
	// A retry gets the first result, even when the customer can no longer be checked.
	retry := e.pilot()
	retry.CustomerId = e.down.String()
	again, err := e.client.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{Opportunity: retry, RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreateOpportunity repeat: %v", err)
	}
	if diff := cmp.Diff(first.GetOpportunity(), again.GetOpportunity(), protocmp.Transform(), clockFields); diff != "" {
		t.Fatalf("repeated request_id (-first +repeat):\n%s", diff)
	}
	var rows, events int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM opportunities), (SELECT count(*) FROM outbox WHERE type LIKE 'opportunity.%')").Scan(&rows, &events); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || events != 1 {
		t.Fatalf("after a repeated create: %d rows, %d events; want 1 each", rows, events)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleAnalyst)
	writer := e.as(t, e.tenant, auth.RoleSalesManager)
	var ids []string // oldest first
	for i := range 5 {
		o := e.pilot()
		o.DisplayName = fmt.Sprintf("Deal %d", i)
		if i%2 == 0 {
			o.Stage = pipelinev1.Stage_STAGE_WON
		}
		ids = append(ids, e.create(t, writer, o).GetOpportunityId())
	}
	e.create(t, e.as(t, e.other, auth.RoleAdmin), e.pilot()) // never listed for tenant
	var got []string
	token := ""
	for range len(ids) {
		resp, err := e.client.ListOpportunities(ctx, &pipelinev1.ListOpportunitiesRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListOpportunities: %v", err)
		}
		for _, o := range resp.GetOpportunities() {
			got = append(got, o.GetOpportunityId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged ids, newest first (-want +got):\n%s", diff)
	}
	resp, err := e.client.ListOpportunities(ctx, &pipelinev1.ListOpportunitiesRequest{Filter: `stage = STAGE_WON AND customer_id = "` + e.acme.String() + `"`})
	if err != nil {
		t.Fatalf("ListOpportunities(filter): %v", err)
	}
	got = nil
	for _, o := range resp.GetOpportunities() {
		got = append(got, o.GetOpportunityId())
	}
	if diff := cmp.Diff([]string{ids[4], ids[2], ids[0]}, got); diff != "" || resp.GetNextPageToken() != "" {
		t.Errorf("filtered ids (-want +got):\n%s (next token %q)", diff, resp.GetNextPageToken())
	}
	bad := []struct {
		req       *pipelinev1.ListOpportunitiesRequest
		wantField string
	}{
		{&pipelinev1.ListOpportunitiesRequest{Filter: `display_name = "x"`}, "filter"},
		{&pipelinev1.ListOpportunitiesRequest{Filter: `stage = WON`}, "filter"},
		{&pipelinev1.ListOpportunitiesRequest{PageSize: -1}, "page_size"},
		{&pipelinev1.ListOpportunitiesRequest{PageToken: "garbage"}, "page_token"},
	}
	for _, tt := range bad {
		if _, err := e.client.ListOpportunities(ctx, tt.req); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("ListOpportunities(%v) = %v, want InvalidArgument on %s", tt.req, err, tt.wantField)
		}
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.create(t, e.admin(t), e.pilot()).GetOpportunityId()
	get := &pipelinev1.GetOpportunityRequest{OpportunityId: id}
	tests := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated},
		{"unknown API key", grpctest.Bearer(t.Context(), "rk_nonsense"), codes.Unauthenticated},
		{"forged token", grpctest.Bearer(t.Context(), "eyJhbGciOiJub25lIn0.e30."), codes.Unauthenticated},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), codes.NotFound},
		{"partner user of no partner", e.as(t, e.tenant, auth.RolePartnerUser), codes.NotFound},
		{"no roles", e.as(t, e.tenant), codes.PermissionDenied},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := e.client.GetOpportunity(tt.ctx, get); status.Code(err) != tt.want {
				t.Fatalf("GetOpportunity(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	for _, role := range []auth.Role{auth.RoleAnalyst, auth.RoleSupportAgent, auth.RolePartnerUser} {
		_, err := e.client.CreateOpportunity(e.as(t, e.tenant, role), &pipelinev1.CreateOpportunityRequest{Opportunity: e.pilot()})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("CreateOpportunity as %s = %v, want PermissionDenied", role, err)
		}
	}
	if got, err := e.client.ListOpportunities(e.as(t, e.tenant, auth.RolePartnerUser), &pipelinev1.ListOpportunitiesRequest{}); err != nil || len(got.GetOpportunities()) != 0 {
		t.Errorf("ListOpportunities as partner user of no partner = %v, %v; want none", got, err)
	}
	// The other tenant's NotFound is RLS at work: the row exists.
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM opportunities WHERE opportunity_id = $1", id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("owner sees %d rows (%v), want 1", n, err)
	}
}

func TestWatchEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	var ids []string
	for range 3 {
		ids = append(ids, e.create(t, ctx, e.pilot()).GetOpportunityId())
	}
	// The other tenant's events never appear.
	e.create(t, e.as(t, e.other, auth.RoleAdmin), e.pilot())
	read := func(after string, n int) []string {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		// The tenant's default pipeline, made on first use, has its own event.
		stream, err := e.client.WatchEvents(sctx, &pipelinev1.WatchEventsRequest{AfterCursor: after, Types: []string{"opportunity.created"}})
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
			var o pipelinev1.Opportunity
			if err := ev.GetPayload().UnmarshalTo(&o); err != nil {
				t.Fatal(err)
			}
			want := ids[len(ids)-n+len(cursors)]
			if o.GetOpportunityId() != want || ev.GetType() != "opportunity.created" || ev.GetSource() != "pipeline" ||
				ev.GetResource() != "opportunities/"+want || ev.GetTenantId() != e.tenant {
				t.Fatalf("event %d = %s %s %s about %s, want opportunity.created from pipeline about %s",
					len(cursors), ev.GetType(), ev.GetSource(), ev.GetResource(), o.GetOpportunityId(), want)
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
		req  *pipelinev1.WatchEventsRequest
		want codes.Code
	}{
		{"bogus cursor", ctx, &pipelinev1.WatchEventsRequest{AfterCursor: "bogus"}, codes.InvalidArgument},
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), &pipelinev1.WatchEventsRequest{}, codes.PermissionDenied},
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

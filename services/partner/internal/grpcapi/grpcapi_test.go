package grpcapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/enablement"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/partner/internal/leadoffer"
	"github.com/rapportcrm/rapport/services/partner/internal/mdf"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
	"github.com/rapportcrm/rapport/services/partner/internal/program"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
	"github.com/rapportcrm/rapport/services/partner/internal/sellthrough"
)

// env is a partner service on a real socket over a private database, with
// fakes of its peers.
type env struct {
	partners partnerv1.PartnerServiceClient
	deals    partnerv1.DealRegistrationServiceClient
	finance  partnerv1.PartnerFinanceServiceClient
	program  partnerv1.PartnerProgramServiceClient
	sell     partnerv1.SellThroughServiceClient
	scores   partnerv1.PartnerScorecardServiceClient
	leads    partnerv1.LeadDistributionServiceClient
	funds    partnerv1.MarketingFundServiceClient
	enable   partnerv1.EnablementServiceClient
	db       *pgtest.DB
	tokens   *grpctest.Tokens
	// tenant and other are two tenants' ids.
	tenant, other string
	customers     *fakeCustomers
	opportunities *fakeOpportunities
	orders        *fakeOrders
	clock         *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	e := &env{db: db, tokens: tokens, tenant: uuid.NewString(), other: uuid.NewString(),
		customers: newFakeCustomers(), opportunities: newFakeOpportunities(), orders: newFakeOrders(), clock: &clock{}}
	store := postgres.New(db.App)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		partnerv1.RegisterPartnerServiceServer(srv, grpcapi.NewPartners(partner.New(store), db.App, 20*time.Millisecond))
		svc := dealreg.New(store.DealRegistrations(), e.customers, e.opportunities, e.clock.now)
		partnerv1.RegisterDealRegistrationServiceServer(srv, grpcapi.NewDealRegistrations(svc))
		partnerv1.RegisterPartnerFinanceServiceServer(srv, grpcapi.NewFinance(finance.New(store.Finance(), e.orders, e.clock.now)))
		partnerv1.RegisterPartnerProgramServiceServer(srv, grpcapi.NewProgram(program.New(store.Program(), e.orders, e.clock.now)))
		partnerv1.RegisterLeadDistributionServiceServer(srv, grpcapi.NewLeadOffers(leadoffer.New(store.LeadOffers(), e.clock.now)))
		partnerv1.RegisterMarketingFundServiceServer(srv, grpcapi.NewFunds(mdf.New(store.Funds())))
		partnerv1.RegisterEnablementServiceServer(srv, grpcapi.NewEnablement(enablement.New(store.Enablement())))
		partnerv1.RegisterSellThroughServiceServer(srv, grpcapi.NewSellThrough(sellthrough.New(store.SellThrough())))
		partnerv1.RegisterPartnerScorecardServiceServer(srv, grpcapi.NewScorecards(scorecard.New(store.Scorecards(), e.opportunities, e.orders)))
	})
	e.partners = partnerv1.NewPartnerServiceClient(conn)
	e.deals = partnerv1.NewDealRegistrationServiceClient(conn)
	e.finance = partnerv1.NewPartnerFinanceServiceClient(conn)
	e.program = partnerv1.NewPartnerProgramServiceClient(conn)
	e.sell = partnerv1.NewSellThroughServiceClient(conn)
	e.scores = partnerv1.NewPartnerScorecardServiceClient(conn)
	e.leads = partnerv1.NewLeadDistributionServiceClient(conn)
	e.funds = partnerv1.NewMarketingFundServiceClient(conn)
	e.enable = partnerv1.NewEnablementServiceClient(conn)
	return e
}

// as returns a context carrying a JWT for a new principal of tenant with roles.
func (e *env) as(t *testing.T, tenant string, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant, roles...)
}

// admin is the first tenant's admin.
func (e *env) admin(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RoleAdmin) }

func acme() *partnerv1.Partner {
	return &partnerv1.Partner{DisplayName: "  Acme Channel  ", Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER, Tier: " gold ", Region: "CA", City: "Toronto"}
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	created, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: acme()})
	if err != nil {
		t.Fatalf("CreatePartner: %v", err)
	}
	p := created.GetPartner()
	if p.GetDisplayName() != "Acme Channel" || p.GetTier() != "gold" || p.GetStatus() != partnerv1.PartnerStatus_PARTNER_STATUS_APPLICANT ||
		p.GetEtag() == "" || p.GetCreateTime() == nil {
		t.Fatalf("CreatePartner = %v, want trimmed fields, status APPLICANT, an etag and a create_time", p)
	}
	if _, err := uuid.Parse(p.GetPartnerId()); err != nil {
		t.Fatalf("partner_id %q is not a UUID", p.GetPartnerId())
	}
	got, err := e.partners.GetPartner(e.as(t, e.tenant, auth.RoleSalesRep), &partnerv1.GetPartnerRequest{PartnerId: p.GetPartnerId()})
	if err != nil {
		t.Fatalf("GetPartner: %v", err)
	}
	if got.GetPartner().GetDisplayName() != p.GetDisplayName() || got.GetPartner().GetEtag() != p.GetEtag() {
		t.Fatalf("GetPartner = %v, want %v", got.GetPartner(), p)
	}
	if _, err := e.partners.GetPartner(ctx, &partnerv1.GetPartnerRequest{PartnerId: "nope"}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["partner_id"] {
		t.Fatalf("GetPartner(nope) = %v, want InvalidArgument on partner_id", err)
	}
	if _, err := e.partners.GetPartner(ctx, &partnerv1.GetPartnerRequest{PartnerId: uuid.NewString()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetPartner(unknown) = %v, want NotFound", err)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	reseller := partnerv1.PartnerType_PARTNER_TYPE_RESELLER
	long := strings.Repeat("x", 101)
	tests := []struct {
		name      string
		req       *partnerv1.CreatePartnerRequest
		wantField string
	}{
		{"no partner", &partnerv1.CreatePartnerRequest{}, "partner"},
		{"missing name", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{Type: reseller}}, "partner.display_name"},
		{"blank name", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "   ", Type: reseller}}, "partner.display_name"},
		{"long name", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: strings.Repeat("é", 201), Type: reseller}}, "partner.display_name"},
		{"missing type", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "X"}}, "partner.type"},
		{"unknown type", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "X", Type: 42}}, "partner.type"},
		{"unknown status", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "X", Type: reseller, Status: 99}}, "partner.status"},
		{"long tier", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "X", Type: reseller, Tier: long}}, "partner.tier"},
		{"long region", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "X", Type: reseller, Region: long}}, "partner.region"},
		{"long city", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "X", Type: reseller, City: long}}, "partner.city"},
		{"long external id", &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{DisplayName: "X", Type: reseller, ExternalId: long}}, "partner.external_id"},
		{"long request id", &partnerv1.CreatePartnerRequest{Partner: acme(), RequestId: strings.Repeat("r", 65)}, "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.partners.CreatePartner(ctx, tt.req)
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("CreatePartner(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
	// A name of exactly 200 characters and fields of exactly 100 are fine.
	ok := &partnerv1.Partner{DisplayName: strings.Repeat("é", 200), Type: reseller, Tier: long[:100], Region: long[:100], City: long[:100], ExternalId: long[:100]}
	if _, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: ok, RequestId: strings.Repeat("r", 64)}); err != nil {
		t.Fatalf("CreatePartner at the limits = %v, want OK", err)
	}
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM partners").Scan(&n); err != nil || n != 1 {
		t.Fatalf("partners after rejected creates = %d (%v), want only the valid one", n, err)
	}
}

func TestCreateIdempotentAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	first, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: acme(), RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreatePartner: %v", err)
	}
	again, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: acme(), RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreatePartner repeat: %v", err)
	}
	if again.GetPartner().GetPartnerId() != first.GetPartner().GetPartnerId() {
		t.Fatalf("repeat request_id gave %s, want %s", again.GetPartner().GetPartnerId(), first.GetPartner().GetPartnerId())
	}
	// The same request_id in another tenant is another request.
	theirs, err := e.partners.CreatePartner(e.as(t, e.other, auth.RoleSalesManager), &partnerv1.CreatePartnerRequest{Partner: acme(), RequestId: "req-1"})
	if err != nil || theirs.GetPartner().GetPartnerId() == first.GetPartner().GetPartnerId() {
		t.Fatalf("CreatePartner(other tenant, same request_id) = %v, %v; want a new partner", theirs, err)
	}
	var rows, events, audits int
	err = e.db.Owner.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM partners WHERE tenant_id = $1),
		(SELECT count(*) FROM outbox WHERE tenant_id = $1 AND type = 'partner.created'), (SELECT count(*) FROM audit_log WHERE tenant_id = $1)`, e.tenant).
		Scan(&rows, &events, &audits)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 || events != 1 || audits != 1 {
		t.Fatalf("after a repeated create: %d rows, %d events, %d audit rows; want 1 each", rows, events, audits)
	}
}

func TestListPagingAndFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	specs := []struct {
		name   string
		typ    partnerv1.PartnerType
		status partnerv1.PartnerStatus
		region string
	}{
		{"P1", partnerv1.PartnerType_PARTNER_TYPE_RESELLER, partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, "CA"},
		{"P2", partnerv1.PartnerType_PARTNER_TYPE_AGENT, 0, "CA"},
		{"P3", partnerv1.PartnerType_PARTNER_TYPE_RESELLER, partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, "TX"},
		{"P4", partnerv1.PartnerType_PARTNER_TYPE_RESELLER, 0, "CA"},
		{"P5", partnerv1.PartnerType_PARTNER_TYPE_OEM, partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, "CA"},
	}
	for _, s := range specs {
		p := &partnerv1.Partner{DisplayName: s.name, Type: s.typ, Status: s.status, Region: s.region, Tier: "gold"}
		if _, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: p}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.partners.CreatePartner(e.as(t, e.other, auth.RoleAdmin), &partnerv1.CreatePartnerRequest{Partner: acme()}); err != nil {
		t.Fatal(err)
	}
	list := func(filter string, size int32) []string {
		t.Helper()
		var got []string
		token := ""
		for {
			resp, err := e.partners.ListPartners(ctx, &partnerv1.ListPartnersRequest{PageSize: size, PageToken: token, Filter: filter})
			if err != nil {
				t.Fatalf("ListPartners(%q): %v", filter, err)
			}
			if len(resp.GetPartners()) > int(size) {
				t.Fatalf("ListPartners(page_size %d) returned %d", size, len(resp.GetPartners()))
			}
			for _, p := range resp.GetPartners() {
				got = append(got, p.GetDisplayName())
			}
			if token = resp.GetNextPageToken(); token == "" {
				return got
			}
		}
	}
	tests := []struct {
		filter string
		want   string
	}{
		{"", "P5 P4 P3 P2 P1"},
		{"type = PARTNER_TYPE_RESELLER", "P4 P3 P1"},
		{`type = PARTNER_TYPE_RESELLER AND region = "CA"`, "P4 P1"},
		{"status = PARTNER_STATUS_APPLICANT", "P4 P2"},
		{`tier = "gold" AND NOT status = PARTNER_STATUS_ACTIVE`, "P4 P2"},
		{`region = "NY"`, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(list(tt.filter, 2), " "); got != tt.want {
			t.Errorf("ListPartners(%q) = %q, want %q (newest first)", tt.filter, got, tt.want)
		}
	}
	bad := []*partnerv1.ListPartnersRequest{
		{Filter: `city = "Toronto"`}, {Filter: `type = RESELLER`}, {Filter: `type =`}, {PageSize: -1}, {PageToken: "garbage"},
	}
	for _, req := range bad {
		if _, err := e.partners.ListPartners(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListPartners(%v) = %v, want InvalidArgument", req, err)
		}
	}
	first, err := e.partners.ListPartners(ctx, &partnerv1.ListPartnersRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.partners.ListPartners(ctx, &partnerv1.ListPartnersRequest{PageSize: 1, PageToken: first.GetNextPageToken(), Filter: `region = "CA"`}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("token reused with another filter = %v, want InvalidArgument", err)
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, err := e.partners.CreatePartner(e.admin(t), &partnerv1.CreatePartnerRequest{Partner: acme()})
	if err != nil {
		t.Fatal(err)
	}
	id := c.GetPartner().GetPartnerId()
	tests := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated},
		{"unknown api key", grpctest.Bearer(t.Context(), "rk_nonsense"), codes.Unauthenticated},
		{"forged token", grpctest.Bearer(t.Context(), "eyJhbGciOiJub25lIn0.e30."), codes.Unauthenticated},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), codes.NotFound},
		{"partner user of no partner", e.as(t, e.tenant, auth.RolePartnerUser), codes.NotFound},
		{"partner user of another partner", e.partnerUser(t, e.tenant, uuid.NewString()), codes.NotFound},
		{"support agent", e.as(t, e.tenant, auth.RoleSupportAgent), codes.PermissionDenied},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), codes.OK},
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.partners.GetPartner(tt.ctx, &partnerv1.GetPartnerRequest{PartnerId: id}); status.Code(err) != tt.want {
				t.Fatalf("GetPartner(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	if l, err := e.partners.ListPartners(e.as(t, e.tenant, auth.RolePartnerUser), &partnerv1.ListPartnersRequest{}); err != nil || len(l.GetPartners()) != 0 {
		t.Fatalf("ListPartners as partner user of no partner = %v, %v; want none", l, err)
	}
	if _, err := e.partners.CreatePartner(e.as(t, e.tenant, auth.RoleSalesRep), &partnerv1.CreatePartnerRequest{Partner: acme()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CreatePartner as sales rep = %v, want PermissionDenied", err)
	}
	if _, err := e.partners.CreatePartner(e.as(t, e.tenant, auth.RoleSalesManager), &partnerv1.CreatePartnerRequest{Partner: acme()}); err != nil {
		t.Fatalf("CreatePartner as sales manager = %v, want OK", err)
	}
	other, err := e.partners.ListPartners(e.as(t, e.other, auth.RoleAdmin), &partnerv1.ListPartnersRequest{})
	if err != nil || len(other.GetPartners()) != 0 {
		t.Fatalf("ListPartners(other tenant) = %v, %v; want none", other, err)
	}
	// The row exists behind RLS: the service role sees nothing without a tenant.
	var visible int
	if err := e.db.App.QueryRow(t.Context(), "SELECT count(*) FROM partners").Scan(&visible); err != nil || visible != 0 {
		t.Fatalf("service role without a tenant sees %d rows (%v), want 0", visible, err)
	}
}

func TestWatchEventsResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	var ids []string
	for range 3 {
		c, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: acme()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.GetPartner().GetPartnerId())
	}
	// The other tenant's events never appear.
	if _, err := e.partners.CreatePartner(e.as(t, e.other, auth.RoleAdmin), &partnerv1.CreatePartnerRequest{Partner: acme()}); err != nil {
		t.Fatal(err)
	}
	read := func(after string, n int) []string {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		stream, err := e.partners.WatchEvents(sctx, &partnerv1.WatchEventsRequest{AfterCursor: after})
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
			var p partnerv1.Partner
			if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
				t.Fatal(err)
			}
			want := ids[len(ids)-n+len(cursors)]
			if p.GetPartnerId() != want || ev.GetType() != "partner.created" || ev.GetSource() != "partner" || ev.GetTenantId() != e.tenant {
				t.Fatalf("event %d = %v about %s, want partner.created from partner about %s", len(cursors), ev, p.GetPartnerId(), want)
			}
			cursors = append(cursors, ev.GetCursor())
		}
		return cursors
	}
	all := read("", 3)
	rest := read(all[0], 2)
	if rest[0] != all[1] || rest[1] != all[2] {
		t.Fatalf("resumed cursors %v, want %v", rest, all[1:])
	}
	stream, err := e.partners.WatchEvents(ctx, &partnerv1.WatchEventsRequest{AfterCursor: "bogus"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("WatchEvents(bogus cursor) = %v, want InvalidArgument", err)
	}
	stream, err = e.partners.WatchEvents(e.as(t, e.tenant, auth.RoleSalesRep), &partnerv1.WatchEventsRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("WatchEvents as sales rep = %v, want PermissionDenied", err)
	}
}

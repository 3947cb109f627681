package grpcapi_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/iamclient"
)

// member is a principal of the admin's tenant and a context acting as it.
type member struct {
	id  string
	ctx context.Context
}

// principal creates a principal through the API and signs a token carrying
// what the principal holds, as IssueToken would.
func (e *env) principal(t *testing.T, p *iamv1.Principal) member {
	t.Helper()
	admin := e.as(t.Context(), e.adminKey)
	created, err := e.iam.CreatePrincipal(admin, &iamv1.CreatePrincipalRequest{Principal: p})
	if err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	return e.member(t, created.GetPrincipal())
}

func (e *env) member(t *testing.T, p *iamv1.Principal) member {
	t.Helper()
	c := auth.Caller{TenantID: p.GetTenantId(), PrincipalID: p.GetPrincipalId(), TeamIDs: p.GetTeamIds(), PartnerID: p.GetPartnerId()}
	for _, r := range p.GetRoles() {
		c.Roles = append(c.Roles, iamclient.RoleFrom(r))
	}
	tok, err := e.tokens.Sign(c, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return member{id: p.GetPrincipalId(), ctx: e.as(t.Context(), tok)}
}

func TestRecordLevelAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.as(t.Context(), e.adminKey)
	team, err := e.iam.CreateTeam(admin, &iamv1.CreateTeamRequest{Team: &iamv1.Team{DisplayName: "North"}})
	if err != nil {
		t.Fatalf("CreateTeam: %v", err)
	}
	north := []string{team.GetTeam().GetTeamId()}
	rep := []iamv1.Role{iamv1.Role_ROLE_SALES_REP}
	rep1 := e.principal(t, &iamv1.Principal{DisplayName: "Rep One", Roles: rep, TeamIds: north})
	rep2 := e.principal(t, &iamv1.Principal{DisplayName: "Rep Two", Roles: rep, TeamIds: north})
	loner := e.principal(t, &iamv1.Principal{DisplayName: "Loner", Roles: rep})
	partnerID := uuid.NewString()
	partner := e.principal(t, &iamv1.Principal{DisplayName: "Reseller", Roles: []iamv1.Role{iamv1.Role_ROLE_PARTNER_USER}, PartnerId: partnerID})
	analyst := e.principal(t, &iamv1.Principal{DisplayName: "Analyst", Roles: []iamv1.Role{iamv1.Role_ROLE_ANALYST}})

	// A rep's new customer is the rep's own.
	mine := e.create(t, rep1.ctx, ada())
	if mine.GetOwnerId() != rep1.id {
		t.Fatalf("owner of a rep's customer = %q, want the rep %q", mine.GetOwnerId(), rep1.id)
	}
	lonely := e.create(t, loner.ctx, &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: "Loner Ltd"})

	sees := func(m member, id string) codes.Code {
		_, err := e.customers.GetCustomer(m.ctx, &customerv1.GetCustomerRequest{CustomerId: id})
		return status.Code(err)
	}
	for _, tt := range []struct {
		name string
		who  member
		id   string
		want codes.Code
	}{
		{"owner", rep1, mine.GetCustomerId(), codes.OK},
		{"team mate", rep2, mine.GetCustomerId(), codes.OK},
		{"rep of no team", loner, mine.GetCustomerId(), codes.NotFound},
		{"team rep, loner's customer", rep1, lonely.GetCustomerId(), codes.NotFound},
		{"unlinked partner user", partner, mine.GetCustomerId(), codes.NotFound},
		{"analyst", analyst, mine.GetCustomerId(), codes.OK},
	} {
		if got := sees(tt.who, tt.id); got != tt.want {
			t.Errorf("%s: GetCustomer = %v, want %v", tt.name, got, tt.want)
		}
	}
	list, err := e.customers.ListCustomers(loner.ctx, &customerv1.ListCustomersRequest{})
	if err != nil || len(list.GetCustomers()) != 1 || list.GetCustomers()[0].GetCustomerId() != lonely.GetCustomerId() {
		t.Fatalf("loner's ListCustomers = %v, %v; want only its own customer", list.GetCustomers(), err)
	}

	// A team mate may change the customer; an outsider may not even find it,
	// and may not hand a new customer to a rep of another team.
	if _, err := e.customers.UpdateCustomer(rep2.ctx, &customerv1.UpdateCustomerRequest{
		Customer: &customerv1.Customer{CustomerId: mine.GetCustomerId(), Industry: "Maths"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}}); err != nil {
		t.Fatalf("UpdateCustomer by a team mate: %v", err)
	}
	if _, err := e.customers.UpdateCustomer(loner.ctx, &customerv1.UpdateCustomerRequest{
		Customer: &customerv1.Customer{CustomerId: mine.GetCustomerId(), Industry: "X"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}}); status.Code(err) != codes.NotFound {
		t.Fatalf("UpdateCustomer by an outsider = %v, want NotFound", err)
	}
	given := ada()
	given.OwnerId = rep1.id
	if _, err := e.customers.CreateCustomer(loner.ctx, &customerv1.CreateCustomerRequest{Customer: given}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CreateCustomer for another team's rep = %v, want PermissionDenied", err)
	}

	// Joining the team shares the loner's customers with it at once.
	joined, err := e.iam.UpdatePrincipal(admin, &iamv1.UpdatePrincipalRequest{
		Principal: &iamv1.Principal{PrincipalId: loner.id, TeamIds: north}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"team_ids"}}})
	if err != nil {
		t.Fatalf("UpdatePrincipal: %v", err)
	}
	if !slices.Equal(joined.GetPrincipal().GetTeamIds(), north) {
		t.Fatalf("team_ids = %v, want %v", joined.GetPrincipal().GetTeamIds(), north)
	}
	if got := sees(rep1, lonely.GetCustomerId()); got != codes.OK {
		t.Fatalf("after the loner joined, rep1 GetCustomer = %v, want OK", got)
	}

	// A partner user sees the customers linked to its partner, whole.
	if _, err := e.db.Owner.Exec(t.Context(), `INSERT INTO customer_partners (tenant_id, customer_id, partner_id) SELECT tenant_id, customer_id, $2 FROM customers WHERE customer_id = $1`,
		mine.GetCustomerId(), partnerID); err != nil {
		t.Fatal(err)
	}
	got, err := e.customers.GetCustomer(partner.ctx, &customerv1.GetCustomerRequest{CustomerId: mine.GetCustomerId()})
	if err != nil || got.GetCustomer().GetEmail() == "" {
		t.Fatalf("linked partner user's GetCustomer = %v, %v; want the whole customer", got, err)
	}
	// An analyst reads without personal data.
	got, err = e.customers.GetCustomer(analyst.ctx, &customerv1.GetCustomerRequest{CustomerId: mine.GetCustomerId()})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.GetCustomer(); c.GetEmail() != "" || c.GetPhone() != "" || c.GetDisplayName() != "" || c.GetIndustry() != "Maths" {
		t.Fatalf("analyst's GetCustomer = %v, want email, phone and a person's name blank, the rest kept", c)
	}

	bad := []struct {
		name  string
		req   *iamv1.UpdatePrincipalRequest
		field string
	}{
		{"unknown team", &iamv1.UpdatePrincipalRequest{Principal: &iamv1.Principal{PrincipalId: rep2.id, TeamIds: []string{uuid.NewString()}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"team_ids"}}}, "principal.team_ids"},
		{"partner user without partner", &iamv1.UpdatePrincipalRequest{Principal: &iamv1.Principal{PrincipalId: rep2.id, Roles: []iamv1.Role{iamv1.Role_ROLE_PARTNER_USER}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"roles"}}}, "principal.partner_id"},
		{"bad mask", &iamv1.UpdatePrincipalRequest{Principal: &iamv1.Principal{PrincipalId: rep2.id}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tenant"}}}, "update_mask"},
	}
	for _, tt := range bad {
		if _, err := e.iam.UpdatePrincipal(admin, tt.req); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
			t.Errorf("%s: UpdatePrincipal = %v, want InvalidArgument on %s", tt.name, err, tt.field)
		}
	}
	if _, err := e.iam.UpdatePrincipal(rep1.ctx, &iamv1.UpdatePrincipalRequest{Principal: &iamv1.Principal{PrincipalId: rep1.id, DisplayName: "Boss"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("UpdatePrincipal by a rep = %v, want PermissionDenied", err)
	}
	if _, err := e.iam.CreateTeam(admin, &iamv1.CreateTeamRequest{Team: &iamv1.Team{DisplayName: "North"}}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("CreateTeam with a taken name = %v, want AlreadyExists", err)
	}
}

package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
	"github.com/rapportcrm/rapport/services/customer/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
	"github.com/rapportcrm/rapport/services/customer/internal/partnerlink"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/privacy"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// testMaxBytes is the document upload limit of the test server.
const testMaxBytes = 1 << 20

// env is a customer service on a real socket over a private database.
type env struct {
	customers customerv1.CustomerServiceClient
	classes   customerv1.ClassificationServiceClient
	profiles  customerv1.ProfileServiceClient
	privacy   customerv1.PrivacyServiceClient
	docs      customerv1.DocumentServiceClient
	loyalty   customerv1.LoyaltyServiceClient
	links     customerv1.PartnerLinkServiceClient
	iam       iamv1.IdentityServiceClient
	db        *pgtest.DB
	// adminKey is the operator tenant's admin key; otherKey belongs to a second tenant.
	adminKey, otherKey string
	tokens             *grpctest.Tokens
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	ids := identity.New(store, tokens.Signer)
	cfg := auth.Config{PublicKey: tokens.PublicKey(), KeyCacheTTL: time.Second}
	authn, err := cfg.Build(ids)
	if err != nil {
		t.Fatal(err)
	}
	conn := grpctest.Serve(t, authn, func(srv *grpcserver.Server) {
		customerv1.RegisterCustomerServiceServer(srv, grpcapi.NewCustomers(customer.New(store), search.New(store), db.App, 20*time.Millisecond))
		customerv1.RegisterProfileServiceServer(srv, grpcapi.NewProfiles(profile.New(store)))
		iamv1.RegisterIdentityServiceServer(srv, grpcapi.NewIdentity(ids, authn.Keys()))
		customerv1.RegisterClassificationServiceServer(srv, grpcapi.NewClassification(classify.New(store)))
		customerv1.RegisterPrivacyServiceServer(srv, grpcapi.NewPrivacy(privacy.New(store)))
		customerv1.RegisterDocumentServiceServer(srv, grpcapi.NewDocuments(document.New(store.Documents(), testMaxBytes)))
		customerv1.RegisterLoyaltyServiceServer(srv, grpcapi.NewLoyalty(loyalty.New(store)))
		customerv1.RegisterPartnerLinkServiceServer(srv, grpcapi.NewPartnerLinks(partnerlink.New(store)))
	}, grpcapi.AuthenticateApiKeyMethod, grpcapi.DownloadSharedDocumentMethod)
	e := &env{
		customers: customerv1.NewCustomerServiceClient(conn),
		classes:   customerv1.NewClassificationServiceClient(conn),
		profiles:  customerv1.NewProfileServiceClient(conn),
		privacy:   customerv1.NewPrivacyServiceClient(conn),
		docs:      customerv1.NewDocumentServiceClient(conn),
		loyalty:   customerv1.NewLoyaltyServiceClient(conn),
		links:     customerv1.NewPartnerLinkServiceClient(conn),
		iam:       iamv1.NewIdentityServiceClient(conn),
		db:        db, tokens: tokens,
	}
	_, _, k, err := ids.Bootstrap(t.Context(), "Operator", "Admin")
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	e.adminKey = k.Secret
	resp, err := e.iam.CreateTenant(e.as(t.Context(), e.adminKey), &iamv1.CreateTenantRequest{DisplayName: "Other Ltd"})
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	e.otherKey = resp.GetApiKeySecret()
	return e
}

// as returns ctx carrying credential as a bearer token.
func (e *env) as(ctx context.Context, credential string) context.Context {
	return grpctest.Bearer(ctx, credential)
}

// token signs a JWT for a principal of the admin's tenant with roles.
func (e *env) token(t *testing.T, roles ...auth.Role) string {
	t.Helper()
	caller, err := e.iam.GetCaller(e.as(t.Context(), e.adminKey), &iamv1.GetCallerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.tokens.Sign(auth.Caller{TenantID: caller.GetCaller().GetTenantId(), PrincipalID: uuid.NewString(), Roles: roles}, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ada() *customerv1.Customer {
	return &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: "Ada Lovelace", Email: "Ada@Example.com", Phone: "+441632960961", Tags: []string{"vip"}}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	tests := []struct {
		name      string
		in        *customerv1.Customer
		wantField string
	}{
		{"missing name", &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON}, "customer.display_name"},
		{"missing kind", &customerv1.Customer{DisplayName: "X"}, "customer.kind"},
		{"unknown kind", &customerv1.Customer{DisplayName: "X", Kind: 42}, "customer.kind"},
		{"bad email", &customerv1.Customer{DisplayName: "X", Kind: 1, Email: "not-an-email"}, "customer.email"},
		{"bad phone", &customerv1.Customer{DisplayName: "X", Kind: 1, Phone: "0123"}, "customer.phone"},
		{"bad country", &customerv1.Customer{DisplayName: "X", Kind: 1, CountryCode: "GBR"}, "customer.country_code"},
		{"bad owner", &customerv1.Customer{DisplayName: "X", Kind: 1, OwnerId: "nope"}, "customer.owner_id"},
		{"no customer", nil, "customer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: tt.in})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("CreateCustomer(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 0 {
		t.Fatalf("customers after rejected creates = %d (%v), want 0", n, err)
	}
}

func TestCreateIdempotentAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	first, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: ada(), RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	again, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: ada(), RequestId: "req-1"})
	if err != nil {
		t.Fatalf("CreateCustomer repeat: %v", err)
	}
	if again.GetCustomer().GetCustomerId() != first.GetCustomer().GetCustomerId() {
		t.Fatalf("repeat request_id gave %s, want %s", again.GetCustomer().GetCustomerId(), first.GetCustomer().GetCustomerId())
	}
	var rows, events, audits int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM outbox), (SELECT count(*) FROM audit_log)").Scan(&rows, &events, &audits); err != nil {
		t.Fatal(err)
	}
	// One change for the customer and one for each contact point made from its e-mail and phone.
	if rows != 1 || events != 3 || audits != 3 {
		t.Fatalf("after a repeated create: %d rows, %d events, %d audit rows; want 1, 3, 3", rows, events, audits)
	}
}

func TestUpdateDeleteUndelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	untagged := ada()
	untagged.Tags = nil // a customer without tags must survive every write path
	c, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: untagged})
	if err != nil {
		t.Fatal(err)
	}
	cur := c.GetCustomer()
	upd := &customerv1.Customer{CustomerId: cur.GetCustomerId(), Etag: cur.GetEtag(), Industry: "Mathematics", DisplayName: "ignored"}
	u, err := e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{Customer: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}})
	if err != nil {
		t.Fatalf("UpdateCustomer: %v", err)
	}
	if u.GetCustomer().GetIndustry() != "Mathematics" || u.GetCustomer().GetDisplayName() != "Ada Lovelace" || u.GetCustomer().GetEtag() == cur.GetEtag() {
		t.Fatalf("UpdateCustomer = %v, want industry changed only and a new etag", u.GetCustomer())
	}
	// The old etag is stale now.
	_, err = e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{Customer: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateCustomer with stale etag = %v, want Aborted", err)
	}
	_, err = e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{Customer: &customerv1.Customer{CustomerId: cur.GetCustomerId()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"create_time"}}})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["update_mask"] {
		t.Fatalf("UpdateCustomer(create_time) = %v, want InvalidArgument on update_mask", err)
	}
	d, err := e.customers.DeleteCustomer(ctx, &customerv1.DeleteCustomerRequest{CustomerId: cur.GetCustomerId(), Etag: u.GetCustomer().GetEtag()})
	if err != nil || d.GetCustomer().GetDeleteTime() == nil {
		t.Fatalf("DeleteCustomer = %v, %v; want a delete_time", d, err)
	}
	list, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{})
	if err != nil || len(list.GetCustomers()) != 0 {
		t.Fatalf("ListCustomers after delete = %v, %v; want none", list, err)
	}
	list, err = e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{ShowDeleted: true})
	if err != nil || len(list.GetCustomers()) != 1 {
		t.Fatalf("ListCustomers(show_deleted) = %v, %v; want one", list, err)
	}
	if _, err := e.customers.UndeleteCustomer(ctx, &customerv1.UndeleteCustomerRequest{CustomerId: cur.GetCustomerId()}); err != nil {
		t.Fatalf("UndeleteCustomer: %v", err)
	}
	if _, err := e.customers.UndeleteCustomer(ctx, &customerv1.UndeleteCustomerRequest{CustomerId: cur.GetCustomerId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("UndeleteCustomer twice = %v, want FailedPrecondition", err)
	}
}

func TestListPagingFilterOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	names := []string{"Delta", "Alpha", "Echo", "Charlie", "Bravo"}
	for i, n := range names {
		c := &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: n, CountryCode: "GB"}
		if i%2 == 0 {
			c.CountryCode = "DE"
			c.LifecycleStage = customerv1.LifecycleStage_LIFECYCLE_STAGE_CUSTOMER
		}
		if _, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: c}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	token := ""
	for {
		resp, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{PageSize: 2, PageToken: token, OrderBy: "display_name"})
		if err != nil {
			t.Fatalf("ListCustomers: %v", err)
		}
		for _, c := range resp.GetCustomers() {
			got = append(got, c.GetDisplayName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{"Alpha", "Bravo", "Charlie", "Delta", "Echo"}
	if len(got) != len(want) {
		t.Fatalf("paged names = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("paged names = %v, want %v", got, want)
		}
	}
	resp, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{Filter: `country_code = "DE" AND lifecycle_stage = LIFECYCLE_STAGE_CUSTOMER`, OrderBy: "display_name desc"})
	if err != nil {
		t.Fatalf("ListCustomers(filter): %v", err)
	}
	if n := len(resp.GetCustomers()); n != 3 || resp.GetCustomers()[0].GetDisplayName() != "Echo" {
		t.Fatalf("filtered = %v, want Echo, Delta, Alpha", resp.GetCustomers())
	}
	bad := []*customerv1.ListCustomersRequest{
		{Filter: `nope = "x"`}, {Filter: `kind = PERSON`}, {Filter: `create_time > "yesterday"`}, {OrderBy: "email"},
		{PageSize: -1}, {PageToken: "garbage"},
	}
	for _, req := range bad {
		if _, err := e.customers.ListCustomers(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListCustomers(%v) = %v, want InvalidArgument", req, err)
		}
	}
	// A token from one query is refused by another.
	first, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{PageSize: 1, PageToken: first.GetNextPageToken(), Filter: `country_code = "GB"`}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("token reused with another filter = %v, want InvalidArgument", err)
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, err := e.customers.CreateCustomer(e.as(t.Context(), e.adminKey), &customerv1.CreateCustomerRequest{Customer: ada()})
	if err != nil {
		t.Fatal(err)
	}
	id := c.GetCustomer().GetCustomerId()
	get := &customerv1.GetCustomerRequest{CustomerId: id}
	tests := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated},
		{"garbage key", e.as(t.Context(), "rk_nonsense"), codes.Unauthenticated},
		{"forged token", e.as(t.Context(), "eyJhbGciOiJub25lIn0.e30."), codes.Unauthenticated},
		{"other tenant", e.as(t.Context(), e.otherKey), codes.NotFound},
		{"partner user of no partner of it", e.as(t.Context(), e.token(t, auth.RolePartnerUser)), codes.NotFound},
		{"analyst by JWT", e.as(t.Context(), e.token(t, auth.RoleAnalyst)), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.customers.GetCustomer(tt.ctx, get); status.Code(err) != tt.want {
				t.Fatalf("GetCustomer(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	if _, err := e.customers.DeleteCustomer(e.as(t.Context(), e.token(t, auth.RoleSalesRep)), &customerv1.DeleteCustomerRequest{CustomerId: id}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("DeleteCustomer as sales rep = %v, want PermissionDenied", err)
	}
	// The row exists behind RLS: only the owner connection sees it from outside the tenant.
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM customers WHERE customer_id = $1", id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("owner sees %d rows (%v), want 1", n, err)
	}
	var visible int
	if err := e.db.App.QueryRow(t.Context(), "SELECT count(*) FROM customers").Scan(&visible); err != nil || visible != 0 {
		t.Fatalf("service role without a tenant sees %d rows (%v), want 0", visible, err)
	}
}

func TestRevokedKeyStopsWorking(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	p, err := e.iam.CreatePrincipal(ctx, &iamv1.CreatePrincipalRequest{Principal: &iamv1.Principal{DisplayName: "Rep", Roles: []iamv1.Role{iamv1.Role_ROLE_SALES_REP}}})
	if err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	k, err := e.iam.CreateApiKey(ctx, &iamv1.CreateApiKeyRequest{PrincipalId: p.GetPrincipal().GetPrincipalId()})
	if err != nil {
		t.Fatalf("CreateApiKey: %v", err)
	}
	repCtx := e.as(t.Context(), k.GetApiKeySecret())
	if _, err := e.customers.ListCustomers(repCtx, &customerv1.ListCustomersRequest{}); err != nil {
		t.Fatalf("ListCustomers as rep: %v", err)
	}
	if _, err := e.iam.CreatePrincipal(repCtx, &iamv1.CreatePrincipalRequest{Principal: &iamv1.Principal{DisplayName: "X", Roles: []iamv1.Role{iamv1.Role_ROLE_ADMIN}}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CreatePrincipal as rep = %v, want PermissionDenied", err)
	}
	if _, err := e.iam.RevokeApiKey(ctx, &iamv1.RevokeApiKeyRequest{ApiKeyId: k.GetApiKey().GetApiKeyId()}); err != nil {
		t.Fatalf("RevokeApiKey: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // the key cache lifetime in this test
	if _, err := e.customers.ListCustomers(repCtx, &customerv1.ListCustomersRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListCustomers with revoked key = %v, want Unauthenticated", err)
	}
	if _, err := e.iam.CreateTenant(repCtx, &iamv1.CreateTenantRequest{DisplayName: "X"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("CreateTenant with revoked key = %v, want Unauthenticated", err)
	}
}

func TestWatchEventsResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	var ids []string
	for range 3 {
		c, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: ada()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.GetCustomer().GetCustomerId())
	}
	// The other tenant's events never appear.
	if _, err := e.customers.CreateCustomer(e.as(t.Context(), e.otherKey), &customerv1.CreateCustomerRequest{Customer: ada()}); err != nil {
		t.Fatal(err)
	}
	read := func(after string, n int) []string {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		stream, err := e.customers.WatchEvents(sctx, &customerv1.WatchEventsRequest{AfterCursor: after, Types: []string{customer.EventCreated}})
		if err != nil {
			t.Fatal(err)
		}
		var cursors []string
		for range n {
			r, err := stream.Recv()
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			var c customerv1.Customer
			if err := r.GetEvent().GetPayload().UnmarshalTo(&c); err != nil {
				t.Fatal(err)
			}
			if want := ids[len(ids)-n+len(cursors)]; c.GetCustomerId() != want {
				t.Fatalf("event %d is about %s, want %s", len(cursors), c.GetCustomerId(), want)
			}
			cursors = append(cursors, r.GetEvent().GetCursor())
		}
		return cursors
	}
	all := read("", 3)
	rest := read(all[0], 2)
	if rest[0] != all[1] || rest[1] != all[2] {
		t.Fatalf("resumed cursors %v, want %v", rest, all[1:])
	}
	stream, err := e.customers.WatchEvents(ctx, &customerv1.WatchEventsRequest{AfterCursor: "bogus"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("WatchEvents(bogus cursor) = %v, want InvalidArgument", err)
	}
}

package grpcapi_test

import (
	"slices"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

func TestSearchCustomers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	var ids []string
	for _, c := range []*customerv1.Customer{
		ada(),
		{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: "Adam Lovell", CountryCode: "GB"},
		{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: "Lovelace Analytical Engines", CountryCode: "GB"},
	} {
		resp, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: c})
		if err != nil {
			t.Fatalf("CreateCustomer(%s): %v", c.GetDisplayName(), err)
		}
		ids = append(ids, resp.GetCustomer().GetCustomerId())
	}
	// The other tenant has its own Ada, which the first tenant must not see.
	if _, err := e.customers.CreateCustomer(e.as(t.Context(), e.otherKey), &customerv1.CreateCustomerRequest{Customer: ada()}); err != nil {
		t.Fatalf("CreateCustomer in the other tenant: %v", err)
	}
	if _, err := e.customers.DeleteCustomer(ctx, &customerv1.DeleteCustomerRequest{CustomerId: ids[1]}); err != nil {
		t.Fatalf("DeleteCustomer: %v", err)
	}

	tests := []struct {
		name      string
		req       *customerv1.SearchCustomersRequest
		want      []string
		wantField string // of the first result
	}{
		{"exact phone first", &customerv1.SearchCustomersRequest{Query: "+44 1632 960961"}, ids[:1], "phone"},
		{"e-mail, any case", &customerv1.SearchCustomersRequest{Query: "ADA@example.COM"}, ids[:1], "email"},
		{"full text before fuzzy, deleted left out", &customerv1.SearchCustomersRequest{Query: "lovelace"}, []string{ids[2], ids[0]}, "display_name"},
		{"deleted included, fuzzy after full text", &customerv1.SearchCustomersRequest{Query: "Adam Lovell", IncludeDeleted: true}, []string{ids[1], ids[0]}, "display_name"},
		{"filtered", &customerv1.SearchCustomersRequest{Query: "lovelace", Filter: `kind = CUSTOMER_KIND_PERSON`}, ids[:1], "display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.customers.SearchCustomers(ctx, tt.req)
			if err != nil {
				t.Fatalf("SearchCustomers(%q): %v", tt.req.GetQuery(), err)
			}
			var got []string
			for _, r := range resp.GetResults() {
				got = append(got, r.GetCustomer().GetCustomerId())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("SearchCustomers(%q) = %v, want %v", tt.req.GetQuery(), got, tt.want)
			}
			if first := resp.GetResults()[0]; !slices.Contains(first.GetMatchedFields(), tt.wantField) || first.GetScore() <= 0 {
				t.Fatalf("SearchCustomers(%q) first result matched %v with score %v, want %s and a positive score", tt.req.GetQuery(), first.GetMatchedFields(), first.GetScore(), tt.wantField)
			}
		})
	}

	other, err := e.customers.SearchCustomers(e.as(t.Context(), e.otherKey), &customerv1.SearchCustomersRequest{Query: "lovelace"})
	if err != nil || len(other.GetResults()) != 1 || slices.Contains(ids, other.GetResults()[0].GetCustomer().GetCustomerId()) {
		t.Fatalf("SearchCustomers in the other tenant = %v, %v; want its own customer only", other, err)
	}

	// Record-level access holds in search as in reads: a rep of no team finds
	// only its own customers, an unlinked partner user none, and analysts,
	// who read customers without personal data, may not search at all.
	loner := e.principal(t, &iamv1.Principal{DisplayName: "Loner", Roles: []iamv1.Role{iamv1.Role_ROLE_SALES_REP}})
	own := e.create(t, loner.ctx, &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: "Ada Lovelace"})
	partner := e.principal(t, &iamv1.Principal{DisplayName: "Reseller", Roles: []iamv1.Role{iamv1.Role_ROLE_PARTNER_USER}, PartnerId: uuid.NewString()})
	for _, tt := range []struct {
		name string
		who  member
		want []string
	}{
		{"rep of no team", loner, []string{own.GetCustomerId()}},
		{"unlinked partner user", partner, nil},
	} {
		resp, err := e.customers.SearchCustomers(tt.who.ctx, &customerv1.SearchCustomersRequest{Query: "ada lovelace"})
		if err != nil {
			t.Fatalf("SearchCustomers as %s: %v", tt.name, err)
		}
		var got []string
		for _, r := range resp.GetResults() {
			got = append(got, r.GetCustomer().GetCustomerId())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("SearchCustomers as %s = %v, want %v", tt.name, got, tt.want)
		}
	}
	analyst := e.as(t.Context(), e.token(t, auth.RoleAnalyst))
	if _, err := e.customers.SearchCustomers(analyst, &customerv1.SearchCustomersRequest{Query: "ada"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("SearchCustomers as an analyst = %v, want PermissionDenied", err)
	}
}

func TestSearchCustomersInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	tests := []struct {
		name      string
		req       *customerv1.SearchCustomersRequest
		wantField string
	}{
		{"no query", &customerv1.SearchCustomersRequest{}, "query"},
		{"blank query", &customerv1.SearchCustomersRequest{Query: " \t "}, "query"},
		{"unknown filter field", &customerv1.SearchCustomersRequest{Query: "ada", Filter: `shoe_size = 9`}, "filter"},
		{"malformed filter", &customerv1.SearchCustomersRequest{Query: "ada", Filter: `kind = `}, "filter"},
		{"negative page size", &customerv1.SearchCustomersRequest{Query: "ada", PageSize: -5}, "page_size"},
		{"foreign page token", &customerv1.SearchCustomersRequest{Query: "ada", PageToken: "eyJxIjoxfQ"}, "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.customers.SearchCustomers(ctx, tt.req)
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("SearchCustomers(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
}

func TestSearchFindsContactPoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	c := e.create(t, ctx, &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: "Mary Somerville"})
	work, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: c.GetCustomerId(), ContactPoint: &customerv1.ContactPoint{
		Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_PHONE, Value: "+441632960000"}})
	if err != nil {
		t.Fatalf("CreateContactPoint(phone): %v", err)
	}
	if _, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: c.GetCustomerId(), ContactPoint: &customerv1.ContactPoint{
		Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_EMAIL, Value: "mary@observatory.example"}}); err != nil {
		t.Fatalf("CreateContactPoint(email): %v", err)
	}
	finds := func(query string) bool {
		t.Helper()
		resp, err := e.customers.SearchCustomers(ctx, &customerv1.SearchCustomersRequest{Query: query})
		if err != nil {
			t.Fatalf("SearchCustomers(%q): %v", query, err)
		}
		return len(resp.GetResults()) == 1 && resp.GetResults()[0].GetCustomer().GetCustomerId() == c.GetCustomerId() && resp.GetResults()[0].GetScore() >= 2
	}
	for _, q := range []string{"01632 960000", "Mary@Observatory.example"} {
		if !finds(q) {
			t.Errorf("SearchCustomers(%q) does not find the customer by its contact point", q)
		}
	}
	if _, err := e.profiles.DeleteContactPoint(ctx, &customerv1.DeleteContactPointRequest{CustomerId: c.GetCustomerId(), ContactPointId: work.GetContactPoint().GetContactPointId()}); err != nil {
		t.Fatalf("DeleteContactPoint: %v", err)
	}
	if finds("01632 960000") {
		t.Error("SearchCustomers still finds the customer by a deleted contact point's phone")
	}
}

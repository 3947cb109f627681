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
)

func TestOperatorsReachEveryTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	operator := e.as(t.Context(), e.adminKey)
	other := e.as(t.Context(), e.otherKey)
	otherCaller, err := e.iam.GetCaller(other, &iamv1.GetCallerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	otherTenant := otherCaller.GetCaller().GetTenantId()
	e.create(t, other, ada())

	var ids []string
	token := ""
	for {
		page, err := e.iam.ListTenants(operator, &iamv1.ListTenantsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatalf("ListTenants: %v", err)
		}
		for _, tn := range page.GetTenants() {
			ids = append(ids, tn.GetTenantId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(ids) != 2 || !slices.Contains(ids, otherTenant) {
		t.Fatalf("ListTenants = %v, want the operator tenant and %s", ids, otherTenant)
	}

	issued, err := e.iam.IssueTenantToken(operator, &iamv1.IssueTenantTokenRequest{TenantId: otherTenant})
	if err != nil {
		t.Fatalf("IssueTenantToken: %v", err)
	}
	reader := e.as(t.Context(), issued.GetToken())
	list, err := e.customers.ListCustomers(reader, &customerv1.ListCustomersRequest{})
	if err != nil || len(list.GetCustomers()) != 1 || list.GetCustomers()[0].GetEmail() != "" {
		t.Fatalf("ListCustomers with a tenant token = %v, %v; want the other tenant's customer without personal data", list, err)
	}
	if _, err := e.customers.CreateCustomer(reader, &customerv1.CreateCustomerRequest{Customer: ada()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CreateCustomer with a tenant token = %v, want PermissionDenied (analyst only)", err)
	}

	for _, tt := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"a tenant that is no operator lists tenants", func() error {
			_, err := e.iam.ListTenants(other, &iamv1.ListTenantsRequest{})
			return err
		}(), codes.PermissionDenied},
		{"a tenant that is no operator issues a token", func() error {
			_, err := e.iam.IssueTenantToken(other, &iamv1.IssueTenantTokenRequest{TenantId: otherTenant})
			return err
		}(), codes.PermissionDenied},
		{"an admin token without the operator claim", func() error {
			_, err := e.iam.ListTenants(e.as(t.Context(), e.token(t, auth.RoleAdmin)), &iamv1.ListTenantsRequest{})
			return err
		}(), codes.PermissionDenied},
		{"unknown tenant", func() error {
			_, err := e.iam.IssueTenantToken(operator, &iamv1.IssueTenantTokenRequest{TenantId: uuid.NewString()})
			return err
		}(), codes.NotFound},
		{"too long", func() error {
			_, err := e.iam.IssueTenantToken(operator, &iamv1.IssueTenantTokenRequest{TenantId: otherTenant, TtlSeconds: 7200})
			return err
		}(), codes.InvalidArgument},
	} {
		if status.Code(tt.err) != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/customer/internal/partnerlink"
)

// partnerUser returns a context for a partner user of the admin's tenant acting for partner.
func (e *env) partnerUser(t *testing.T, partner string) context.Context {
	t.Helper()
	c, err := e.iam.GetCaller(e.as(t.Context(), e.adminKey), &iamv1.GetCallerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.tokens.Sign(auth.Caller{TenantID: c.GetCaller().GetTenantId(), PrincipalID: uuid.NewString(),
		Roles: []auth.Role{auth.RolePartnerUser}, PartnerID: partner}, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return e.as(t.Context(), tok)
}

func TestPartnerLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	links := e.links
	admin := e.as(t.Context(), e.adminKey)
	cust := e.create(t, admin, ada())
	partner := uuid.NewString()
	pu := e.partnerUser(t, partner)

	if _, err := e.customers.GetCustomer(pu, &customerv1.GetCustomerRequest{CustomerId: cust.GetCustomerId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetCustomer(partner user, unlinked) = %v, want NotFound", err)
	}
	for range 2 {
		l, err := links.LinkCustomerToPartner(admin, &customerv1.LinkCustomerToPartnerRequest{CustomerId: cust.GetCustomerId(), PartnerId: partner})
		if err != nil || l.GetLink().GetPartnerId() != partner || l.GetLink().GetLinkTime() == nil {
			t.Fatalf("LinkCustomerToPartner = %v, %v; want the link", l, err)
		}
	}
	if got := e.eventTypes(t, "customers/"+cust.GetCustomerId()+"/partnerLinks/"); len(got) != 1 || got[0] != partnerlink.EventLinked {
		t.Fatalf("events after two links = %v, want one %s", got, partnerlink.EventLinked)
	}
	if _, err := e.customers.GetCustomer(pu, &customerv1.GetCustomerRequest{CustomerId: cust.GetCustomerId()}); err != nil {
		t.Fatalf("GetCustomer(partner user, linked) = %v, want OK", err)
	}
	list, err := links.ListCustomerPartnerLinks(admin, &customerv1.ListCustomerPartnerLinksRequest{CustomerId: cust.GetCustomerId()})
	if err != nil || len(list.GetLinks()) != 1 || list.GetNextPageToken() != "" {
		t.Fatalf("ListCustomerPartnerLinks = %v, %v; want one link", list, err)
	}

	salesRep := e.as(t.Context(), e.token(t, auth.RoleSalesRep))
	tests := []struct {
		name      string
		ctx       context.Context
		req       *customerv1.LinkCustomerToPartnerRequest
		want      codes.Code
		wantField string
	}{
		{"bad customer id", admin, &customerv1.LinkCustomerToPartnerRequest{CustomerId: "x", PartnerId: partner}, codes.InvalidArgument, "customer_id"},
		{"bad partner id", admin, &customerv1.LinkCustomerToPartnerRequest{CustomerId: cust.GetCustomerId()}, codes.InvalidArgument, "partner_id"},
		{"unknown customer", admin, &customerv1.LinkCustomerToPartnerRequest{CustomerId: uuid.NewString(), PartnerId: partner}, codes.NotFound, ""},
		{"other tenant", e.as(t.Context(), e.otherKey), &customerv1.LinkCustomerToPartnerRequest{CustomerId: cust.GetCustomerId(), PartnerId: partner}, codes.NotFound, ""},
		{"sales rep", salesRep, &customerv1.LinkCustomerToPartnerRequest{CustomerId: cust.GetCustomerId(), PartnerId: partner}, codes.PermissionDenied, ""},
		{"partner user", pu, &customerv1.LinkCustomerToPartnerRequest{CustomerId: cust.GetCustomerId(), PartnerId: partner}, codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := links.LinkCustomerToPartner(tt.ctx, tt.req)
			if status.Code(err) != tt.want || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
				t.Fatalf("LinkCustomerToPartner(%s) = %v, want %v %s", tt.name, err, tt.want, tt.wantField)
			}
		})
	}

	if _, err := links.UnlinkCustomerFromPartner(admin, &customerv1.UnlinkCustomerFromPartnerRequest{CustomerId: cust.GetCustomerId(), PartnerId: partner}); err != nil {
		t.Fatalf("UnlinkCustomerFromPartner = %v", err)
	}
	if _, err := links.UnlinkCustomerFromPartner(admin, &customerv1.UnlinkCustomerFromPartnerRequest{CustomerId: cust.GetCustomerId(), PartnerId: partner}); status.Code(err) != codes.NotFound {
		t.Fatalf("UnlinkCustomerFromPartner again = %v, want NotFound", err)
	}
	if _, err := e.customers.GetCustomer(pu, &customerv1.GetCustomerRequest{CustomerId: cust.GetCustomerId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetCustomer(partner user, unlinked again) = %v, want NotFound", err)
	}
}

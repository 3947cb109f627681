package grpcapi_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
)

// TestCustomerPartnerAccess: a ticket remembers the partners its customer
// is linked to, and their partner users (the reseller's and the
// distributor's above it, no other) see it once the tenant allows it,
// without anyone naming a partner on the ticket.
func TestCustomerPartnerAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tk := e.create(t, e.admin(t), e.widget())
	if got := tk.GetCustomerPartnerIds(); len(got) != 2 || got[0] != e.reseller.String() || got[1] != e.distributor.String() || tk.GetPartnerId() != "" {
		t.Fatalf("created ticket's partners = %v (partner %q), want the customer's links %s and %s", got, tk.GetPartnerId(), e.reseller, e.distributor)
	}
	reseller := e.principal(t, e.tenant, uuid.NewString(), e.reseller.String(), auth.RolePartnerUser)
	distributor := e.principal(t, e.tenant, uuid.NewString(), e.distributor.String(), auth.RolePartnerUser)
	stranger := e.principal(t, e.tenant, uuid.NewString(), uuid.NewString(), auth.RolePartnerUser)
	noPartner := e.principal(t, e.tenant, uuid.NewString(), "", auth.RolePartnerUser)
	otherTenant := e.principal(t, e.other, uuid.NewString(), e.reseller.String(), auth.RolePartnerUser)
	get := func(ctx context.Context, want codes.Code, what string) {
		t.Helper()
		_, err := e.client.GetTicket(ctx, &ticketv1.GetTicketRequest{TicketId: tk.GetTicketId()})
		wantCode(t, what, err, want)
	}
	get(reseller, codes.NotFound, "GetTicket as the reseller before the tenant allows it")

	if _, err := e.client.UpdateTicketSettings(e.admin(t), &ticketv1.UpdateTicketSettingsRequest{
		Settings: &ticketv1.TicketSettings{PartnerAccess: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"partner_access"}},
	}); err != nil {
		t.Fatalf("UpdateTicketSettings: %v", err)
	}
	tests := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"reseller", reseller, codes.OK},
		{"distributor above it", distributor, codes.OK},
		{"another partner", stranger, codes.NotFound},
		{"partner user without a partner", noPartner, codes.NotFound},
		{"the reseller in another tenant", otherTenant, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			get(tt.ctx, tt.want, "GetTicket as "+tt.name)
		})
	}
	list, err := e.client.ListTickets(distributor, &ticketv1.ListTicketsRequest{})
	if err != nil || len(list.GetTickets()) != 1 || list.GetTickets()[0].GetTicketId() != tk.GetTicketId() {
		t.Fatalf("ListTickets as the distributor = %v, %v; want the customer's ticket", list, err)
	}

	// A customer whose links cannot be read gets no ticket rather than one
	// its partners would never see.
	unlinkable := e.widget()
	unlinkable.CustomerId = e.unlinkable.String()
	_, err = e.client.CreateTicket(e.admin(t), &ticketv1.CreateTicketRequest{Ticket: unlinkable})
	wantCode(t, "CreateTicket with the partner links unreadable", err, codes.Unavailable)
	if n := countRows(t, e, `SELECT count(*) FROM tickets WHERE customer_id = '`+e.unlinkable.String()+`'`); n != 0 {
		t.Fatalf("tickets of the unlinkable customer = %d, want none", n)
	}
}

package grpcapi_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// TestExportTickets exports a customer's tickets: newest first, each with
// its public conversation and never an internal note; by page; only for
// the help desk and sales staff; only in the caller's tenant.
func TestExportTickets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	first := e.create(t, admin, e.widget())
	post := func(id string, m *ticketv1.TicketMessage) {
		t.Helper()
		if _, err := e.client.CreateTicketMessage(admin, &ticketv1.CreateTicketMessageRequest{TicketId: id, Message: m}); err != nil {
			t.Fatalf("CreateTicketMessage: %v", err)
		}
	}
	post(first.GetTicketId(), &ticketv1.TicketMessage{Body: "It rattles", AuthorKind: ticketv1.AuthorKind_AUTHOR_KIND_CUSTOMER})
	post(first.GetTicketId(), &ticketv1.TicketMessage{Body: "Goodwill refund approved by finance", Visibility: ticketv1.MessageVisibility_MESSAGE_VISIBILITY_INTERNAL})
	post(first.GetTicketId(), &ticketv1.TicketMessage{Body: "A new widget is on its way"})
	second := e.create(t, admin, e.widget())

	resp, err := e.client.ExportTickets(e.as(t, e.tenant, auth.RoleSupportAgent), &ticketv1.ExportTicketsRequest{CustomerId: e.acme.String()})
	if err != nil {
		t.Fatalf("ExportTickets: %v", err)
	}
	got := resp.GetTickets()
	if len(got) != 2 || got[0].GetTicket().GetTicketId() != second.GetTicketId() || got[1].GetTicket().GetTicketId() != first.GetTicketId() {
		t.Fatalf("ExportTickets = %v, want the second ticket, then the first", got)
	}
	var bodies []string
	for _, m := range got[1].GetMessages() {
		bodies = append(bodies, m.GetBody())
	}
	if strings.Join(bodies, "|") != "It rattles|A new widget is on its way" || len(got[0].GetMessages()) != 0 {
		t.Fatalf("exported conversations = %q and %v, want the two public messages of the first ticket only", bodies, got[0].GetMessages())
	}
	if strings.Contains(fmt.Sprint(resp), "Goodwill") {
		t.Fatalf("the export holds an internal note: %v", resp)
	}

	page, err := e.client.ExportTickets(admin, &ticketv1.ExportTicketsRequest{CustomerId: e.acme.String(), PageSize: 1})
	if err != nil || len(page.GetTickets()) != 1 || page.GetNextPageToken() == "" {
		t.Fatalf("ExportTickets page of 1 = %v, %v; want one ticket and a next page", page, err)
	}
	next, err := e.client.ExportTickets(admin, &ticketv1.ExportTicketsRequest{CustomerId: e.acme.String(), PageSize: 1, PageToken: page.GetNextPageToken()})
	if err != nil || len(next.GetTickets()) != 1 || next.GetTickets()[0].GetTicket().GetTicketId() != first.GetTicketId() || len(next.GetTickets()[0].GetMessages()) != 2 {
		t.Fatalf("ExportTickets second page = %v, %v; want the first ticket with its two public messages", next, err)
	}

	other, err := e.client.ExportTickets(e.as(t, e.other, auth.RoleAdmin), &ticketv1.ExportTicketsRequest{CustomerId: e.acme.String()})
	if err != nil || len(other.GetTickets()) != 0 {
		t.Fatalf("ExportTickets in another tenant = %v, %v; want nothing", other, err)
	}

	tests := []struct {
		name      string
		roles     []auth.Role
		req       *ticketv1.ExportTicketsRequest
		want      codes.Code
		wantField string
	}{
		{"no customer", []auth.Role{auth.RoleAdmin}, &ticketv1.ExportTicketsRequest{}, codes.InvalidArgument, "customer_id"},
		{"nil customer", []auth.Role{auth.RoleAdmin}, &ticketv1.ExportTicketsRequest{CustomerId: "00000000-0000-0000-0000-000000000000"}, codes.InvalidArgument, "customer_id"},
		{"negative page size", []auth.Role{auth.RoleAdmin}, &ticketv1.ExportTicketsRequest{CustomerId: e.acme.String(), PageSize: -1}, codes.InvalidArgument, "page_size"},
		{"analyst", []auth.Role{auth.RoleAnalyst}, &ticketv1.ExportTicketsRequest{CustomerId: e.acme.String()}, codes.PermissionDenied, ""},
		{"partner user", []auth.Role{auth.RolePartnerUser}, &ticketv1.ExportTicketsRequest{CustomerId: e.acme.String()}, codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.client.ExportTickets(e.as(t, e.tenant, tt.roles...), tt.req)
			if status.Code(err) != tt.want || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
				t.Fatalf("ExportTickets(%s) = %v, want %v on %q", tt.name, err, tt.want, tt.wantField)
			}
		})
	}
}

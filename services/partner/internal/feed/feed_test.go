package feed_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/feed"
	"github.com/rapportcrm/rapport/services/partner/internal/satisfaction"
)

// TestDecode reads events in the shape the customer and ticket services
// record them (pkg/outbox: the resource's state after the change as the
// payload).
func TestDecode(t *testing.T) {
	t.Parallel()
	eventTime := time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC)
	answered := eventTime.Add(-time.Minute)
	c, p, tk := uuid.New(), uuid.New(), uuid.New()
	link := &customerv1.CustomerPartnerLink{CustomerId: c.String(), PartnerId: p.String(), LinkTime: timestamppb.New(answered)}
	tests := []struct {
		name    string
		typ     string
		payload proto.Message
		want    satisfaction.Change
		wantErr bool
	}{
		{name: "linked", typ: "customer.partner_linked", payload: link,
			want: satisfaction.Change{Linked: &satisfaction.Link{CustomerID: c, PartnerID: p, LinkTime: answered}}},
		{name: "unlinked at the event's time", typ: "customer.partner_unlinked", payload: link,
			want: satisfaction.Change{Unlinked: &satisfaction.Unlink{Link: satisfaction.Link{CustomerID: c, PartnerID: p, LinkTime: answered}, UnlinkTime: eventTime}}},
		{name: "ticket created", typ: "ticket.created", payload: &ticketv1.Ticket{TicketId: tk.String(), CustomerId: c.String(), Subject: "s"},
			want: satisfaction.Change{Ticket: &satisfaction.Ticket{TicketID: tk, CustomerID: c}}},
		{name: "ticket transitioned", typ: "ticket.transitioned", payload: &ticketv1.Ticket{TicketId: tk.String(), CustomerId: c.String()},
			want: satisfaction.Change{Ticket: &satisfaction.Ticket{TicketID: tk, CustomerID: c}}},
		{name: "ticket of no customer", typ: "ticket.created", payload: &ticketv1.Ticket{TicketId: tk.String()}},
		{name: "csat answered", typ: "csat_survey.answered",
			payload: &ticketv1.TicketCsatSurvey{SurveyId: "s1", TicketId: tk.String(), Score: 4, Comment: "kind words", AnswerTime: timestamppb.New(answered)},
			want:    satisfaction.Change{Answer: &satisfaction.Answer{Kind: satisfaction.KindCSAT, Key: "s1", TicketID: tk, Score: 4, AnswerTime: answered}}},
		{name: "csat link issued", typ: "csat_survey.link_issued", payload: &ticketv1.TicketCsatSurvey{SurveyId: "s1", TicketId: tk.String()}},
		{name: "nps answered", typ: "nps_survey.answered", payload: &ticketv1.NpsResponse{NpsSurveyId: "n1", CustomerId: c.String(), Score: 9},
			want: satisfaction.Change{Answer: &satisfaction.Answer{Kind: satisfaction.KindNPS, Key: "n1/" + c.String(), CustomerID: c, Score: 9, AnswerTime: eventTime}}},
		{name: "customer updated", typ: "customer.updated", payload: &customerv1.Customer{CustomerId: c.String()}},
		{name: "csat answer without a ticket", typ: "csat_survey.answered", payload: &ticketv1.TicketCsatSurvey{SurveyId: "s1", AnswerTime: timestamppb.New(answered)}, wantErr: true},
		{name: "link of the wrong type", typ: "customer.partner_linked", payload: &customerv1.Customer{CustomerId: c.String()}, wantErr: true},
		{name: "link without a time", typ: "customer.partner_linked", payload: &customerv1.CustomerPartnerLink{CustomerId: c.String(), PartnerId: p.String()}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := anypb.New(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			got, err := feed.Decode(&eventsv1.Event{EventId: uuid.NewString(), Cursor: "1", Type: tt.typ, TenantId: uuid.NewString(),
				Time: timestamppb.New(eventTime), Payload: body})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decode(%s) error = %v, want error %t", tt.typ, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode(%s) mismatch (-want +got):\n%s", tt.typ, diff)
			}
		})
	}
}

// Package protoconv converts the help desk's domain types to and from their
// API messages; the API and the event payloads share it.
package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// Ticket renders a ticket as its API message.
func Ticket(t ticket.Ticket) *ticketv1.Ticket {
	return &ticketv1.Ticket{
		TicketId:    t.ID.String(),
		CustomerId:  t.CustomerID.String(),
		Subject:     t.Subject,
		Description: t.Description,
		Priority:    ticketv1.Priority(t.Priority),
		Status:      ticketv1.Status(t.Status),
		Channel:     ticketv1.Channel(t.Channel),
		CreateTime:  timestamppb.New(t.CreateTime),
		UpdateTime:  timestamppb.New(t.UpdateTime),
		Etag:        t.Etag(),
	}
}

// FromTicket reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromTicket(m *ticketv1.Ticket, prefix string) (ticket.Ticket, error) {
	v := &validation.Error{}
	t := ticket.Ticket{
		Subject:     m.GetSubject(),
		Description: m.GetDescription(),
		Priority:    ticket.Priority(m.GetPriority()),
		Status:      ticket.Status(m.GetStatus()),
		Channel:     ticket.Channel(m.GetChannel()),
	}
	if _, ok := ticketv1.Priority_name[int32(m.GetPriority())]; !ok {
		v.Add(prefix+"priority", "unknown value %d", m.GetPriority())
	}
	if _, ok := ticketv1.Status_name[int32(m.GetStatus())]; !ok {
		v.Add(prefix+"status", "unknown value %d", m.GetStatus())
	}
	if _, ok := ticketv1.Channel_name[int32(m.GetChannel())]; !ok {
		v.Add(prefix+"channel", "unknown value %d", m.GetChannel())
	}
	if m.GetCustomerId() != "" {
		id, err := uuid.Parse(m.GetCustomerId())
		if err != nil {
			v.Add(prefix+"customer_id", "must be a UUID")
		}
		t.CustomerID = id
	}
	return t, v.Err()
}

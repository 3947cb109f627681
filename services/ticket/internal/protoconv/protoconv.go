// Package protoconv converts the help desk's domain types to and from their
// API messages; the API and the event payloads share it.
package protoconv

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func id(u uuid.UUID) string {
	if u == uuid.Nil {
		return ""
	}
	return u.String()
}

// ids renders ids as strings; nil for none.
func ids(us []uuid.UUID) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.String())
	}
	return out
}

func dur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// Ticket renders a ticket as its API message.
func Ticket(t ticket.Ticket) *ticketv1.Ticket {
	m := &ticketv1.Ticket{
		TicketId:           t.ID.String(),
		CustomerId:         t.CustomerID.String(),
		Subject:            t.Subject,
		Description:        t.Description,
		Priority:           ticketv1.Priority(t.Priority),
		Status:             ticketv1.Status(t.Status),
		Channel:            ticketv1.Channel(t.Channel),
		CreateTime:         timestamppb.New(t.CreateTime),
		UpdateTime:         timestamppb.New(t.UpdateTime),
		Etag:               t.Etag(),
		Type:               ticketv1.TicketType(t.Type),
		ContactId:          id(t.ContactID),
		OrderId:            id(t.OrderID),
		ProductId:          id(t.ProductID),
		Tags:               t.Tags,
		Attributes:         t.Attributes,
		CustomerTier:       t.CustomerTier,
		ResolutionNote:     t.ResolutionNote,
		FirstResponseTime:  ts(t.FirstResponseTime),
		ResolveTime:        ts(t.ResolveTime),
		CloseTime:          ts(t.CloseTime),
		EscalationLevel:    t.EscalationLevel,
		QueueId:            id(t.QueueID),
		AssigneeId:         id(t.AssigneeID),
		PartnerId:          id(t.PartnerID),
		CustomerPartnerIds: ids(t.CustomerPartnerIDs),
		RequiredSkills:     t.RequiredSkills,
		ExternalId:         t.ExternalID,
	}
	if c := t.SLA; c.PolicyID != uuid.Nil {
		m.Sla = &ticketv1.TicketSla{
			SlaPolicyId:               c.PolicyID.String(),
			CalendarId:                id(c.CalendarID),
			FirstResponseTarget:       dur(c.FirstResponseTarget),
			ResolutionTarget:          dur(c.ResolutionTarget),
			Paused:                    c.PausedSince != nil,
			PausedDuration:            durationpb.New(c.Paused),
			FirstResponseWarningTime:  ts(c.FirstResponseWarning),
			FirstResponseDueTime:      ts(c.FirstResponseDue),
			ResolutionWarningTime:     ts(c.ResolutionWarning),
			ResolutionDueTime:         ts(c.ResolutionDue),
			FirstResponseWarnedTime:   ts(c.FirstResponseWarned),
			FirstResponseBreachedTime: ts(c.FirstResponseBreached),
			ResolutionWarnedTime:      ts(c.ResolutionWarned),
			ResolutionBreachedTime:    ts(c.ResolutionBreached),
		}
	}
	return m
}

// optionalID reads an optional UUID field.
func optionalID(s, field string, v *validation.Error) uuid.UUID {
	if s == "" {
		return uuid.Nil
	}
	u, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return u
}

// FromTicket reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromTicket(m *ticketv1.Ticket, prefix string) (ticket.Ticket, error) {
	v := &validation.Error{}
	t := ticket.Ticket{
		Subject:      m.GetSubject(),
		Description:  m.GetDescription(),
		Priority:     ticket.Priority(m.GetPriority()),
		Status:       ticket.Status(m.GetStatus()),
		Channel:      ticket.Channel(m.GetChannel()),
		Type:         ticket.Type(m.GetType()),
		Tags:         m.GetTags(),
		Attributes:   m.GetAttributes(),
		CustomerTier: m.GetCustomerTier(),
	}
	for field, e := range map[string]struct {
		n     int32
		names map[int32]string
	}{
		"priority": {int32(m.GetPriority()), ticketv1.Priority_name},
		"status":   {int32(m.GetStatus()), ticketv1.Status_name},
		"channel":  {int32(m.GetChannel()), ticketv1.Channel_name},
		"type":     {int32(m.GetType()), ticketv1.TicketType_name},
	} {
		if _, ok := e.names[e.n]; !ok {
			v.Add(prefix+field, "unknown value %d", e.n)
		}
	}
	t.CustomerID = optionalID(m.GetCustomerId(), prefix+"customer_id", v)
	t.ContactID = optionalID(m.GetContactId(), prefix+"contact_id", v)
	t.OrderID = optionalID(m.GetOrderId(), prefix+"order_id", v)
	t.ProductID = optionalID(m.GetProductId(), prefix+"product_id", v)
	t.QueueID = optionalID(m.GetQueueId(), prefix+"queue_id", v)
	t.PartnerID = optionalID(m.GetPartnerId(), prefix+"partner_id", v)
	t.RequiredSkills = m.GetRequiredSkills()
	return t, v.Err()
}

// Transition renders a status log entry.
func Transition(tr ticket.Transition) *ticketv1.TicketTransition {
	return &ticketv1.TicketTransition{
		TransitionId: tr.ID.String(), TicketId: tr.TicketID.String(),
		FromStatus: ticketv1.Status(tr.From), ToStatus: ticketv1.Status(tr.To),
		Note: tr.Note, PrincipalId: tr.PrincipalID, CreateTime: timestamppb.New(tr.CreateTime),
	}
}

// Settings renders a tenant's settings.
func Settings(s ticket.Settings) *ticketv1.TicketSettings {
	return &ticketv1.TicketSettings{ReopenWindow: durationpb.New(s.ReopenWindow), Etag: s.Etag(),
		PartnerAccess: s.PartnerAccess, CsatSurveyTtl: durationpb.New(s.CSATTTL)}
}

// FromSettings reads the writable settings; field paths start with prefix.
func FromSettings(m *ticketv1.TicketSettings, prefix string) (ticket.Settings, error) {
	v := &validation.Error{}
	st := ticket.Settings{ReopenWindow: duration(m.GetReopenWindow(), prefix+"reopen_window", v),
		PartnerAccess: m.GetPartnerAccess(), CSATTTL: duration(m.GetCsatSurveyTtl(), prefix+"csat_survey_ttl", v)}
	return st, v.Err()
}

// duration reads an optional duration; unset is zero.
func duration(d *durationpb.Duration, field string, v *validation.Error) time.Duration {
	if d == nil {
		return 0
	}
	if err := d.CheckValid(); err != nil {
		v.Add(field, "is not a valid duration")
		return 0
	}
	return d.AsDuration()
}

func fieldf(prefix, format string, args ...any) string { return prefix + fmt.Sprintf(format, args...) }

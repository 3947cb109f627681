package protoconv

import (
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// Queue renders a queue.
func Queue(q ticket.Queue) *ticketv1.Queue {
	return &ticketv1.Queue{
		QueueId: q.ID.String(), DisplayName: q.DisplayName, Strategy: ticketv1.AssignmentStrategy(q.Strategy),
		CalendarId: id(q.CalendarID), EscalationQueueId: id(q.EscalationQueueID), Etag: q.Etag(),
		CreateTime: timestamppb.New(q.CreateTime), UpdateTime: timestamppb.New(q.UpdateTime),
	}
}

// FromQueue reads a queue's writable fields.
func FromQueue(m *ticketv1.Queue, prefix string) (ticket.Queue, error) {
	v := &validation.Error{}
	q := ticket.Queue{DisplayName: m.GetDisplayName(), Strategy: ticket.Strategy(m.GetStrategy())}
	if _, ok := ticketv1.AssignmentStrategy_name[int32(m.GetStrategy())]; !ok {
		v.Add(prefix+"strategy", "unknown value %d", m.GetStrategy())
	}
	q.ID = optionalID(m.GetQueueId(), prefix+"queue_id", v)
	q.CalendarID = optionalID(m.GetCalendarId(), prefix+"calendar_id", v)
	q.EscalationQueueID = optionalID(m.GetEscalationQueueId(), prefix+"escalation_queue_id", v)
	return q, v.Err()
}

// Member renders a queue member.
func Member(m ticket.Member) *ticketv1.QueueMember {
	return &ticketv1.QueueMember{
		QueueId: m.QueueID.String(), PrincipalId: m.PrincipalID.String(), Skills: m.Skills, Capacity: m.Capacity,
		CalendarId: id(m.CalendarID), Level: m.Level, LastAssignTime: ts(m.LastAssignTime), CreateTime: timestamppb.New(m.CreateTime),
	}
}

// FromMember reads a member's writable fields.
func FromMember(m *ticketv1.QueueMember, prefix string) (ticket.Member, error) {
	v := &validation.Error{}
	mem := ticket.Member{Skills: m.GetSkills(), Capacity: m.GetCapacity(), Level: m.GetLevel()}
	mem.PrincipalID = optionalID(m.GetPrincipalId(), prefix+"principal_id", v)
	mem.CalendarID = optionalID(m.GetCalendarId(), prefix+"calendar_id", v)
	return mem, v.Err()
}

// Assignment renders an assignment log entry.
func Assignment(a ticket.Assignment) *ticketv1.TicketAssignment {
	return &ticketv1.TicketAssignment{
		AssignmentId: a.ID.String(), TicketId: a.TicketID.String(), QueueId: id(a.QueueID), AssigneeId: id(a.AssigneeID),
		PreviousAssigneeId: id(a.PreviousAssigneeID), Reason: ticketv1.AssignmentReason(a.Reason),
		EscalationLevel: a.EscalationLevel, Note: a.Note, PrincipalId: a.PrincipalID, CreateTime: timestamppb.New(a.CreateTime),
	}
}

// Message renders a ticket message.
func Message(m ticket.Message) *ticketv1.TicketMessage {
	out := &ticketv1.TicketMessage{
		MessageId: m.ID.String(), TicketId: m.TicketID.String(), Visibility: ticketv1.MessageVisibility(m.Visibility),
		AuthorKind: ticketv1.AuthorKind(m.AuthorKind), AuthorId: m.AuthorID, Body: m.Body, CreateTime: timestamppb.New(m.CreateTime),
	}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, &ticketv1.Attachment{Uri: a.URI, FileName: a.FileName, ContentType: a.ContentType, SizeBytes: a.SizeBytes})
	}
	return out
}

// FromMessage reads a message's writable fields.
func FromMessage(m *ticketv1.TicketMessage, prefix string) (ticket.Message, error) {
	v := &validation.Error{}
	if _, ok := ticketv1.MessageVisibility_name[int32(m.GetVisibility())]; !ok {
		v.Add(prefix+"visibility", "unknown value %d", m.GetVisibility())
	}
	if _, ok := ticketv1.AuthorKind_name[int32(m.GetAuthorKind())]; !ok {
		v.Add(prefix+"author_kind", "unknown value %d", m.GetAuthorKind())
	}
	out := ticket.Message{Visibility: ticket.Visibility(m.GetVisibility()), AuthorKind: ticket.AuthorKind(m.GetAuthorKind()), Body: m.GetBody()}
	for _, a := range m.GetAttachments() {
		out.Attachments = append(out.Attachments, ticket.Attachment{URI: a.GetUri(), FileName: a.GetFileName(), ContentType: a.GetContentType(), SizeBytes: a.GetSizeBytes()})
	}
	return out, v.Err()
}

// PublicSurvey renders what a survey link shows.
func PublicSurvey(s ticket.PublicSurvey) *ticketv1.CsatSurvey {
	return &ticketv1.CsatSurvey{
		TicketSubject: s.Subject, ResolveTime: ts(s.ResolveTime), ExpireTime: timestamppb.New(s.ExpireTime),
		Score: s.Score, Comment: s.Comment, AnswerTime: ts(s.AnswerTime),
	}
}

// Survey renders a survey for events and the audit log, without its token.
func Survey(s ticket.Survey) *ticketv1.TicketCsatSurvey {
	return &ticketv1.TicketCsatSurvey{
		SurveyId: s.ID.String(), TicketId: s.TicketID.String(), ExpireTime: timestamppb.New(s.ExpireTime),
		Score: s.Score, Comment: s.Comment, AnswerTime: ts(s.AnswerTime), CreateTime: timestamppb.New(s.CreateTime),
	}
}

// Figures renders quality figures.
func Figures(f ticket.Figures) *ticketv1.QualityFigures {
	ratio := func(n, d int64) float64 {
		if d == 0 {
			return 0
		}
		return float64(n) / float64(d)
	}
	return &ticketv1.QualityFigures{
		GroupId: id(f.GroupID), Tickets: f.Tickets, Resolved: f.Resolved,
		FirstResponseP50: durationpb.New(f.FirstResponseP50), FirstResponseP90: durationpb.New(f.FirstResponseP90),
		ResolutionP50: durationpb.New(f.ResolutionP50), ResolutionP90: durationpb.New(f.ResolutionP90),
		SlaCompliance: ratio(f.SLAMet, f.SLATickets), SlaTickets: f.SLATickets,
		CsatAverage: f.CSATAverage, CsatAnswers: f.CSATAnswers,
		ReopenRate: ratio(f.Reopened, f.Resolved), FirstContactResolution: ratio(f.FirstContact, f.Resolved),
	}
}

func optionalTime(t *timestamppb.Timestamp, field string, v *validation.Error) *time.Time {
	if t == nil {
		return nil
	}
	if err := t.CheckValid(); err != nil {
		v.Add(field, "is not a valid timestamp")
		return nil
	}
	at := t.AsTime().Truncate(time.Microsecond)
	return &at
}

// FromImported reads an import row; its ticket may carry any status.
func FromImported(m *ticketv1.ImportedTicket, prefix string) (ticket.Imported, error) {
	v := &validation.Error{}
	var t ticket.Ticket
	if m.GetTicket() == nil {
		v.Add(prefix+"ticket", "is required")
	} else {
		var err error
		t, err = FromTicket(m.GetTicket(), prefix+"ticket.")
		var verr *validation.Error
		if errors.As(err, &verr) {
			v.Violations = append(v.Violations, verr.Violations...)
		}
	}
	if c := optionalTime(m.GetCreateTime(), prefix+"create_time", v); c != nil {
		t.CreateTime = *c
	}
	t.FirstResponseTime = optionalTime(m.GetFirstResponseTime(), prefix+"first_response_time", v)
	t.ResolveTime = optionalTime(m.GetResolveTime(), prefix+"resolve_time", v)
	return ticket.Imported{ExternalID: m.GetExternalId(), Ticket: t, CSATScore: m.GetCsatScore()}, v.Err()
}

// Detractor renders an unhappy answer for its event.
func Detractor(d ticket.Detractor) *ticketv1.Detractor {
	return &ticketv1.Detractor{SourceId: d.SourceID.String(), Kind: ticketv1.SatisfactionKind(d.Kind), TicketId: id(d.TicketID),
		CustomerId: d.CustomerID.String(), Score: d.Score}
}

// NPSSurvey renders an NPS survey with its score.
func NPSSurvey(s ticket.NPSSurvey) *ticketv1.NpsSurvey {
	return &ticketv1.NpsSurvey{
		NpsSurveyId: s.ID.String(), DisplayName: s.DisplayName, SegmentId: s.SegmentID.String(),
		RecipientCount: s.RecipientCount, ResponseCount: s.Responses(), Promoters: s.Promoters, Passives: s.Passives,
		Detractors: s.Detractors, Nps: s.NPS(), CreateTime: timestamppb.New(s.CreateTime),
	}
}

// NPSResponse renders a recipient's answer.
func NPSResponse(r ticket.NPSResponse) *ticketv1.NpsResponse {
	return &ticketv1.NpsResponse{NpsSurveyId: r.SurveyID.String(), CustomerId: r.CustomerID.String(), Score: r.Score,
		Comment: r.Comment, AnswerTime: timestamppb.New(r.AnswerTime)}
}

// Feedback renders a feedback item.
func Feedback(f ticket.Feedback) *ticketv1.FeedbackItem {
	return &ticketv1.FeedbackItem{
		FeedbackItemId: f.ID.String(), CustomerId: id(f.CustomerID), Channel: ticketv1.Channel(f.Channel), Body: f.Body,
		Topics: f.Topics, Status: ticketv1.FeedbackStatus(f.Status), TicketId: id(f.TicketID), Resolution: f.Resolution,
		Etag: f.Etag(), CreateTime: timestamppb.New(f.CreateTime), UpdateTime: timestamppb.New(f.UpdateTime),
	}
}

// FromFeedback reads a feedback item's writable fields.
func FromFeedback(m *ticketv1.FeedbackItem, prefix string) (ticket.Feedback, error) {
	v := &validation.Error{}
	f := ticket.Feedback{Channel: ticket.Channel(m.GetChannel()), Body: m.GetBody(), Topics: m.GetTopics(),
		Status: ticket.FeedbackStatus(m.GetStatus()), Resolution: m.GetResolution()}
	if _, ok := ticketv1.FeedbackStatus_name[int32(m.GetStatus())]; !ok {
		v.Add(prefix+"status", "unknown value %d", m.GetStatus())
	}
	if _, ok := ticketv1.Channel_name[int32(m.GetChannel())]; !ok {
		v.Add(prefix+"channel", "unknown value %d", m.GetChannel())
	}
	f.ID = optionalID(m.GetFeedbackItemId(), prefix+"feedback_item_id", v)
	f.CustomerID = optionalID(m.GetCustomerId(), prefix+"customer_id", v)
	f.TicketID = optionalID(m.GetTicketId(), prefix+"ticket_id", v)
	return f, v.Err()
}

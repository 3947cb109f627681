package grpcapi

import (
	"context"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// Public methods: a survey link's token is their credential.
const (
	GetCsatSurveyMethod    = "/rapport.ticket.v1.TicketService/GetCsatSurvey"
	AnswerCsatSurveyMethod = "/rapport.ticket.v1.TicketService/AnswerCsatSurvey"
)

// SurveyPathPrefix is the public REST path a survey token is appended to.
const SurveyPathPrefix = "/v1/csatSurveys/"

// CreateQueue implements the RPC.
func (s *Server) CreateQueue(ctx context.Context, req *ticketv1.CreateQueueRequest) (*ticketv1.CreateQueueResponse, error) {
	if req.GetQueue() == nil {
		return nil, toStatus(validation.Field("queue", "is required"))
	}
	q, err := protoconv.FromQueue(req.GetQueue(), "queue.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateQueue(ctx, caller(ctx), q, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateQueueResponse{Queue: protoconv.Queue(saved)}, nil
}

// GetQueue implements the RPC.
func (s *Server) GetQueue(ctx context.Context, req *ticketv1.GetQueueRequest) (*ticketv1.GetQueueResponse, error) {
	id, err := parseID("queue_id", req.GetQueueId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Queue(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetQueueResponse{Queue: protoconv.Queue(q)}, nil
}

// ListQueues implements the RPC.
func (s *Server) ListQueues(ctx context.Context, req *ticketv1.ListQueuesRequest) (*ticketv1.ListQueuesResponse, error) {
	qs, next, err := s.svc.ListQueues(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListQueuesResponse{NextPageToken: next}
	for _, q := range qs {
		out.Queues = append(out.Queues, protoconv.Queue(q))
	}
	return out, nil
}

// UpdateQueue implements the RPC.
func (s *Server) UpdateQueue(ctx context.Context, req *ticketv1.UpdateQueueRequest) (*ticketv1.UpdateQueueResponse, error) {
	if req.GetQueue() == nil {
		return nil, toStatus(validation.Field("queue", "is required"))
	}
	id, err := parseID("queue.queue_id", req.GetQueue().GetQueueId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := protoconv.FromQueue(req.GetQueue(), "queue.")
	if err != nil {
		return nil, toStatus(err)
	}
	q.ID = id
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "queue_id", "create_time", "update_time")
	saved, err := s.svc.UpdateQueue(ctx, caller(ctx), q, mask, req.GetQueue().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.UpdateQueueResponse{Queue: protoconv.Queue(saved)}, nil
}

// SetQueueMember implements the RPC.
func (s *Server) SetQueueMember(ctx context.Context, req *ticketv1.SetQueueMemberRequest) (*ticketv1.SetQueueMemberResponse, error) {
	qid, err := parseID("queue_id", req.GetQueueId())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetMember() == nil {
		return nil, toStatus(validation.Field("member", "is required"))
	}
	m, err := protoconv.FromMember(req.GetMember(), "member.")
	if err != nil {
		return nil, toStatus(err)
	}
	m.QueueID = qid
	saved, err := s.svc.SetMember(ctx, caller(ctx), m)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.SetQueueMemberResponse{Member: protoconv.Member(saved)}, nil
}

// RemoveQueueMember implements the RPC.
func (s *Server) RemoveQueueMember(ctx context.Context, req *ticketv1.RemoveQueueMemberRequest) (*ticketv1.RemoveQueueMemberResponse, error) {
	qid, err := parseID("queue_id", req.GetQueueId())
	if err != nil {
		return nil, toStatus(err)
	}
	pid, err := parseID("principal_id", req.GetPrincipalId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.RemoveMember(ctx, caller(ctx), qid, pid); err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.RemoveQueueMemberResponse{}, nil
}

// ListQueueMembers implements the RPC.
func (s *Server) ListQueueMembers(ctx context.Context, req *ticketv1.ListQueueMembersRequest) (*ticketv1.ListQueueMembersResponse, error) {
	qid, err := parseID("queue_id", req.GetQueueId())
	if err != nil {
		return nil, toStatus(err)
	}
	ms, next, err := s.svc.ListMembers(ctx, caller(ctx), qid, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListQueueMembersResponse{NextPageToken: next}
	for _, m := range ms {
		out.Members = append(out.Members, protoconv.Member(m))
	}
	return out, nil
}

// optionalID reads an optional UUID request field.
func optionalID(field, s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.Nil, nil
	}
	return parseID(field, s)
}

// AssignTicket implements the RPC.
func (s *Server) AssignTicket(ctx context.Context, req *ticketv1.AssignTicketRequest) (*ticketv1.AssignTicketResponse, error) {
	v := &validation.Error{}
	r := ticket.AssignRequest{Note: req.GetNote(), Etag: req.GetEtag()}
	var err error
	if r.TicketID, err = parseID("ticket_id", req.GetTicketId()); err != nil {
		v.Add("ticket_id", "must be a UUID")
	}
	if r.QueueID, err = optionalID("queue_id", req.GetQueueId()); err != nil {
		v.Add("queue_id", "must be a UUID")
	}
	if r.AssigneeID, err = optionalID("assignee_id", req.GetAssigneeId()); err != nil {
		v.Add("assignee_id", "must be a UUID")
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	t, err := s.svc.Assign(ctx, caller(ctx), r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.AssignTicketResponse{Ticket: protoconv.Ticket(t)}, nil
}

// EscalateTicket implements the RPC.
func (s *Server) EscalateTicket(ctx context.Context, req *ticketv1.EscalateTicketRequest) (*ticketv1.EscalateTicketResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := s.svc.Escalate(ctx, caller(ctx), id, req.GetNote(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.EscalateTicketResponse{Ticket: protoconv.Ticket(t)}, nil
}

// ListTicketAssignments implements the RPC.
func (s *Server) ListTicketAssignments(ctx context.Context, req *ticketv1.ListTicketAssignmentsRequest) (*ticketv1.ListTicketAssignmentsResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	as, next, err := s.svc.Assignments(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListTicketAssignmentsResponse{NextPageToken: next}
	for _, a := range as {
		out.Assignments = append(out.Assignments, protoconv.Assignment(a))
	}
	return out, nil
}

// CreateTicketMessage implements the RPC.
func (s *Server) CreateTicketMessage(ctx context.Context, req *ticketv1.CreateTicketMessageRequest) (*ticketv1.CreateTicketMessageResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetMessage() == nil {
		return nil, toStatus(validation.Field("message", "is required"))
	}
	m, err := protoconv.FromMessage(req.GetMessage(), "message.")
	if err != nil {
		return nil, toStatus(err)
	}
	m.TicketID = id
	saved, err := s.svc.AddMessage(ctx, caller(ctx), m, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateTicketMessageResponse{Message: protoconv.Message(saved)}, nil
}

// ListTicketMessages implements the RPC.
func (s *Server) ListTicketMessages(ctx context.Context, req *ticketv1.ListTicketMessagesRequest) (*ticketv1.ListTicketMessagesResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	ms, next, err := s.svc.Messages(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListTicketMessagesResponse{NextPageToken: next}
	for _, m := range ms {
		out.Messages = append(out.Messages, protoconv.Message(m))
	}
	return out, nil
}

// ExportTickets implements the RPC.
func (s *Server) ExportTickets(ctx context.Context, req *ticketv1.ExportTicketsRequest) (*ticketv1.ExportTicketsResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	ts, next, err := s.svc.ExportTickets(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ExportTicketsResponse{NextPageToken: next}
	for _, t := range ts {
		e := &ticketv1.ExportedTicket{Ticket: protoconv.Ticket(t.Ticket)}
		for _, m := range t.Messages {
			e.Messages = append(e.Messages, protoconv.Message(m))
		}
		out.Tickets = append(out.Tickets, e)
	}
	return out, nil
}

// GetCsatSurvey implements the RPC; it runs without a caller.
func (s *Server) GetCsatSurvey(ctx context.Context, req *ticketv1.GetCsatSurveyRequest) (*ticketv1.GetCsatSurveyResponse, error) {
	sv, err := s.svc.SurveyByToken(ctx, req.GetToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetCsatSurveyResponse{Survey: protoconv.PublicSurvey(sv)}, nil
}

// AnswerCsatSurvey implements the RPC; it runs without a caller.
func (s *Server) AnswerCsatSurvey(ctx context.Context, req *ticketv1.AnswerCsatSurveyRequest) (*ticketv1.AnswerCsatSurveyResponse, error) {
	sv, err := s.svc.AnswerSurvey(ctx, req.GetToken(), req.GetScore(), req.GetComment())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.AnswerCsatSurveyResponse{Survey: protoconv.PublicSurvey(sv)}, nil
}

// IssueCsatSurveyLink implements the RPC.
func (s *Server) IssueCsatSurveyLink(ctx context.Context, req *ticketv1.IssueCsatSurveyLinkRequest) (*ticketv1.IssueCsatSurveyLinkResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	token, sv, err := s.svc.IssueSurveyLink(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.IssueCsatSurveyLinkResponse{Token: token, Path: SurveyPathPrefix + token, ExpireTime: timestamppb.New(sv.ExpireTime)}, nil
}

// GetQualityFigures implements the RPC.
func (s *Server) GetQualityFigures(ctx context.Context, req *ticketv1.GetQualityFiguresRequest) (*ticketv1.GetQualityFiguresResponse, error) {
	q := ticket.QualityQuery{GroupBy: ticket.Grouping(req.GetGroupBy())}
	v := &validation.Error{}
	for field, t := range map[string]*timestamppb.Timestamp{"start_time": req.GetStartTime(), "end_time": req.GetEndTime()} {
		if t != nil && t.CheckValid() != nil {
			v.Add(field, "is not a valid timestamp")
		}
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	if req.GetStartTime() != nil {
		q.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		q.End = req.GetEndTime().AsTime()
	}
	fs, err := s.svc.Quality(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.GetQualityFiguresResponse{}
	for _, f := range fs {
		out.Figures = append(out.Figures, protoconv.Figures(f))
	}
	return out, nil
}

// ImportTickets implements the RPC.
func (s *Server) ImportTickets(ctx context.Context, req *ticketv1.ImportTicketsRequest) (*ticketv1.ImportTicketsResponse, error) {
	rows := make([]ticket.Imported, len(req.GetTickets()))
	v := &validation.Error{}
	for i, m := range req.GetTickets() {
		r, err := protoconv.FromImported(m, fieldPrefix("tickets", i))
		if verr, ok := asValidation(err); ok {
			v.Violations = append(v.Violations, verr.Violations...)
		}
		rows[i] = r
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	res, err := s.svc.Import(ctx, caller(ctx), rows)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ImportTicketsResponse{}
	for _, r := range res {
		out.Results = append(out.Results, &ticketv1.ImportResult{ExternalId: r.ExternalID, TicketId: r.TicketID.String(), Created: r.Created})
	}
	return out, nil
}

// CreateNpsSurvey implements the RPC.
func (s *Server) CreateNpsSurvey(ctx context.Context, req *ticketv1.CreateNpsSurveyRequest) (*ticketv1.CreateNpsSurveyResponse, error) {
	m := req.GetNpsSurvey()
	if m == nil {
		return nil, toStatus(validation.Field("nps_survey", "is required"))
	}
	seg, err := optionalID("nps_survey.segment_id", m.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateNPSSurvey(ctx, caller(ctx), ticket.NPSSurvey{DisplayName: m.GetDisplayName(), SegmentID: seg}, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateNpsSurveyResponse{NpsSurvey: protoconv.NPSSurvey(saved)}, nil
}

// GetNpsSurvey implements the RPC.
func (s *Server) GetNpsSurvey(ctx context.Context, req *ticketv1.GetNpsSurveyRequest) (*ticketv1.GetNpsSurveyResponse, error) {
	id, err := parseID("nps_survey_id", req.GetNpsSurveyId())
	if err != nil {
		return nil, toStatus(err)
	}
	sv, err := s.svc.NPSSurvey(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetNpsSurveyResponse{NpsSurvey: protoconv.NPSSurvey(sv)}, nil
}

// CreateNpsResponse implements the RPC.
func (s *Server) CreateNpsResponse(ctx context.Context, req *ticketv1.CreateNpsResponseRequest) (*ticketv1.CreateNpsResponseResponse, error) {
	id, err := parseID("nps_survey_id", req.GetNpsSurveyId())
	if err != nil {
		return nil, toStatus(err)
	}
	m := req.GetResponse()
	if m == nil {
		return nil, toStatus(validation.Field("response", "is required"))
	}
	cust, err := optionalID("response.customer_id", m.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.AnswerNPS(ctx, caller(ctx), ticket.NPSResponse{SurveyID: id, CustomerID: cust, Score: m.GetScore(), Comment: m.GetComment()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateNpsResponseResponse{Response: protoconv.NPSResponse(saved)}, nil
}

// CreateFeedbackItem implements the RPC.
func (s *Server) CreateFeedbackItem(ctx context.Context, req *ticketv1.CreateFeedbackItemRequest) (*ticketv1.CreateFeedbackItemResponse, error) {
	if req.GetFeedbackItem() == nil {
		return nil, toStatus(validation.Field("feedback_item", "is required"))
	}
	f, err := protoconv.FromFeedback(req.GetFeedbackItem(), "feedback_item.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateFeedback(ctx, caller(ctx), f, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateFeedbackItemResponse{FeedbackItem: protoconv.Feedback(saved)}, nil
}

// GetFeedbackItem implements the RPC.
func (s *Server) GetFeedbackItem(ctx context.Context, req *ticketv1.GetFeedbackItemRequest) (*ticketv1.GetFeedbackItemResponse, error) {
	id, err := parseID("feedback_item_id", req.GetFeedbackItemId())
	if err != nil {
		return nil, toStatus(err)
	}
	f, err := s.svc.Feedback(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetFeedbackItemResponse{FeedbackItem: protoconv.Feedback(f)}, nil
}

// ListFeedbackItems implements the RPC.
func (s *Server) ListFeedbackItems(ctx context.Context, req *ticketv1.ListFeedbackItemsRequest) (*ticketv1.ListFeedbackItemsResponse, error) {
	fs, next, err := s.svc.ListFeedback(ctx, caller(ctx), ticket.FeedbackQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListFeedbackItemsResponse{NextPageToken: next}
	for _, f := range fs {
		out.FeedbackItems = append(out.FeedbackItems, protoconv.Feedback(f))
	}
	return out, nil
}

// UpdateFeedbackItem implements the RPC.
func (s *Server) UpdateFeedbackItem(ctx context.Context, req *ticketv1.UpdateFeedbackItemRequest) (*ticketv1.UpdateFeedbackItemResponse, error) {
	if req.GetFeedbackItem() == nil {
		return nil, toStatus(validation.Field("feedback_item", "is required"))
	}
	id, err := parseID("feedback_item.feedback_item_id", req.GetFeedbackItem().GetFeedbackItemId())
	if err != nil {
		return nil, toStatus(err)
	}
	f, err := protoconv.FromFeedback(req.GetFeedbackItem(), "feedback_item.")
	if err != nil {
		return nil, toStatus(err)
	}
	f.ID = id
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "feedback_item_id", "create_time", "update_time")
	saved, err := s.svc.UpdateFeedback(ctx, caller(ctx), f, mask, req.GetFeedbackItem().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.UpdateFeedbackItemResponse{FeedbackItem: protoconv.Feedback(saved)}, nil
}

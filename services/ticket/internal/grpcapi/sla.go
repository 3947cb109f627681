package grpcapi

import (
	"context"
	"slices"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// maskPaths drops the etag and the named output-only fields from a mask:
// over REST the mask is inferred from the body's fields, and a body echoed
// from a read carries them, the etag as the concurrency token.
func maskPaths(paths []string, outputOnly ...string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if p != "etag" && !slices.Contains(outputOnly, p) {
			out = append(out, p)
		}
	}
	return out
}

// UpdateTicket implements the RPC.
func (s *Server) UpdateTicket(ctx context.Context, req *ticketv1.UpdateTicketRequest) (*ticketv1.UpdateTicketResponse, error) {
	if req.GetTicket() == nil {
		return nil, toStatus(validation.Field("ticket", "is required"))
	}
	id, err := parseID("ticket.ticket_id", req.GetTicket().GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := protoconv.FromTicket(req.GetTicket(), "ticket.")
	if err != nil {
		return nil, toStatus(err)
	}
	t.ID = id
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "ticket_id", "customer_id", "status", "customer_tier", "create_time",
		"update_time", "resolution_note", "first_response_time", "resolve_time", "close_time", "sla", "escalation_level",
		"queue_id", "assignee_id", "partner_id", "required_skills", "external_id")
	saved, err := s.svc.Update(ctx, caller(ctx), t, mask, req.GetTicket().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.UpdateTicketResponse{Ticket: protoconv.Ticket(saved)}, nil
}

// TransitionTicket implements the RPC.
func (s *Server) TransitionTicket(ctx context.Context, req *ticketv1.TransitionTicketRequest) (*ticketv1.TransitionTicketResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Transition(ctx, caller(ctx), ticket.TransitionRequest{
		TicketID: id, To: ticket.Status(req.GetStatus()), Note: req.GetNote(), Etag: req.GetEtag(), RequestID: req.GetRequestId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.TransitionTicketResponse{Ticket: protoconv.Ticket(saved)}, nil
}

// ListTicketTransitions implements the RPC.
func (s *Server) ListTicketTransitions(ctx context.Context, req *ticketv1.ListTicketTransitionsRequest) (*ticketv1.ListTicketTransitionsResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	trs, next, err := s.svc.Transitions(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListTicketTransitionsResponse{NextPageToken: next}
	for _, tr := range trs {
		out.Transitions = append(out.Transitions, protoconv.Transition(tr))
	}
	return out, nil
}

// RecordFirstResponse implements the RPC.
func (s *Server) RecordFirstResponse(ctx context.Context, req *ticketv1.RecordFirstResponseRequest) (*ticketv1.RecordFirstResponseResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.RecordFirstResponse(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.RecordFirstResponseResponse{Ticket: protoconv.Ticket(saved)}, nil
}

// GetTicketSettings implements the RPC.
func (s *Server) GetTicketSettings(ctx context.Context, _ *ticketv1.GetTicketSettingsRequest) (*ticketv1.GetTicketSettingsResponse, error) {
	st, err := s.svc.Settings(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetTicketSettingsResponse{Settings: protoconv.Settings(st)}, nil
}

// UpdateTicketSettings implements the RPC.
func (s *Server) UpdateTicketSettings(ctx context.Context, req *ticketv1.UpdateTicketSettingsRequest) (*ticketv1.UpdateTicketSettingsResponse, error) {
	in, err := protoconv.FromSettings(req.GetSettings(), "settings.")
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := s.svc.UpdateSettings(ctx, caller(ctx), in, maskPaths(req.GetUpdateMask().GetPaths()), req.GetSettings().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.UpdateTicketSettingsResponse{Settings: protoconv.Settings(st)}, nil
}

// CreateBusinessCalendar implements the RPC.
func (s *Server) CreateBusinessCalendar(ctx context.Context, req *ticketv1.CreateBusinessCalendarRequest) (*ticketv1.CreateBusinessCalendarResponse, error) {
	if req.GetBusinessCalendar() == nil {
		return nil, toStatus(validation.Field("business_calendar", "is required"))
	}
	c, err := protoconv.FromCalendar(req.GetBusinessCalendar(), "business_calendar.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateCalendar(ctx, caller(ctx), c, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateBusinessCalendarResponse{BusinessCalendar: protoconv.Calendar(saved)}, nil
}

// GetBusinessCalendar implements the RPC.
func (s *Server) GetBusinessCalendar(ctx context.Context, req *ticketv1.GetBusinessCalendarRequest) (*ticketv1.GetBusinessCalendarResponse, error) {
	id, err := parseID("calendar_id", req.GetCalendarId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.Calendar(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetBusinessCalendarResponse{BusinessCalendar: protoconv.Calendar(c)}, nil
}

// ListBusinessCalendars implements the RPC.
func (s *Server) ListBusinessCalendars(ctx context.Context, req *ticketv1.ListBusinessCalendarsRequest) (*ticketv1.ListBusinessCalendarsResponse, error) {
	cs, next, err := s.svc.ListCalendars(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListBusinessCalendarsResponse{NextPageToken: next}
	for _, c := range cs {
		out.BusinessCalendars = append(out.BusinessCalendars, protoconv.Calendar(c))
	}
	return out, nil
}

// UpdateBusinessCalendar implements the RPC.
func (s *Server) UpdateBusinessCalendar(ctx context.Context, req *ticketv1.UpdateBusinessCalendarRequest) (*ticketv1.UpdateBusinessCalendarResponse, error) {
	if req.GetBusinessCalendar() == nil {
		return nil, toStatus(validation.Field("business_calendar", "is required"))
	}
	id, err := parseID("business_calendar.calendar_id", req.GetBusinessCalendar().GetCalendarId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := protoconv.FromCalendar(req.GetBusinessCalendar(), "business_calendar.")
	if err != nil {
		return nil, toStatus(err)
	}
	c.ID = id
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "calendar_id", "create_time", "update_time")
	saved, err := s.svc.UpdateCalendar(ctx, caller(ctx), c, mask, req.GetBusinessCalendar().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.UpdateBusinessCalendarResponse{BusinessCalendar: protoconv.Calendar(saved)}, nil
}

// DeleteBusinessCalendar implements the RPC.
func (s *Server) DeleteBusinessCalendar(ctx context.Context, req *ticketv1.DeleteBusinessCalendarRequest) (*ticketv1.DeleteBusinessCalendarResponse, error) {
	id, err := parseID("calendar_id", req.GetCalendarId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteCalendar(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.DeleteBusinessCalendarResponse{}, nil
}

// CreateSlaPolicy implements the RPC.
func (s *Server) CreateSlaPolicy(ctx context.Context, req *ticketv1.CreateSlaPolicyRequest) (*ticketv1.CreateSlaPolicyResponse, error) {
	if req.GetSlaPolicy() == nil {
		return nil, toStatus(validation.Field("sla_policy", "is required"))
	}
	p, err := protoconv.FromPolicy(req.GetSlaPolicy(), "sla_policy.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreatePolicy(ctx, caller(ctx), p, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateSlaPolicyResponse{SlaPolicy: protoconv.Policy(saved)}, nil
}

// GetSlaPolicy implements the RPC.
func (s *Server) GetSlaPolicy(ctx context.Context, req *ticketv1.GetSlaPolicyRequest) (*ticketv1.GetSlaPolicyResponse, error) {
	id, err := parseID("sla_policy_id", req.GetSlaPolicyId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.Policy(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetSlaPolicyResponse{SlaPolicy: protoconv.Policy(p)}, nil
}

// ListSlaPolicies implements the RPC.
func (s *Server) ListSlaPolicies(ctx context.Context, req *ticketv1.ListSlaPoliciesRequest) (*ticketv1.ListSlaPoliciesResponse, error) {
	ps, next, err := s.svc.ListPolicies(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListSlaPoliciesResponse{NextPageToken: next}
	for _, p := range ps {
		out.SlaPolicies = append(out.SlaPolicies, protoconv.Policy(p))
	}
	return out, nil
}

// UpdateSlaPolicy implements the RPC.
func (s *Server) UpdateSlaPolicy(ctx context.Context, req *ticketv1.UpdateSlaPolicyRequest) (*ticketv1.UpdateSlaPolicyResponse, error) {
	if req.GetSlaPolicy() == nil {
		return nil, toStatus(validation.Field("sla_policy", "is required"))
	}
	id, err := parseID("sla_policy.sla_policy_id", req.GetSlaPolicy().GetSlaPolicyId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := protoconv.FromPolicy(req.GetSlaPolicy(), "sla_policy.")
	if err != nil {
		return nil, toStatus(err)
	}
	p.ID = id
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "sla_policy_id", "create_time", "update_time")
	saved, err := s.svc.UpdatePolicy(ctx, caller(ctx), p, mask, req.GetSlaPolicy().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.UpdateSlaPolicyResponse{SlaPolicy: protoconv.Policy(saved)}, nil
}

// DeleteSlaPolicy implements the RPC.
func (s *Server) DeleteSlaPolicy(ctx context.Context, req *ticketv1.DeleteSlaPolicyRequest) (*ticketv1.DeleteSlaPolicyResponse, error) {
	id, err := parseID("sla_policy_id", req.GetSlaPolicyId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeletePolicy(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.DeleteSlaPolicyResponse{}, nil
}

package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/events"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// Server implements ticketv1.TicketServiceServer.
type Server struct {
	ticketv1.UnimplementedTicketServiceServer
	svc  *ticket.Service
	pool *pgxpool.Pool
	poll time.Duration
}

// New returns the server; pool and poll serve WatchEvents.
func New(svc *ticket.Service, pool *pgxpool.Pool, poll time.Duration) *Server {
	return &Server{svc: svc, pool: pool, poll: poll}
}

func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, validation.Field(field, "must be a UUID")
	}
	return id, nil
}

// CreateTicket implements the RPC.
func (s *Server) CreateTicket(ctx context.Context, req *ticketv1.CreateTicketRequest) (*ticketv1.CreateTicketResponse, error) {
	if req.GetTicket() == nil {
		return nil, toStatus(validation.Field("ticket", "is required"))
	}
	t, err := protoconv.FromTicket(req.GetTicket(), "ticket.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), t, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.CreateTicketResponse{Ticket: protoconv.Ticket(saved)}, nil
}

// GetTicket implements the RPC.
func (s *Server) GetTicket(ctx context.Context, req *ticketv1.GetTicketRequest) (*ticketv1.GetTicketResponse, error) {
	id, err := parseID("ticket_id", req.GetTicketId())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ticketv1.GetTicketResponse{Ticket: protoconv.Ticket(t)}, nil
}

// ListTickets implements the RPC.
func (s *Server) ListTickets(ctx context.Context, req *ticketv1.ListTicketsRequest) (*ticketv1.ListTicketsResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), ticket.ListQuery{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &ticketv1.ListTicketsResponse{NextPageToken: page.NextPageToken, Tickets: make([]*ticketv1.Ticket, len(page.Tickets))}
	for i, t := range page.Tickets {
		out.Tickets[i] = protoconv.Ticket(t)
	}
	return out, nil
}

// WatchEvents implements the RPC.
func (s *Server) WatchEvents(req *ticketv1.WatchEventsRequest, stream ticketv1.TicketService_WatchEventsServer) error {
	ctx := stream.Context()
	err := events.Stream(ctx, s.pool, caller(ctx), "ticket", req.GetAfterCursor(), req.GetTypes(), s.poll,
		func(e *eventsv1.Event) error { return stream.Send(&ticketv1.WatchEventsResponse{Event: e}) })
	return toStatus(err)
}

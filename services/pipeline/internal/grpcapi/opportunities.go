package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/events"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// Server implements pipelinev1.PipelineServiceServer.
type Server struct {
	pipelinev1.UnimplementedPipelineServiceServer
	svc  *pipeline.Service
	pool *pgxpool.Pool
	poll time.Duration
}

// New returns the server; pool and poll serve WatchEvents.
func New(svc *pipeline.Service, pool *pgxpool.Pool, poll time.Duration) *Server {
	return &Server{svc: svc, pool: pool, poll: poll}
}

func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, validation.Field(field, "must be a UUID")
	}
	return id, nil
}

// CreateOpportunity implements the RPC.
func (s *Server) CreateOpportunity(ctx context.Context, req *pipelinev1.CreateOpportunityRequest) (*pipelinev1.CreateOpportunityResponse, error) {
	if req.GetOpportunity() == nil {
		return nil, toStatus(validation.Field("opportunity", "is required"))
	}
	o, err := protoconv.FromOpportunity(req.GetOpportunity(), "opportunity.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), o, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateOpportunityResponse{Opportunity: protoconv.Opportunity(saved)}, nil
}

// GetOpportunity implements the RPC.
func (s *Server) GetOpportunity(ctx context.Context, req *pipelinev1.GetOpportunityRequest) (*pipelinev1.GetOpportunityResponse, error) {
	id, err := parseID("opportunity_id", req.GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetOpportunityResponse{Opportunity: protoconv.Opportunity(o)}, nil
}

// ListOpportunities implements the RPC.
func (s *Server) ListOpportunities(ctx context.Context, req *pipelinev1.ListOpportunitiesRequest) (*pipelinev1.ListOpportunitiesResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), pipeline.ListQuery{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListOpportunitiesResponse{NextPageToken: page.NextPageToken, Opportunities: make([]*pipelinev1.Opportunity, len(page.Opportunities))}
	for i, o := range page.Opportunities {
		out.Opportunities[i] = protoconv.Opportunity(o)
	}
	return out, nil
}

// WatchEvents implements the RPC.
func (s *Server) WatchEvents(req *pipelinev1.WatchEventsRequest, stream pipelinev1.PipelineService_WatchEventsServer) error {
	ctx := stream.Context()
	err := events.Stream(ctx, s.pool, caller(ctx), "pipeline", req.GetAfterCursor(), req.GetTypes(), s.poll,
		func(e *eventsv1.Event) error { return stream.Send(&pipelinev1.WatchEventsResponse{Event: e}) })
	return toStatus(err)
}

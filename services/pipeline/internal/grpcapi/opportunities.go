package grpcapi

import (
	"context"
	"slices"
	"strings"
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
	if req.GetOpportunity().GetAmount() == nil {
		return nil, toStatus(validation.Field("opportunity.amount", "is required"))
	}
	o, err := protoconv.FromOpportunity(req.GetOpportunity(), "opportunity.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), o, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateOpportunityResponse{Opportunity: protoconv.OpportunityAt(saved, s.svc.Now())}, nil
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
	return &pipelinev1.GetOpportunityResponse{Opportunity: protoconv.OpportunityAt(o, s.svc.Now())}, nil
}

// ListOpportunities implements the RPC.
func (s *Server) ListOpportunities(ctx context.Context, req *pipelinev1.ListOpportunitiesRequest) (*pipelinev1.ListOpportunitiesResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), pipeline.ListQuery{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter(),
		OrderBy: strings.Join(strings.Fields(req.GetOrderBy()), " "), ShowDeleted: req.GetShowDeleted(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListOpportunitiesResponse{NextPageToken: page.NextPageToken, Opportunities: make([]*pipelinev1.Opportunity, len(page.Opportunities))}
	now := s.svc.Now()
	for i, o := range page.Opportunities {
		out.Opportunities[i] = protoconv.OpportunityAt(o, now)
	}
	return out, nil
}

// UpdateOpportunity implements the RPC.
func (s *Server) UpdateOpportunity(ctx context.Context, req *pipelinev1.UpdateOpportunityRequest) (*pipelinev1.UpdateOpportunityResponse, error) {
	if req.GetOpportunity() == nil {
		return nil, toStatus(validation.Field("opportunity", "is required"))
	}
	id, err := parseID("opportunity.opportunity_id", req.GetOpportunity().GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromOpportunity(req.GetOpportunity(), "opportunity.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	saved, err := s.svc.Update(ctx, caller(ctx), in, maskPaths(req.GetUpdateMask().GetPaths()), req.GetOpportunity().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateOpportunityResponse{Opportunity: protoconv.OpportunityAt(saved, s.svc.Now())}, nil
}

// DeleteOpportunity implements the RPC.
func (s *Server) DeleteOpportunity(ctx context.Context, req *pipelinev1.DeleteOpportunityRequest) (*pipelinev1.DeleteOpportunityResponse, error) {
	id, err := parseID("opportunity_id", req.GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Delete(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.DeleteOpportunityResponse{Opportunity: protoconv.OpportunityAt(o, s.svc.Now())}, nil
}

// UndeleteOpportunity implements the RPC.
func (s *Server) UndeleteOpportunity(ctx context.Context, req *pipelinev1.UndeleteOpportunityRequest) (*pipelinev1.UndeleteOpportunityResponse, error) {
	id, err := parseID("opportunity_id", req.GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Undelete(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UndeleteOpportunityResponse{Opportunity: protoconv.OpportunityAt(o, s.svc.Now())}, nil
}

// MoveOpportunityStage implements the RPC.
func (s *Server) MoveOpportunityStage(ctx context.Context, req *pipelinev1.MoveOpportunityStageRequest) (*pipelinev1.MoveOpportunityStageResponse, error) {
	id, err := parseID("opportunity_id", req.GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	var stage uuid.UUID
	if req.GetStageId() != "" {
		if stage, err = parseID("stage_id", req.GetStageId()); err != nil {
			return nil, toStatus(err)
		}
	}
	o, err := s.svc.MoveStage(ctx, caller(ctx), id, stage, req.GetEtag(), strings.TrimSpace(req.GetCloseReason()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.MoveOpportunityStageResponse{Opportunity: protoconv.OpportunityAt(o, s.svc.Now())}, nil
}

// ListOpportunityStageHistory implements the RPC.
func (s *Server) ListOpportunityStageHistory(ctx context.Context, req *pipelinev1.ListOpportunityStageHistoryRequest) (*pipelinev1.ListOpportunityStageHistoryResponse, error) {
	id, err := parseID("opportunity_id", req.GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.StageHistory(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	now := s.svc.Now()
	out := &pipelinev1.ListOpportunityStageHistoryResponse{NextPageToken: page.NextPageToken}
	for _, e := range page.Entries {
		out.Entries = append(out.Entries, protoconv.StageHistoryEntry(e, now))
	}
	return out, nil
}

// maskPaths drops the etag from a mask: over REST the mask is inferred from
// the body's fields, and a body echoed from a read carries the etag as the
// concurrency token. The domain drops the other output-only fields.
func maskPaths(paths []string) []string {
	return slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "etag" })
}

// WatchEvents implements the RPC.
func (s *Server) WatchEvents(req *pipelinev1.WatchEventsRequest, stream pipelinev1.PipelineService_WatchEventsServer) error {
	ctx := stream.Context()
	err := events.Stream(ctx, s.pool, caller(ctx), "pipeline", req.GetAfterCursor(), req.GetTypes(), s.poll,
		func(e *eventsv1.Event) error { return stream.Send(&pipelinev1.WatchEventsResponse{Event: e}) })
	return toStatus(err)
}

package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/events"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Partners implements partnerv1.PartnerServiceServer.
type Partners struct {
	partnerv1.UnimplementedPartnerServiceServer
	svc  *partner.Service
	pool *pgxpool.Pool
	poll time.Duration
}

// NewPartners returns the server; pool and poll serve WatchEvents.
func NewPartners(svc *partner.Service, pool *pgxpool.Pool, poll time.Duration) *Partners {
	return &Partners{svc: svc, pool: pool, poll: poll}
}

func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, validation.Field(field, "must be a UUID")
	}
	return id, nil
}

// CreatePartner implements the RPC.
func (s *Partners) CreatePartner(ctx context.Context, req *partnerv1.CreatePartnerRequest) (*partnerv1.CreatePartnerResponse, error) {
	if req.GetPartner() == nil {
		return nil, toStatus(validation.Field("partner", "is required"))
	}
	p, err := protoconv.FromPartner(req.GetPartner(), "partner.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), p, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreatePartnerResponse{Partner: protoconv.Partner(saved)}, nil
}

// GetPartner implements the RPC.
func (s *Partners) GetPartner(ctx context.Context, req *partnerv1.GetPartnerRequest) (*partnerv1.GetPartnerResponse, error) {
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetPartnerResponse{Partner: protoconv.Partner(p)}, nil
}

// ListPartners implements the RPC.
func (s *Partners) ListPartners(ctx context.Context, req *partnerv1.ListPartnersRequest) (*partnerv1.ListPartnersResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), partner.ListQuery{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListPartnersResponse{NextPageToken: page.NextPageToken, Partners: make([]*partnerv1.Partner, len(page.Partners))}
	for i, p := range page.Partners {
		out.Partners[i] = protoconv.Partner(p)
	}
	return out, nil
}

// UpdatePartner implements the RPC.
func (s *Partners) UpdatePartner(ctx context.Context, req *partnerv1.UpdatePartnerRequest) (*partnerv1.UpdatePartnerResponse, error) {
	if req.GetPartner() == nil {
		return nil, toStatus(validation.Field("partner", "is required"))
	}
	id, err := parseID("partner.partner_id", req.GetPartner().GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromPartner(req.GetPartner(), "partner.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	saved, err := s.svc.Update(ctx, caller(ctx), in, req.GetUpdateMask().GetPaths(), req.GetPartner().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.UpdatePartnerResponse{Partner: protoconv.Partner(saved)}, nil
}

// TransitionPartnerStatus implements the RPC.
func (s *Partners) TransitionPartnerStatus(ctx context.Context, req *partnerv1.TransitionPartnerStatusRequest) (*partnerv1.TransitionPartnerStatusResponse, error) {
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Transition(ctx, caller(ctx), id, partner.Status(req.GetStatus()), req.GetReason(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.TransitionPartnerStatusResponse{Partner: protoconv.Partner(saved)}, nil
}

// ListPartnerStatusChanges implements the RPC.
func (s *Partners) ListPartnerStatusChanges(ctx context.Context, req *partnerv1.ListPartnerStatusChangesRequest) (*partnerv1.ListPartnerStatusChangesResponse, error) {
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.StatusChanges(ctx, caller(ctx), id, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListPartnerStatusChangesResponse{NextPageToken: page.NextPageToken, Changes: make([]*partnerv1.PartnerStatusChange, len(page.Changes))}
	for i, c := range page.Changes {
		out.Changes[i] = protoconv.StatusChange(c)
	}
	return out, nil
}

// WatchEvents implements the RPC.
func (s *Partners) WatchEvents(req *partnerv1.WatchEventsRequest, stream partnerv1.PartnerService_WatchEventsServer) error {
	ctx := stream.Context()
	err := events.Stream(ctx, s.pool, caller(ctx), "partner", req.GetAfterCursor(), req.GetTypes(), s.poll,
		func(e *eventsv1.Event) error { return stream.Send(&partnerv1.WatchEventsResponse{Event: e}) })
	return toStatus(err)
}

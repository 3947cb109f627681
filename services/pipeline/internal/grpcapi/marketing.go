package grpcapi

import (
	"context"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/marketing"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// MarketingServer implements pipelinev1.MarketingServiceServer.
type MarketingServer struct {
	pipelinev1.UnimplementedMarketingServiceServer
	svc *marketing.Service
}

// NewMarketing returns the marketing server.
func NewMarketing(svc *marketing.Service) *MarketingServer { return &MarketingServer{svc: svc} }

// CreateCampaign implements the RPC.
func (s *MarketingServer) CreateCampaign(ctx context.Context, req *pipelinev1.CreateCampaignRequest) (*pipelinev1.CreateCampaignResponse, error) {
	if req.GetCampaign() == nil {
		return nil, toStatus(validation.Field("campaign", "is required"))
	}
	c, err := protoconv.FromCampaign(req.GetCampaign())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateCampaign(ctx, caller(ctx), c, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateCampaignResponse{Campaign: protoconv.Campaign(saved)}, nil
}

// GetCampaign implements the RPC.
func (s *MarketingServer) GetCampaign(ctx context.Context, req *pipelinev1.GetCampaignRequest) (*pipelinev1.GetCampaignResponse, error) {
	id, err := parseID("campaign_id", req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.Campaign(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetCampaignResponse{Campaign: protoconv.Campaign(c)}, nil
}

// ListCampaigns implements the RPC.
func (s *MarketingServer) ListCampaigns(ctx context.Context, req *pipelinev1.ListCampaignsRequest) (*pipelinev1.ListCampaignsResponse, error) {
	page, err := s.svc.Campaigns(ctx, caller(ctx), req.GetFilter(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListCampaignsResponse{NextPageToken: page.NextPageToken}
	for _, c := range page.Campaigns {
		out.Campaigns = append(out.Campaigns, protoconv.Campaign(c))
	}
	return out, nil
}

// UpdateCampaign implements the RPC.
func (s *MarketingServer) UpdateCampaign(ctx context.Context, req *pipelinev1.UpdateCampaignRequest) (*pipelinev1.UpdateCampaignResponse, error) {
	if req.GetCampaign() == nil {
		return nil, toStatus(validation.Field("campaign", "is required"))
	}
	id, err := parseID("campaign.campaign_id", req.GetCampaign().GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromCampaign(req.GetCampaign())
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "campaign_id", "create_time", "update_time")
	saved, err := s.svc.UpdateCampaign(ctx, caller(ctx), in, mask, req.GetCampaign().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateCampaignResponse{Campaign: protoconv.Campaign(saved)}, nil
}

// SyncCampaignMembers implements the RPC.
func (s *MarketingServer) SyncCampaignMembers(ctx context.Context, req *pipelinev1.SyncCampaignMembersRequest) (*pipelinev1.SyncCampaignMembersResponse, error) {
	id, err := parseID("campaign_id", req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	added, total, err := s.svc.SyncMembers(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.SyncCampaignMembersResponse{Added: added, MemberCount: total}, nil
}

// AddCampaignMember implements the RPC.
func (s *MarketingServer) AddCampaignMember(ctx context.Context, req *pipelinev1.AddCampaignMemberRequest) (*pipelinev1.AddCampaignMemberResponse, error) {
	id, err := parseID("campaign_id", req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	customer, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	m, added, err := s.svc.AddMember(ctx, caller(ctx), id, customer)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.AddCampaignMemberResponse{Member: protoconv.CampaignMember(id.String(), m), Added: added}, nil
}

// ListCampaignMembers implements the RPC.
func (s *MarketingServer) ListCampaignMembers(ctx context.Context, req *pipelinev1.ListCampaignMembersRequest) (*pipelinev1.ListCampaignMembersResponse, error) {
	id, err := parseID("campaign_id", req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Members(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListCampaignMembersResponse{NextPageToken: page.NextPageToken}
	for _, m := range page.Members {
		out.Members = append(out.Members, protoconv.CampaignMember(id.String(), m))
	}
	return out, nil
}

// RecordCampaignResponse implements the RPC.
func (s *MarketingServer) RecordCampaignResponse(ctx context.Context, req *pipelinev1.RecordCampaignResponseRequest) (*pipelinev1.RecordCampaignResponseResponse, error) {
	id, err := parseID("campaign_id", req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetResponse() == nil {
		return nil, toStatus(validation.Field("response", "is required"))
	}
	r, err := protoconv.FromCampaignResponse(req.GetResponse())
	if err != nil {
		return nil, toStatus(err)
	}
	r.CampaignID = id
	saved, err := s.svc.RecordResponse(ctx, caller(ctx), r, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.RecordCampaignResponseResponse{Response: protoconv.CampaignResponse(saved)}, nil
}

// ListCampaignResponses implements the RPC.
func (s *MarketingServer) ListCampaignResponses(ctx context.Context, req *pipelinev1.ListCampaignResponsesRequest) (*pipelinev1.ListCampaignResponsesResponse, error) {
	id, err := parseID("campaign_id", req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Responses(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListCampaignResponsesResponse{NextPageToken: page.NextPageToken}
	for _, r := range page.Responses {
		out.Responses = append(out.Responses, protoconv.CampaignResponse(r))
	}
	return out, nil
}

// CreateOffer implements the RPC.
func (s *MarketingServer) CreateOffer(ctx context.Context, req *pipelinev1.CreateOfferRequest) (*pipelinev1.CreateOfferResponse, error) {
	if req.GetOffer() == nil {
		return nil, toStatus(validation.Field("offer", "is required"))
	}
	o, err := protoconv.FromOffer(req.GetOffer())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateOffer(ctx, caller(ctx), o, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateOfferResponse{Offer: protoconv.Offer(saved)}, nil
}

// ListOffers implements the RPC.
func (s *MarketingServer) ListOffers(ctx context.Context, req *pipelinev1.ListOffersRequest) (*pipelinev1.ListOffersResponse, error) {
	page, err := s.svc.Offers(ctx, caller(ctx), req.GetFilter(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListOffersResponse{NextPageToken: page.NextPageToken}
	for _, o := range page.Offers {
		out.Offers = append(out.Offers, protoconv.Offer(o))
	}
	return out, nil
}

// GetCampaignRoi implements the RPC.
func (s *MarketingServer) GetCampaignRoi(ctx context.Context, req *pipelinev1.GetCampaignRoiRequest) (*pipelinev1.GetCampaignRoiResponse, error) {
	id, err := parseID("campaign_id", req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.ROI(ctx, caller(ctx), id, marketing.Model(req.GetModel()))
	if err != nil {
		return nil, toStatus(err)
	}
	return protoconv.CampaignROI(id.String(), r), nil
}

package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/leadoffer"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// LeadOffers implements partnerv1.LeadDistributionServiceServer.
type LeadOffers struct {
	partnerv1.UnimplementedLeadDistributionServiceServer
	svc *leadoffer.Service
}

// NewLeadOffers returns the server.
func NewLeadOffers(svc *leadoffer.Service) *LeadOffers { return &LeadOffers{svc: svc} }

// OfferLead implements the RPC.
func (s *LeadOffers) OfferLead(ctx context.Context, req *partnerv1.OfferLeadRequest) (*partnerv1.OfferLeadResponse, error) {
	lead, err := parseID("lead_id", req.GetLeadId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Offer(ctx, caller(ctx), leadoffer.Request{
		LeadID: lead, Region: req.GetRegion(), Industry: req.GetIndustry(), TTL: time.Duration(req.GetTtlHours()) * time.Hour,
	}, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.OfferLeadResponse{LeadOffer: protoconv.LeadOffer(o)}, nil
}

// GetLeadOffer implements the RPC.
func (s *LeadOffers) GetLeadOffer(ctx context.Context, req *partnerv1.GetLeadOfferRequest) (*partnerv1.GetLeadOfferResponse, error) {
	id, err := parseID("lead_offer_id", req.GetLeadOfferId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetLeadOfferResponse{LeadOffer: protoconv.LeadOffer(o)}, nil
}

// ListLeadOffers implements the RPC.
func (s *LeadOffers) ListLeadOffers(ctx context.Context, req *partnerv1.ListLeadOffersRequest) (*partnerv1.ListLeadOffersResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), leadoffer.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListLeadOffersResponse{NextPageToken: page.NextPageToken, LeadOffers: make([]*partnerv1.LeadOffer, len(page.Offers))}
	for i, o := range page.Offers {
		out.LeadOffers[i] = protoconv.LeadOffer(o)
	}
	return out, nil
}

// AcceptLeadOffer implements the RPC.
func (s *LeadOffers) AcceptLeadOffer(ctx context.Context, req *partnerv1.AcceptLeadOfferRequest) (*partnerv1.AcceptLeadOfferResponse, error) {
	id, err := parseID("lead_offer_id", req.GetLeadOfferId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Accept(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.AcceptLeadOfferResponse{LeadOffer: protoconv.LeadOffer(o)}, nil
}

// DeclineLeadOffer implements the RPC.
func (s *LeadOffers) DeclineLeadOffer(ctx context.Context, req *partnerv1.DeclineLeadOfferRequest) (*partnerv1.DeclineLeadOfferResponse, error) {
	id, err := parseID("lead_offer_id", req.GetLeadOfferId())
	if err != nil {
		return nil, toStatus(err)
	}
	declined, next, err := s.svc.Decline(ctx, caller(ctx), id, req.GetEtag(), req.GetReason())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.DeclineLeadOfferResponse{LeadOffer: protoconv.LeadOffer(declined)}
	if next.ID != uuid.Nil {
		out.NextOffer = protoconv.LeadOffer(next)
	}
	return out, nil
}

// ExpireLeadOffers implements the RPC.
func (s *LeadOffers) ExpireLeadOffers(ctx context.Context, _ *partnerv1.ExpireLeadOffersRequest) (*partnerv1.ExpireLeadOffersResponse, error) {
	expired, reoffered, err := s.svc.Expire(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.ExpireLeadOffersResponse{Expired: int32(expired), Reoffered: int32(reoffered)}, nil
}

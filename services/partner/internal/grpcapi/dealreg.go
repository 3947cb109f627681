package grpcapi

import (
	"context"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// DealRegistrations implements partnerv1.DealRegistrationServiceServer.
type DealRegistrations struct {
	partnerv1.UnimplementedDealRegistrationServiceServer
	svc *dealreg.Service
}

// NewDealRegistrations returns the server.
func NewDealRegistrations(svc *dealreg.Service) *DealRegistrations {
	return &DealRegistrations{svc: svc}
}

// CreateDealRegistration implements the RPC.
func (s *DealRegistrations) CreateDealRegistration(ctx context.Context, req *partnerv1.CreateDealRegistrationRequest) (*partnerv1.CreateDealRegistrationResponse, error) {
	if req.GetDealRegistration() == nil {
		return nil, toStatus(validation.Field("deal_registration", "is required"))
	}
	r, err := protoconv.FromRegistration(req.GetDealRegistration())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), r, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateDealRegistrationResponse{DealRegistration: protoconv.Registration(saved)}, nil
}

// GetDealRegistration implements the RPC.
func (s *DealRegistrations) GetDealRegistration(ctx context.Context, req *partnerv1.GetDealRegistrationRequest) (*partnerv1.GetDealRegistrationResponse, error) {
	id, err := parseID("deal_registration_id", req.GetDealRegistrationId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetDealRegistrationResponse{DealRegistration: protoconv.Registration(r)}, nil
}

// ListDealRegistrations implements the RPC.
func (s *DealRegistrations) ListDealRegistrations(ctx context.Context, req *partnerv1.ListDealRegistrationsRequest) (*partnerv1.ListDealRegistrationsResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), dealreg.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListDealRegistrationsResponse{NextPageToken: page.NextPageToken,
		DealRegistrations: make([]*partnerv1.DealRegistration, len(page.Registrations))}
	for i, r := range page.Registrations {
		out.DealRegistrations[i] = protoconv.Registration(r)
	}
	return out, nil
}

// ApproveDealRegistration implements the RPC.
func (s *DealRegistrations) ApproveDealRegistration(ctx context.Context, req *partnerv1.ApproveDealRegistrationRequest) (*partnerv1.ApproveDealRegistrationResponse, error) {
	id, err := parseID("deal_registration_id", req.GetDealRegistrationId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Approve(ctx, caller(ctx), id, req.GetEtag(), req.GetNote())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.ApproveDealRegistrationResponse{DealRegistration: protoconv.Registration(r)}, nil
}

// RejectDealRegistration implements the RPC.
func (s *DealRegistrations) RejectDealRegistration(ctx context.Context, req *partnerv1.RejectDealRegistrationRequest) (*partnerv1.RejectDealRegistrationResponse, error) {
	id, err := parseID("deal_registration_id", req.GetDealRegistrationId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Reject(ctx, caller(ctx), id, req.GetEtag(), req.GetNote())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.RejectDealRegistrationResponse{DealRegistration: protoconv.Registration(r)}, nil
}

// ArbitrateDealRegistration implements the RPC.
func (s *DealRegistrations) ArbitrateDealRegistration(ctx context.Context, req *partnerv1.ArbitrateDealRegistrationRequest) (*partnerv1.ArbitrateDealRegistrationResponse, error) {
	id, err := parseID("deal_registration_id", req.GetDealRegistrationId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Arbitrate(ctx, caller(ctx), id, req.GetEtag(), dealreg.Outcome(req.GetOutcome()), req.GetRationale())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.ArbitrateDealRegistrationResponse{DealRegistration: protoconv.Registration(r)}, nil
}

// GetEngagementRules implements the RPC.
func (s *DealRegistrations) GetEngagementRules(ctx context.Context, _ *partnerv1.GetEngagementRulesRequest) (*partnerv1.GetEngagementRulesResponse, error) {
	r, err := s.svc.Rules(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetEngagementRulesResponse{Rules: protoconv.Rules(r)}, nil
}

// UpdateEngagementRules implements the RPC.
func (s *DealRegistrations) UpdateEngagementRules(ctx context.Context, req *partnerv1.UpdateEngagementRulesRequest) (*partnerv1.UpdateEngagementRulesResponse, error) {
	if req.GetRules() == nil {
		return nil, toStatus(validation.Field("rules", "is required"))
	}
	r, err := s.svc.UpdateRules(ctx, caller(ctx), protoconv.FromRules(req.GetRules()), req.GetUpdateMask().GetPaths(), req.GetRules().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.UpdateEngagementRulesResponse{Rules: protoconv.Rules(r)}, nil
}

package grpcapi

import (
	"context"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/mdf"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Funds implements partnerv1.MarketingFundServiceServer.
type Funds struct {
	partnerv1.UnimplementedMarketingFundServiceServer
	svc *mdf.Service
}

// NewFunds returns the server.
func NewFunds(svc *mdf.Service) *Funds { return &Funds{svc: svc} }

// CreateMdfBudget implements the RPC.
func (s *Funds) CreateMdfBudget(ctx context.Context, req *partnerv1.CreateMdfBudgetRequest) (*partnerv1.CreateMdfBudgetResponse, error) {
	if req.GetMdfBudget() == nil {
		return nil, toStatus(validation.Field("mdf_budget", "is required"))
	}
	b, err := protoconv.FromMdfBudget(req.GetMdfBudget())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateBudget(ctx, caller(ctx), b, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateMdfBudgetResponse{MdfBudget: protoconv.MdfBudget(saved)}, nil
}

// GetMdfBudget implements the RPC.
func (s *Funds) GetMdfBudget(ctx context.Context, req *partnerv1.GetMdfBudgetRequest) (*partnerv1.GetMdfBudgetResponse, error) {
	id, err := parseID("mdf_budget_id", req.GetMdfBudgetId())
	if err != nil {
		return nil, toStatus(err)
	}
	b, err := s.svc.Budget(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetMdfBudgetResponse{MdfBudget: protoconv.MdfBudget(b)}, nil
}

// ListMdfBudgets implements the RPC.
func (s *Funds) ListMdfBudgets(ctx context.Context, req *partnerv1.ListMdfBudgetsRequest) (*partnerv1.ListMdfBudgetsResponse, error) {
	page, err := s.svc.ListBudgets(ctx, caller(ctx), mdf.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListMdfBudgetsResponse{NextPageToken: page.NextPageToken, MdfBudgets: make([]*partnerv1.MdfBudget, len(page.Budgets))}
	for i, b := range page.Budgets {
		out.MdfBudgets[i] = protoconv.MdfBudget(b)
	}
	return out, nil
}

// CreateMdfRequest implements the RPC.
func (s *Funds) CreateMdfRequest(ctx context.Context, req *partnerv1.CreateMdfRequestRequest) (*partnerv1.CreateMdfRequestResponse, error) {
	if req.GetMdfRequest() == nil {
		return nil, toStatus(validation.Field("mdf_request", "is required"))
	}
	r, err := protoconv.FromMdfRequest(req.GetMdfRequest())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateRequest(ctx, caller(ctx), r, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateMdfRequestResponse{MdfRequest: protoconv.MdfRequest(saved)}, nil
}

// GetMdfRequest implements the RPC.
func (s *Funds) GetMdfRequest(ctx context.Context, req *partnerv1.GetMdfRequestRequest) (*partnerv1.GetMdfRequestResponse, error) {
	id, err := parseID("mdf_request_id", req.GetMdfRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Request(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetMdfRequestResponse{MdfRequest: protoconv.MdfRequest(r)}, nil
}

// ListMdfRequests implements the RPC.
func (s *Funds) ListMdfRequests(ctx context.Context, req *partnerv1.ListMdfRequestsRequest) (*partnerv1.ListMdfRequestsResponse, error) {
	page, err := s.svc.ListRequests(ctx, caller(ctx), mdf.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListMdfRequestsResponse{NextPageToken: page.NextPageToken, MdfRequests: make([]*partnerv1.MdfRequest, len(page.Requests))}
	for i, r := range page.Requests {
		out.MdfRequests[i] = protoconv.MdfRequest(r)
	}
	return out, nil
}

// ApproveMdfRequest implements the RPC.
func (s *Funds) ApproveMdfRequest(ctx context.Context, req *partnerv1.ApproveMdfRequestRequest) (*partnerv1.ApproveMdfRequestResponse, error) {
	id, err := parseID("mdf_request_id", req.GetMdfRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Approve(ctx, caller(ctx), id, req.GetEtag(), req.GetApprovedMinor(), req.GetNote())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.ApproveMdfRequestResponse{MdfRequest: protoconv.MdfRequest(r)}, nil
}

// RejectMdfRequest implements the RPC.
func (s *Funds) RejectMdfRequest(ctx context.Context, req *partnerv1.RejectMdfRequestRequest) (*partnerv1.RejectMdfRequestResponse, error) {
	id, err := parseID("mdf_request_id", req.GetMdfRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Reject(ctx, caller(ctx), id, req.GetEtag(), req.GetNote())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.RejectMdfRequestResponse{MdfRequest: protoconv.MdfRequest(r)}, nil
}

// ClaimMdfRequest implements the RPC.
func (s *Funds) ClaimMdfRequest(ctx context.Context, req *partnerv1.ClaimMdfRequestRequest) (*partnerv1.ClaimMdfRequestResponse, error) {
	id, err := parseID("mdf_request_id", req.GetMdfRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Claim(ctx, caller(ctx), id, req.GetEtag(), req.GetClaimedMinor(), req.GetEvidence())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.ClaimMdfRequestResponse{MdfRequest: protoconv.MdfRequest(r)}, nil
}

// DecideMdfClaim implements the RPC.
func (s *Funds) DecideMdfClaim(ctx context.Context, req *partnerv1.DecideMdfClaimRequest) (*partnerv1.DecideMdfClaimResponse, error) {
	id, err := parseID("mdf_request_id", req.GetMdfRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.DecideClaim(ctx, caller(ctx), id, req.GetEtag(), req.GetApprove(), req.GetNote())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.DecideMdfClaimResponse{MdfRequest: protoconv.MdfRequest(r)}, nil
}

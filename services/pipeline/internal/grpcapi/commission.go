package grpcapi

import (
	"context"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/commission"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// CommissionServer implements pipelinev1.CommissionServiceServer.
type CommissionServer struct {
	pipelinev1.UnimplementedCommissionServiceServer
	svc *commission.Service
}

// NewCommission returns the commission server.
func NewCommission(svc *commission.Service) *CommissionServer { return &CommissionServer{svc: svc} }

// CreateCommissionPlan implements the RPC.
func (s *CommissionServer) CreateCommissionPlan(ctx context.Context, req *pipelinev1.CreateCommissionPlanRequest) (*pipelinev1.CreateCommissionPlanResponse, error) {
	if req.GetPlan() == nil {
		return nil, toStatus(validation.Field("plan", "is required"))
	}
	p, err := protoconv.FromCommissionPlan(req.GetPlan())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreatePlan(ctx, caller(ctx), p, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateCommissionPlanResponse{Plan: protoconv.CommissionPlan(saved)}, nil
}

// GetCommissionPlan implements the RPC.
func (s *CommissionServer) GetCommissionPlan(ctx context.Context, req *pipelinev1.GetCommissionPlanRequest) (*pipelinev1.GetCommissionPlanResponse, error) {
	id, err := parseID("plan_id", req.GetPlanId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.Plan(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetCommissionPlanResponse{Plan: protoconv.CommissionPlan(p)}, nil
}

// ListCommissionPlans implements the RPC.
func (s *CommissionServer) ListCommissionPlans(ctx context.Context, req *pipelinev1.ListCommissionPlansRequest) (*pipelinev1.ListCommissionPlansResponse, error) {
	page, err := s.svc.Plans(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListCommissionPlansResponse{NextPageToken: page.NextPageToken}
	for _, p := range page.Plans {
		out.Plans = append(out.Plans, protoconv.CommissionPlan(p))
	}
	return out, nil
}

// UpdateCommissionPlan implements the RPC.
func (s *CommissionServer) UpdateCommissionPlan(ctx context.Context, req *pipelinev1.UpdateCommissionPlanRequest) (*pipelinev1.UpdateCommissionPlanResponse, error) {
	if req.GetPlan() == nil {
		return nil, toStatus(validation.Field("plan", "is required"))
	}
	id, err := parseID("plan.plan_id", req.GetPlan().GetPlanId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromCommissionPlan(req.GetPlan())
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "plan_id", "currency_code", "create_time", "update_time")
	saved, err := s.svc.UpdatePlan(ctx, caller(ctx), in, mask, req.GetPlan().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateCommissionPlanResponse{Plan: protoconv.CommissionPlan(saved)}, nil
}

// GetCommissionSplits implements the RPC.
func (s *CommissionServer) GetCommissionSplits(ctx context.Context, req *pipelinev1.GetCommissionSplitsRequest) (*pipelinev1.GetCommissionSplitsResponse, error) {
	id, err := parseID("opportunity_id", req.GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	splits, err := s.svc.Splits(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetCommissionSplitsResponse{Splits: protoconv.CommissionSplits(id, splits)}, nil
}

// UpdateCommissionSplits implements the RPC.
func (s *CommissionServer) UpdateCommissionSplits(ctx context.Context, req *pipelinev1.UpdateCommissionSplitsRequest) (*pipelinev1.UpdateCommissionSplitsResponse, error) {
	id, err := parseID("splits.opportunity_id", req.GetSplits().GetOpportunityId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromCommissionSplits(req.GetSplits())
	if err != nil {
		return nil, toStatus(err)
	}
	splits, err := s.svc.SetSplits(ctx, caller(ctx), id, in)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateCommissionSplitsResponse{Splits: protoconv.CommissionSplits(id, splits)}, nil
}

// ComputeCommissionStatement implements the RPC.
func (s *CommissionServer) ComputeCommissionStatement(ctx context.Context, req *pipelinev1.ComputeCommissionStatementRequest) (*pipelinev1.ComputeCommissionStatementResponse, error) {
	rep, err := parseID("principal_id", req.GetPrincipalId())
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := s.svc.Compute(ctx, caller(ctx), rep, req.GetPeriodStart(), req.GetPeriodEnd())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.ComputeCommissionStatementResponse{Statement: protoconv.CommissionStatement(st)}, nil
}

// GetCommissionStatement implements the RPC.
func (s *CommissionServer) GetCommissionStatement(ctx context.Context, req *pipelinev1.GetCommissionStatementRequest) (*pipelinev1.GetCommissionStatementResponse, error) {
	id, err := parseID("statement_id", req.GetStatementId())
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := s.svc.Statement(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetCommissionStatementResponse{Statement: protoconv.CommissionStatement(st)}, nil
}

// ListCommissionStatements implements the RPC.
func (s *CommissionServer) ListCommissionStatements(ctx context.Context, req *pipelinev1.ListCommissionStatementsRequest) (*pipelinev1.ListCommissionStatementsResponse, error) {
	page, err := s.svc.Statements(ctx, caller(ctx), req.GetFilter(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListCommissionStatementsResponse{NextPageToken: page.NextPageToken}
	for _, st := range page.Statements {
		out.Statements = append(out.Statements, protoconv.CommissionStatement(st))
	}
	return out, nil
}

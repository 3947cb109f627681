package grpcapi

import (
	"context"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Finance implements partnerv1.PartnerFinanceServiceServer.
type Finance struct {
	partnerv1.UnimplementedPartnerFinanceServiceServer
	svc *finance.Service
}

// NewFinance returns the server.
func NewFinance(svc *finance.Service) *Finance { return &Finance{svc: svc} }

// CreateCommissionRule implements the RPC.
func (s *Finance) CreateCommissionRule(ctx context.Context, req *partnerv1.CreateCommissionRuleRequest) (*partnerv1.CreateCommissionRuleResponse, error) {
	if req.GetCommissionRule() == nil {
		return nil, toStatus(validation.Field("commission_rule", "is required"))
	}
	r, err := protoconv.FromCommissionRule(req.GetCommissionRule())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateRule(ctx, caller(ctx), r, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateCommissionRuleResponse{CommissionRule: protoconv.CommissionRule(saved)}, nil
}

// ListCommissionRules implements the RPC.
func (s *Finance) ListCommissionRules(ctx context.Context, req *partnerv1.ListCommissionRulesRequest) (*partnerv1.ListCommissionRulesResponse, error) {
	page, err := s.svc.ListRules(ctx, caller(ctx), finance.RuleQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListCommissionRulesResponse{NextPageToken: page.NextPageToken, CommissionRules: make([]*partnerv1.CommissionRule, len(page.Rules))}
	for i, r := range page.Rules {
		out.CommissionRules[i] = protoconv.CommissionRule(r)
	}
	return out, nil
}

// ComputePartnerStatement implements the RPC.
func (s *Finance) ComputePartnerStatement(ctx context.Context, req *partnerv1.ComputePartnerStatementRequest) (*partnerv1.ComputePartnerStatementResponse, error) {
	v := &validation.Error{}
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		v.Add("partner_id", "must be a UUID")
	}
	from := protoconv.Date(v, "period_start", req.GetPeriodStart())
	to := protoconv.Date(v, "period_end", req.GetPeriodEnd())
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	st, err := s.svc.Compute(ctx, caller(ctx), id, from, to)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.ComputePartnerStatementResponse{PartnerStatement: protoconv.Statement(st)}, nil
}

// GetPartnerStatement implements the RPC.
func (s *Finance) GetPartnerStatement(ctx context.Context, req *partnerv1.GetPartnerStatementRequest) (*partnerv1.GetPartnerStatementResponse, error) {
	id, err := parseID("partner_statement_id", req.GetPartnerStatementId())
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := s.svc.Statement(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetPartnerStatementResponse{PartnerStatement: protoconv.Statement(st)}, nil
}

// ListPartnerStatements implements the RPC.
func (s *Finance) ListPartnerStatements(ctx context.Context, req *partnerv1.ListPartnerStatementsRequest) (*partnerv1.ListPartnerStatementsResponse, error) {
	page, err := s.svc.ListStatements(ctx, caller(ctx), finance.StatementQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListPartnerStatementsResponse{NextPageToken: page.NextPageToken, PartnerStatements: make([]*partnerv1.PartnerStatement, len(page.Statements))}
	for i, st := range page.Statements {
		out.PartnerStatements[i] = protoconv.Statement(st)
	}
	return out, nil
}

// ListPartnerStatementLines implements the RPC.
func (s *Finance) ListPartnerStatementLines(ctx context.Context, req *partnerv1.ListPartnerStatementLinesRequest) (*partnerv1.ListPartnerStatementLinesResponse, error) {
	id, err := parseID("partner_statement_id", req.GetPartnerStatementId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Lines(ctx, caller(ctx), id, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListPartnerStatementLinesResponse{NextPageToken: page.NextPageToken, Lines: make([]*partnerv1.StatementLine, len(page.Lines))}
	for i, l := range page.Lines {
		out.Lines[i] = protoconv.StatementLine(l)
	}
	return out, nil
}

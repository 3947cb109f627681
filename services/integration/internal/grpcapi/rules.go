package grpcapi

import (
	"context"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
)

// Rules implements integrationv1.AutomationServiceServer.
type Rules struct {
	integrationv1.UnimplementedAutomationServiceServer
	svc *rule.Service
}

// NewRules returns the server.
func NewRules(svc *rule.Service) *Rules { return &Rules{svc: svc} }

// CreateRule implements the RPC.
func (s *Rules) CreateRule(ctx context.Context, req *integrationv1.CreateRuleRequest) (*integrationv1.CreateRuleResponse, error) {
	if req.GetRule() == nil {
		return nil, toStatus(validation.Field("rule", "is required"))
	}
	in, err := protoconv.FromRule(req.GetRule())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Create(ctx, caller(ctx), in, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.CreateRuleResponse{Rule: protoconv.Rule(r)}, nil
}

// GetRule implements the RPC.
func (s *Rules) GetRule(ctx context.Context, req *integrationv1.GetRuleRequest) (*integrationv1.GetRuleResponse, error) {
	id, err := parseID("rule_id", req.GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.GetRuleResponse{Rule: protoconv.Rule(r)}, nil
}

// ListRules implements the RPC.
func (s *Rules) ListRules(ctx context.Context, req *integrationv1.ListRulesRequest) (*integrationv1.ListRulesResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), rule.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListRulesResponse{NextPageToken: page.NextPageToken}
	for _, r := range page.Rules {
		out.Rules = append(out.Rules, protoconv.Rule(r))
	}
	return out, nil
}

// UpdateRule implements the RPC.
func (s *Rules) UpdateRule(ctx context.Context, req *integrationv1.UpdateRuleRequest) (*integrationv1.UpdateRuleResponse, error) {
	if req.GetRule() == nil {
		return nil, toStatus(validation.Field("rule", "is required"))
	}
	id, err := parseID("rule.rule_id", req.GetRule().GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromRule(req.GetRule())
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	r, err := s.svc.Update(ctx, caller(ctx), in, req.GetUpdateMask().GetPaths(), req.GetRule().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.UpdateRuleResponse{Rule: protoconv.Rule(r)}, nil
}

// DeleteRule implements the RPC.
func (s *Rules) DeleteRule(ctx context.Context, req *integrationv1.DeleteRuleRequest) (*integrationv1.DeleteRuleResponse, error) {
	id, err := parseID("rule_id", req.GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.Delete(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.DeleteRuleResponse{}, nil
}

// DryRunRule implements the RPC.
func (s *Rules) DryRunRule(ctx context.Context, req *integrationv1.DryRunRuleRequest) (*integrationv1.DryRunRuleResponse, error) {
	if req.GetRule() == nil {
		return nil, toStatus(validation.Field("rule", "is required"))
	}
	in, err := protoconv.FromRule(req.GetRule())
	if err != nil {
		return nil, toStatus(err)
	}
	matches, tried, err := s.svc.DryRun(ctx, caller(ctx), in, int(req.GetEventLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.DryRunRuleResponse{EventsEvaluated: int32(tried)}
	for _, m := range matches {
		out.Matches = append(out.Matches, protoconv.Match(m))
	}
	return out, nil
}

// ListRuleExecutions implements the RPC.
func (s *Rules) ListRuleExecutions(ctx context.Context, req *integrationv1.ListRuleExecutionsRequest) (*integrationv1.ListRuleExecutionsResponse, error) {
	id, err := parseID("rule_id", req.GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Executions(ctx, caller(ctx), id, rule.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListRuleExecutionsResponse{NextPageToken: page.NextPageToken}
	for _, x := range page.Executions {
		out.Executions = append(out.Executions, protoconv.Execution(x))
	}
	return out, nil
}

// RunRule implements the RPC.
func (s *Rules) RunRule(ctx context.Context, req *integrationv1.RunRuleRequest) (*integrationv1.RunRuleResponse, error) {
	id, err := parseID("rule_id", req.GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	run, err := s.svc.RunNow(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.RunRuleResponse{Run: protoconv.Run(run)}, nil
}

// ListRuleRuns implements the RPC.
func (s *Rules) ListRuleRuns(ctx context.Context, req *integrationv1.ListRuleRunsRequest) (*integrationv1.ListRuleRunsResponse, error) {
	id, err := parseID("rule_id", req.GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Runs(ctx, caller(ctx), id, rule.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListRuleRunsResponse{NextPageToken: page.NextPageToken}
	for _, u := range page.Runs {
		out.Runs = append(out.Runs, protoconv.Run(u))
	}
	return out, nil
}

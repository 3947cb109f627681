package grpcapi

import (
	"context"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// Classification implements customerv1.ClassificationServiceServer.
type Classification struct {
	customerv1.UnimplementedClassificationServiceServer
	svc *classify.Service
}

// NewClassification returns the server.
func NewClassification(svc *classify.Service) *Classification {
	return &Classification{svc: svc}
}

// TransitionLifecycleStage implements the RPC.
func (s *Classification) TransitionLifecycleStage(ctx context.Context, req *customerv1.TransitionLifecycleStageRequest) (*customerv1.TransitionLifecycleStageResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	if _, ok := customerv1.LifecycleStage_name[int32(req.GetLifecycleStage())]; !ok {
		return nil, toStatus(validation.Field("lifecycle_stage", "unknown value %d", req.GetLifecycleStage()))
	}
	c, err := s.svc.Transition(ctx, caller(ctx), id, customer.Stage(req.GetLifecycleStage()), req.GetReason(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.TransitionLifecycleStageResponse{Customer: protoconv.Customer(c)}, nil
}

// ListLifecycleTransitions implements the RPC.
func (s *Classification) ListLifecycleTransitions(ctx context.Context, req *customerv1.ListLifecycleTransitionsRequest) (*customerv1.ListLifecycleTransitionsResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Transitions(ctx, caller(ctx), id, classify.PageQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListLifecycleTransitionsResponse{NextPageToken: page.NextPageToken}
	for _, t := range page.Items {
		out.Transitions = append(out.Transitions, protoconv.Transition(t))
	}
	return out, nil
}

// GetCustomerClassification implements the RPC.
func (s *Classification) GetCustomerClassification(ctx context.Context, req *customerv1.GetCustomerClassificationRequest) (*customerv1.GetCustomerClassificationResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.Classification(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetCustomerClassificationResponse{Classification: protoconv.Classification(c)}, nil
}

// SetValueTier implements the RPC.
func (s *Classification) SetValueTier(ctx context.Context, req *customerv1.SetValueTierRequest) (*customerv1.SetValueTierResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.SetTier(ctx, caller(ctx), id, classify.TierRequest{
		Tier: req.GetTier(), Reason: req.GetReason(), Source: classify.TierSource(req.GetSource()),
		OverrideManual: req.GetOverrideManual(), RequestID: req.GetRequestId()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.SetValueTierResponse{Classification: protoconv.Classification(c)}, nil
}

// ListValueTierChanges implements the RPC.
func (s *Classification) ListValueTierChanges(ctx context.Context, req *customerv1.ListValueTierChangesRequest) (*customerv1.ListValueTierChangesResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.TierChanges(ctx, caller(ctx), id, classify.PageQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListValueTierChangesResponse{NextPageToken: page.NextPageToken}
	for _, c := range page.Items {
		out.Changes = append(out.Changes, protoconv.TierChange(c))
	}
	return out, nil
}

// CreateValueTierRule implements the RPC.
func (s *Classification) CreateValueTierRule(ctx context.Context, req *customerv1.CreateValueTierRuleRequest) (*customerv1.CreateValueTierRuleResponse, error) {
	if req.GetRule() == nil {
		return nil, toStatus(validation.Field("rule", "is required"))
	}
	r, err := s.svc.CreateRule(ctx, caller(ctx), protoconv.FromRule(req.GetRule()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateValueTierRuleResponse{Rule: protoconv.Rule(r)}, nil
}

// ListValueTierRules implements the RPC.
func (s *Classification) ListValueTierRules(ctx context.Context, _ *customerv1.ListValueTierRulesRequest) (*customerv1.ListValueTierRulesResponse, error) {
	rules, err := s.svc.Rules(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListValueTierRulesResponse{}
	for _, r := range rules {
		out.Rules = append(out.Rules, protoconv.Rule(r))
	}
	return out, nil
}

// UpdateValueTierRule implements the RPC.
func (s *Classification) UpdateValueTierRule(ctx context.Context, req *customerv1.UpdateValueTierRuleRequest) (*customerv1.UpdateValueTierRuleResponse, error) {
	if req.GetRule() == nil {
		return nil, toStatus(validation.Field("rule", "is required"))
	}
	id, err := parseID("rule.rule_id", req.GetRule().GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	in := protoconv.FromRule(req.GetRule())
	in.ID = id
	r, err := s.svc.UpdateRule(ctx, caller(ctx), in, maskPaths(req.GetUpdateMask().GetPaths(), "rule_id"), req.GetRule().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateValueTierRuleResponse{Rule: protoconv.Rule(r)}, nil
}

// DeleteValueTierRule implements the RPC.
func (s *Classification) DeleteValueTierRule(ctx context.Context, req *customerv1.DeleteValueTierRuleRequest) (*customerv1.DeleteValueTierRuleResponse, error) {
	id, err := parseID("rule_id", req.GetRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteRule(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteValueTierRuleResponse{}, nil
}

// ApplyValueTierRules implements the RPC.
func (s *Classification) ApplyValueTierRules(ctx context.Context, _ *customerv1.ApplyValueTierRulesRequest) (*customerv1.ApplyValueTierRulesResponse, error) {
	n, err := s.svc.ApplyRules(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ApplyValueTierRulesResponse{Changed: n}, nil
}

// CreateSegment implements the RPC.
func (s *Classification) CreateSegment(ctx context.Context, req *customerv1.CreateSegmentRequest) (*customerv1.CreateSegmentResponse, error) {
	if req.GetSegment() == nil {
		return nil, toStatus(validation.Field("segment", "is required"))
	}
	g, err := s.svc.CreateSegment(ctx, caller(ctx), protoconv.FromSegment(req.GetSegment()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateSegmentResponse{Segment: protoconv.Segment(g)}, nil
}

// GetSegment implements the RPC.
func (s *Classification) GetSegment(ctx context.Context, req *customerv1.GetSegmentRequest) (*customerv1.GetSegmentResponse, error) {
	id, err := parseID("segment_id", req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	g, err := s.svc.Segment(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetSegmentResponse{Segment: protoconv.Segment(g)}, nil
}

// ListSegments implements the RPC.
func (s *Classification) ListSegments(ctx context.Context, req *customerv1.ListSegmentsRequest) (*customerv1.ListSegmentsResponse, error) {
	page, err := s.svc.Segments(ctx, caller(ctx), classify.PageQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListSegmentsResponse{NextPageToken: page.NextPageToken}
	for _, g := range page.Items {
		out.Segments = append(out.Segments, protoconv.Segment(g))
	}
	return out, nil
}

// UpdateSegment implements the RPC.
func (s *Classification) UpdateSegment(ctx context.Context, req *customerv1.UpdateSegmentRequest) (*customerv1.UpdateSegmentResponse, error) {
	if req.GetSegment() == nil {
		return nil, toStatus(validation.Field("segment", "is required"))
	}
	id, err := parseID("segment.segment_id", req.GetSegment().GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	in := protoconv.FromSegment(req.GetSegment())
	in.ID = id
	g, err := s.svc.UpdateSegment(ctx, caller(ctx), in,
		maskPaths(req.GetUpdateMask().GetPaths(), "segment_id", "member_count", "refresh_time", "create_time", "update_time"), req.GetSegment().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateSegmentResponse{Segment: protoconv.Segment(g)}, nil
}

// DeleteSegment implements the RPC.
func (s *Classification) DeleteSegment(ctx context.Context, req *customerv1.DeleteSegmentRequest) (*customerv1.DeleteSegmentResponse, error) {
	id, err := parseID("segment_id", req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteSegment(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteSegmentResponse{}, nil
}

// RefreshSegment implements the RPC.
func (s *Classification) RefreshSegment(ctx context.Context, req *customerv1.RefreshSegmentRequest) (*customerv1.RefreshSegmentResponse, error) {
	id, err := parseID("segment_id", req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.RefreshSegment(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.RefreshSegmentResponse{Segment: protoconv.Segment(r.Segment), Entered: r.Entered, Left: r.Left}, nil
}

// ListSegmentMembers implements the RPC.
func (s *Classification) ListSegmentMembers(ctx context.Context, req *customerv1.ListSegmentMembersRequest) (*customerv1.ListSegmentMembersResponse, error) {
	id, err := parseID("segment_id", req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Members(ctx, caller(ctx), id, classify.PageQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListSegmentMembersResponse{NextPageToken: page.NextPageToken}
	for _, m := range page.Items {
		out.Members = append(out.Members, protoconv.Membership(m))
	}
	return out, nil
}

package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
)

// Relationship implements customerv1.RelationshipServiceServer.
type Relationship struct {
	customerv1.UnimplementedRelationshipServiceServer
	svc *relationship.Service
}

// NewRelationship returns the server.
func NewRelationship(svc *relationship.Service) *Relationship { return &Relationship{svc: svc} }

func optionalID(v *validation.Error, field, s string) *uuid.UUID {
	if s == "" {
		return nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
		return nil
	}
	return &id
}

func optionalTime(v *validation.Error, field string, t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	if err := t.CheckValid(); err != nil {
		v.Add(field, "is not a valid time")
		return nil
	}
	out := t.AsTime()
	return &out
}

// CreateInteraction implements the RPC.
func (s *Relationship) CreateInteraction(ctx context.Context, req *customerv1.CreateInteractionRequest) (*customerv1.CreateInteractionResponse, error) {
	if req.GetInteraction() == nil {
		return nil, toStatus(validation.Field("interaction", "is required"))
	}
	id, err := ids("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromInteraction(req.GetInteraction(), "interaction.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.CustomerID = id[0]
	saved, err := s.svc.CreateInteraction(ctx, caller(ctx), in, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateInteractionResponse{Interaction: protoconv.Interaction(saved)}, nil
}

// GetInteraction implements the RPC.
func (s *Relationship) GetInteraction(ctx context.Context, req *customerv1.GetInteractionRequest) (*customerv1.GetInteractionResponse, error) {
	id, err := ids("customer_id", req.GetCustomerId(), "interaction_id", req.GetInteractionId())
	if err != nil {
		return nil, toStatus(err)
	}
	i, err := s.svc.GetInteraction(ctx, caller(ctx), id[0], id[1])
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetInteractionResponse{Interaction: protoconv.Interaction(i)}, nil
}

// ListInteractions implements the RPC.
func (s *Relationship) ListInteractions(ctx context.Context, req *customerv1.ListInteractionsRequest) (*customerv1.ListInteractionsResponse, error) {
	v := &validation.Error{}
	customer, err := uuid.Parse(req.GetCustomerId())
	if err != nil {
		v.Add("customer_id", "must be a UUID")
	}
	q := relationship.InteractionQuery{
		CustomerID: customer, PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
		Start: optionalTime(v, "start_time", req.GetStartTime()), End: optionalTime(v, "end_time", req.GetEndTime()),
		Kind: relationship.Kind(req.GetKind()), ShowDeleted: req.GetShowDeleted(),
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.ListInteractions(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListInteractionsResponse{NextPageToken: page.NextPageToken, Interactions: make([]*customerv1.Interaction, len(page.Interactions))}
	for i, in := range page.Interactions {
		out.Interactions[i] = protoconv.Interaction(in)
	}
	return out, nil
}

// UpdateInteraction implements the RPC.
func (s *Relationship) UpdateInteraction(ctx context.Context, req *customerv1.UpdateInteractionRequest) (*customerv1.UpdateInteractionResponse, error) {
	m := req.GetInteraction()
	if m == nil {
		return nil, toStatus(validation.Field("interaction", "is required"))
	}
	id, err := ids("interaction.customer_id", m.GetCustomerId(), "interaction.interaction_id", m.GetInteractionId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromInteraction(m, "interaction.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.CustomerID, in.ID = id[0], id[1]
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "customer_id", "interaction_id", "author_id", "create_time", "update_time", "delete_time")
	saved, err := s.svc.UpdateInteraction(ctx, caller(ctx), in, mask, m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateInteractionResponse{Interaction: protoconv.Interaction(saved)}, nil
}

// DeleteInteraction implements the RPC.
func (s *Relationship) DeleteInteraction(ctx context.Context, req *customerv1.DeleteInteractionRequest) (*customerv1.DeleteInteractionResponse, error) {
	id, err := ids("customer_id", req.GetCustomerId(), "interaction_id", req.GetInteractionId())
	if err != nil {
		return nil, toStatus(err)
	}
	i, err := s.svc.DeleteInteraction(ctx, caller(ctx), id[0], id[1], req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteInteractionResponse{Interaction: protoconv.Interaction(i)}, nil
}

// CreateFollowUp implements the RPC.
func (s *Relationship) CreateFollowUp(ctx context.Context, req *customerv1.CreateFollowUpRequest) (*customerv1.CreateFollowUpResponse, error) {
	if req.GetFollowUp() == nil {
		return nil, toStatus(validation.Field("follow_up", "is required"))
	}
	in, err := protoconv.FromFollowUp(req.GetFollowUp(), "follow_up.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateFollowUp(ctx, caller(ctx), in, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateFollowUpResponse{FollowUp: protoconv.FollowUp(saved)}, nil
}

// GetFollowUp implements the RPC.
func (s *Relationship) GetFollowUp(ctx context.Context, req *customerv1.GetFollowUpRequest) (*customerv1.GetFollowUpResponse, error) {
	id, err := ids("follow_up_id", req.GetFollowUpId())
	if err != nil {
		return nil, toStatus(err)
	}
	f, err := s.svc.GetFollowUp(ctx, caller(ctx), id[0])
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetFollowUpResponse{FollowUp: protoconv.FollowUp(f)}, nil
}

// ListFollowUps implements the RPC.
func (s *Relationship) ListFollowUps(ctx context.Context, req *customerv1.ListFollowUpsRequest) (*customerv1.ListFollowUpsResponse, error) {
	v := &validation.Error{}
	q := relationship.FollowUpQuery{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
		CustomerID: optionalID(v, "customer_id", req.GetCustomerId()),
		AssigneeID: optionalID(v, "assignee_id", req.GetAssigneeId()),
		Status:     relationship.Status(req.GetStatus()),
		DueStart:   optionalTime(v, "due_start_time", req.GetDueStartTime()),
		DueEnd:     optionalTime(v, "due_end_time", req.GetDueEndTime()),
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.ListFollowUps(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ListFollowUpsResponse{FollowUps: followUps(page.FollowUps), NextPageToken: page.NextPageToken}, nil
}

// ListOverdueFollowUps implements the RPC.
func (s *Relationship) ListOverdueFollowUps(ctx context.Context, req *customerv1.ListOverdueFollowUpsRequest) (*customerv1.ListOverdueFollowUpsResponse, error) {
	v := &validation.Error{}
	assignee := optionalID(v, "assignee_id", req.GetAssigneeId())
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.ListOverdueFollowUps(ctx, caller(ctx), assignee, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ListOverdueFollowUpsResponse{FollowUps: followUps(page.FollowUps), NextPageToken: page.NextPageToken}, nil
}

func followUps(in []relationship.FollowUp) []*customerv1.FollowUp {
	out := make([]*customerv1.FollowUp, len(in))
	for i, f := range in {
		out[i] = protoconv.FollowUp(f)
	}
	return out
}

// UpdateFollowUp implements the RPC.
func (s *Relationship) UpdateFollowUp(ctx context.Context, req *customerv1.UpdateFollowUpRequest) (*customerv1.UpdateFollowUpResponse, error) {
	m := req.GetFollowUp()
	if m == nil {
		return nil, toStatus(validation.Field("follow_up", "is required"))
	}
	id, err := ids("follow_up.follow_up_id", m.GetFollowUpId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromFollowUp(m, "follow_up.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id[0]
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "follow_up_id", "customer_id", "status", "outcome", "close_time", "interaction_id",
		"follow_up_plan_id", "source_event_id", "source_event_type", "create_time", "update_time")
	saved, err := s.svc.UpdateFollowUp(ctx, caller(ctx), in, mask, m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateFollowUpResponse{FollowUp: protoconv.FollowUp(saved)}, nil
}

// CompleteFollowUp implements the RPC.
func (s *Relationship) CompleteFollowUp(ctx context.Context, req *customerv1.CompleteFollowUpRequest) (*customerv1.CompleteFollowUpResponse, error) {
	v := &validation.Error{}
	id, err := uuid.Parse(req.GetFollowUpId())
	if err != nil {
		v.Add("follow_up_id", "must be a UUID")
	}
	interaction := optionalID(v, "interaction_id", req.GetInteractionId())
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	f, err := s.svc.CompleteFollowUp(ctx, caller(ctx), id, req.GetOutcome(), interaction, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CompleteFollowUpResponse{FollowUp: protoconv.FollowUp(f)}, nil
}

// CancelFollowUp implements the RPC.
func (s *Relationship) CancelFollowUp(ctx context.Context, req *customerv1.CancelFollowUpRequest) (*customerv1.CancelFollowUpResponse, error) {
	id, err := ids("follow_up_id", req.GetFollowUpId())
	if err != nil {
		return nil, toStatus(err)
	}
	f, err := s.svc.CancelFollowUp(ctx, caller(ctx), id[0], req.GetReason(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CancelFollowUpResponse{FollowUp: protoconv.FollowUp(f)}, nil
}

// CreateFollowUpPlan implements the RPC.
func (s *Relationship) CreateFollowUpPlan(ctx context.Context, req *customerv1.CreateFollowUpPlanRequest) (*customerv1.CreateFollowUpPlanResponse, error) {
	if req.GetFollowUpPlan() == nil {
		return nil, toStatus(validation.Field("follow_up_plan", "is required"))
	}
	in, err := protoconv.FromPlan(req.GetFollowUpPlan(), "follow_up_plan.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreatePlan(ctx, caller(ctx), in, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateFollowUpPlanResponse{FollowUpPlan: protoconv.Plan(saved)}, nil
}

// GetFollowUpPlan implements the RPC.
func (s *Relationship) GetFollowUpPlan(ctx context.Context, req *customerv1.GetFollowUpPlanRequest) (*customerv1.GetFollowUpPlanResponse, error) {
	id, err := ids("follow_up_plan_id", req.GetFollowUpPlanId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.GetPlan(ctx, caller(ctx), id[0])
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetFollowUpPlanResponse{FollowUpPlan: protoconv.Plan(p)}, nil
}

// ListFollowUpPlans implements the RPC.
func (s *Relationship) ListFollowUpPlans(ctx context.Context, req *customerv1.ListFollowUpPlansRequest) (*customerv1.ListFollowUpPlansResponse, error) {
	page, err := s.svc.ListPlans(ctx, caller(ctx), relationship.PlanQuery{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), ShowDeleted: req.GetShowDeleted(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListFollowUpPlansResponse{NextPageToken: page.NextPageToken, FollowUpPlans: make([]*customerv1.FollowUpPlan, len(page.Plans))}
	for i, p := range page.Plans {
		out.FollowUpPlans[i] = protoconv.Plan(p)
	}
	return out, nil
}

// UpdateFollowUpPlan implements the RPC.
func (s *Relationship) UpdateFollowUpPlan(ctx context.Context, req *customerv1.UpdateFollowUpPlanRequest) (*customerv1.UpdateFollowUpPlanResponse, error) {
	m := req.GetFollowUpPlan()
	if m == nil {
		return nil, toStatus(validation.Field("follow_up_plan", "is required"))
	}
	id, err := ids("follow_up_plan.follow_up_plan_id", m.GetFollowUpPlanId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromPlan(m, "follow_up_plan.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id[0]
	mask := maskPaths(req.GetUpdateMask().GetPaths(), "follow_up_plan_id", "active_time", "create_time", "update_time", "delete_time")
	saved, err := s.svc.UpdatePlan(ctx, caller(ctx), in, mask, m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateFollowUpPlanResponse{FollowUpPlan: protoconv.Plan(saved)}, nil
}

// DeleteFollowUpPlan implements the RPC.
func (s *Relationship) DeleteFollowUpPlan(ctx context.Context, req *customerv1.DeleteFollowUpPlanRequest) (*customerv1.DeleteFollowUpPlanResponse, error) {
	id, err := ids("follow_up_plan_id", req.GetFollowUpPlanId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.DeletePlan(ctx, caller(ctx), id[0], req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteFollowUpPlanResponse{FollowUpPlan: protoconv.Plan(p)}, nil
}

package relationship

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Event types the relationship emits.
const (
	EventInteractionCreated = "customer.interaction.created"
	EventInteractionUpdated = "customer.interaction.updated"
	EventInteractionDeleted = "customer.interaction.deleted"
	EventFollowUpCreated    = "customer.follow_up.created"
	EventFollowUpUpdated    = "customer.follow_up.updated"
	EventFollowUpCompleted  = "customer.follow_up.completed"
	EventFollowUpCancelled  = "customer.follow_up.cancelled"
	EventPlanCreated        = "customer.follow_up_plan.created"
	EventPlanUpdated        = "customer.follow_up_plan.updated"
	EventPlanDeleted        = "customer.follow_up_plan.deleted"
)

// Who may do what: the people who talk to customers record the contact and
// its follow-ups, analysts read, and managers decide what gets scheduled
// automatically.
var (
	readers      = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RoleAnalyst}
	writers      = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	planManagers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// Fields each update may change.
var (
	interactionFields = []string{"kind", "direction", "channel", "occur_time", "duration", "subject", "notes", "outcome",
		"participant_principal_ids", "participant_customer_ids", "participant_names", "location"}
	followUpFields = []string{"title", "notes", "assignee_id", "due_time", "remind_time"}
	planFields     = []string{"display_name", "event_source", "event_type", "delay", "remind_before", "title", "notes",
		"assignee_rule", "assignee_id", "active"}
)

// Service holds the relationship use cases.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store, now: nowUTC} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

func checkEtag(current, etag string) error {
	if etag != "" && etag != current {
		return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, current)
	}
	return nil
}

func checkMask(mask, allowed []string) error {
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(allowed, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %s", f, strings.Join(allowed, ", "))
		}
	}
	return v.Err()
}

// CreateInteraction validates and records an interaction authored by the caller.
func (s *Service) CreateInteraction(ctx context.Context, caller auth.Caller, in Interaction, requestID string) (Interaction, error) {
	if err := allow(caller, writers); err != nil {
		return Interaction{}, err
	}
	in.normalize()
	v := &validation.Error{}
	in.validate("interaction.", v)
	checkRequestID(v, requestID)
	if err := v.Err(); err != nil {
		return Interaction{}, err
	}
	in.ID = uuid.Must(uuid.NewV7())
	in.AuthorID = caller.PrincipalID
	return s.store.CreateInteraction(ctx, caller, in, requestID)
}

// GetInteraction returns an interaction, deleted or not.
func (s *Service) GetInteraction(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (Interaction, error) {
	if err := allow(caller, readers); err != nil {
		return Interaction{}, err
	}
	return s.store.Interaction(ctx, caller, customerID, id)
}

// ListInteractions returns a page of a customer's timeline, newest first.
func (s *Service) ListInteractions(ctx context.Context, caller auth.Caller, q InteractionQuery) (InteractionPage, error) {
	if err := allow(caller, readers); err != nil {
		return InteractionPage{}, err
	}
	v := &validation.Error{}
	q.PageSize = pageSize(v, q.PageSize)
	if q.Kind < KindUnspecified || q.Kind > KindNote {
		v.Add("kind", "is not a known interaction kind")
	}
	if q.Start != nil && q.End != nil && !q.End.After(*q.Start) {
		v.Add("end_time", "must be after start_time")
	}
	if err := v.Err(); err != nil {
		return InteractionPage{}, err
	}
	return s.store.Interactions(ctx, caller, q)
}

// UpdateInteraction changes the fields in mask. An empty etag skips the concurrency check.
func (s *Service) UpdateInteraction(ctx context.Context, caller auth.Caller, in Interaction, mask []string, etag string) (Interaction, error) {
	if err := allow(caller, writers); err != nil {
		return Interaction{}, err
	}
	if err := checkMask(mask, interactionFields); err != nil {
		return Interaction{}, err
	}
	return s.store.MutateInteraction(ctx, caller, in.CustomerID, in.ID, func(i *Interaction) (string, error) {
		if err := checkEtag(i.Etag(), etag); err != nil {
			return "", err
		}
		if i.DeleteTime != nil {
			return "", ErrDeleted
		}
		for _, f := range mask {
			applyInteraction(i, in, f)
		}
		i.normalize()
		v := &validation.Error{}
		i.validate("interaction.", v)
		return EventInteractionUpdated, v.Err()
	})
}

// DeleteInteraction soft-deletes an interaction.
func (s *Service) DeleteInteraction(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, etag string) (Interaction, error) {
	if err := allow(caller, writers); err != nil {
		return Interaction{}, err
	}
	return s.store.MutateInteraction(ctx, caller, customerID, id, func(i *Interaction) (string, error) {
		if err := checkEtag(i.Etag(), etag); err != nil {
			return "", err
		}
		if i.DeleteTime != nil {
			return "", ErrDeleted
		}
		now := s.now()
		i.DeleteTime = &now
		return EventInteractionDeleted, nil
	})
}

func applyInteraction(i *Interaction, in Interaction, field string) {
	switch field {
	case "kind":
		i.Kind = in.Kind
	case "direction":
		i.Direction = in.Direction
	case "channel":
		i.Channel = in.Channel
	case "occur_time":
		i.OccurTime = in.OccurTime
	case "duration":
		i.Duration = in.Duration
	case "subject":
		i.Subject = in.Subject
	case "notes":
		i.Notes = in.Notes
	case "outcome":
		i.Outcome = in.Outcome
	case "participant_principal_ids":
		i.ParticipantPrincipalIDs = in.ParticipantPrincipalIDs
	case "participant_customer_ids":
		i.ParticipantCustomerIDs = in.ParticipantCustomerIDs
	case "participant_names":
		i.ParticipantNames = in.ParticipantNames
	case "location":
		i.Location = in.Location
	}
}

// CreateFollowUp validates and schedules an open follow-up.
func (s *Service) CreateFollowUp(ctx context.Context, caller auth.Caller, in FollowUp, requestID string) (FollowUp, error) {
	if err := allow(caller, writers); err != nil {
		return FollowUp{}, err
	}
	in.normalize()
	v := &validation.Error{}
	in.validate("follow_up.", v)
	checkRequestID(v, requestID)
	if err := v.Err(); err != nil {
		return FollowUp{}, err
	}
	in.ID = uuid.Must(uuid.NewV7())
	in.Status = StatusOpen
	return s.store.CreateFollowUp(ctx, caller, in, requestID)
}

// GetFollowUp returns a follow-up.
func (s *Service) GetFollowUp(ctx context.Context, caller auth.Caller, id uuid.UUID) (FollowUp, error) {
	if err := allow(caller, readers); err != nil {
		return FollowUp{}, err
	}
	return s.store.FollowUp(ctx, caller, id)
}

// ListFollowUps returns a page of follow-ups, earliest due first.
func (s *Service) ListFollowUps(ctx context.Context, caller auth.Caller, q FollowUpQuery) (FollowUpPage, error) {
	if err := allow(caller, readers); err != nil {
		return FollowUpPage{}, err
	}
	v := &validation.Error{}
	q.PageSize = pageSize(v, q.PageSize)
	if q.Status < StatusUnspecified || q.Status > StatusCancelled {
		v.Add("status", "is not a known follow-up status")
	}
	if q.DueStart != nil && q.DueEnd != nil && !q.DueEnd.After(*q.DueStart) {
		v.Add("due_end_time", "must be after due_start_time")
	}
	if err := v.Err(); err != nil {
		return FollowUpPage{}, err
	}
	return s.store.FollowUps(ctx, caller, q)
}

// ListOverdueFollowUps returns the open follow-ups of assignee (the caller
// when nil) whose due time has passed, earliest first.
func (s *Service) ListOverdueFollowUps(ctx context.Context, caller auth.Caller, assignee *uuid.UUID, size int, token string) (FollowUpPage, error) {
	if err := allow(caller, readers); err != nil {
		return FollowUpPage{}, err
	}
	v := &validation.Error{}
	size = pageSize(v, size)
	if assignee == nil {
		id, err := uuid.Parse(caller.PrincipalID)
		if err != nil {
			v.Add("assignee_id", "is required: the caller is not a principal that follow-ups are assigned to")
		}
		assignee = &id
	}
	if err := v.Err(); err != nil {
		return FollowUpPage{}, err
	}
	return s.store.OverdueFollowUps(ctx, caller, *assignee, s.now(), size, token)
}

// UpdateFollowUp changes the fields in mask of an open follow-up.
func (s *Service) UpdateFollowUp(ctx context.Context, caller auth.Caller, in FollowUp, mask []string, etag string) (FollowUp, error) {
	if err := allow(caller, writers); err != nil {
		return FollowUp{}, err
	}
	if err := checkMask(mask, followUpFields); err != nil {
		return FollowUp{}, err
	}
	return s.store.MutateFollowUp(ctx, caller, in.ID, func(f *FollowUp) (string, error) {
		if err := openAt(*f, etag); err != nil {
			return "", err
		}
		for _, field := range mask {
			applyFollowUp(f, in, field)
		}
		f.normalize()
		v := &validation.Error{}
		f.validate("follow_up.", v)
		return EventFollowUpUpdated, v.Err()
	})
}

// CompleteFollowUp marks an open follow-up done with its outcome and,
// optionally, the interaction of the same customer that closed it.
func (s *Service) CompleteFollowUp(ctx context.Context, caller auth.Caller, id uuid.UUID, outcome string, interaction *uuid.UUID, etag string) (FollowUp, error) {
	if err := allow(caller, writers); err != nil {
		return FollowUp{}, err
	}
	outcome = strings.TrimSpace(outcome)
	v := &validation.Error{}
	if outcome == "" {
		v.Add("outcome", "is required")
	}
	checkLen(v, "outcome", outcome, maxOutcome)
	if err := v.Err(); err != nil {
		return FollowUp{}, err
	}
	return s.store.MutateFollowUp(ctx, caller, id, func(f *FollowUp) (string, error) {
		if err := openAt(*f, etag); err != nil {
			return "", err
		}
		now := s.now()
		f.Status, f.Outcome, f.CloseTime, f.InteractionID = StatusDone, outcome, &now, interaction
		return EventFollowUpCompleted, nil
	})
}

// CancelFollowUp cancels an open follow-up, keeping the reason as its outcome.
func (s *Service) CancelFollowUp(ctx context.Context, caller auth.Caller, id uuid.UUID, reason, etag string) (FollowUp, error) {
	if err := allow(caller, writers); err != nil {
		return FollowUp{}, err
	}
	reason = strings.TrimSpace(reason)
	v := &validation.Error{}
	checkLen(v, "reason", reason, maxOutcome)
	if err := v.Err(); err != nil {
		return FollowUp{}, err
	}
	return s.store.MutateFollowUp(ctx, caller, id, func(f *FollowUp) (string, error) {
		if err := openAt(*f, etag); err != nil {
			return "", err
		}
		now := s.now()
		f.Status, f.Outcome, f.CloseTime = StatusCancelled, reason, &now
		return EventFollowUpCancelled, nil
	})
}

// openAt checks that f is still open at the revision the caller read.
func openAt(f FollowUp, etag string) error {
	if err := checkEtag(f.Etag(), etag); err != nil {
		return err
	}
	if f.Status != StatusOpen {
		return ErrFollowUpClosed
	}
	return nil
}

func applyFollowUp(f *FollowUp, in FollowUp, field string) {
	switch field {
	case "title":
		f.Title = in.Title
	case "notes":
		f.Notes = in.Notes
	case "assignee_id":
		f.AssigneeID = in.AssigneeID
	case "due_time":
		f.DueTime = in.DueTime
	case "remind_time":
		f.RemindTime = in.RemindTime
	}
}

// CreatePlan validates and stores a follow-up plan.
func (s *Service) CreatePlan(ctx context.Context, caller auth.Caller, in Plan, requestID string) (Plan, error) {
	if err := allow(caller, planManagers); err != nil {
		return Plan{}, err
	}
	in.normalize()
	v := &validation.Error{}
	in.validate("follow_up_plan.", v)
	checkRequestID(v, requestID)
	if err := v.Err(); err != nil {
		return Plan{}, err
	}
	in.ID = uuid.Must(uuid.NewV7())
	in.ActiveTime = nil
	if in.Active {
		now := s.now()
		in.ActiveTime = &now
	}
	return s.store.CreatePlan(ctx, caller, in, requestID)
}

// GetPlan returns a plan, deleted or not.
func (s *Service) GetPlan(ctx context.Context, caller auth.Caller, id uuid.UUID) (Plan, error) {
	if err := allow(caller, readers); err != nil {
		return Plan{}, err
	}
	return s.store.Plan(ctx, caller, id)
}

// ListPlans returns a page of plans, newest first.
func (s *Service) ListPlans(ctx context.Context, caller auth.Caller, q PlanQuery) (PlanPage, error) {
	if err := allow(caller, readers); err != nil {
		return PlanPage{}, err
	}
	v := &validation.Error{}
	q.PageSize = pageSize(v, q.PageSize)
	if err := v.Err(); err != nil {
		return PlanPage{}, err
	}
	return s.store.Plans(ctx, caller, q)
}

// UpdatePlan changes the fields in mask; turning a plan on restarts the
// time from which it applies.
func (s *Service) UpdatePlan(ctx context.Context, caller auth.Caller, in Plan, mask []string, etag string) (Plan, error) {
	if err := allow(caller, planManagers); err != nil {
		return Plan{}, err
	}
	if err := checkMask(mask, planFields); err != nil {
		return Plan{}, err
	}
	return s.store.MutatePlan(ctx, caller, in.ID, func(p *Plan) (string, error) {
		if err := checkEtag(p.Etag(), etag); err != nil {
			return "", err
		}
		if p.DeleteTime != nil {
			return "", ErrDeleted
		}
		wasActive := p.Active
		for _, f := range mask {
			applyPlan(p, in, f)
		}
		if p.Active && !wasActive {
			now := s.now()
			p.ActiveTime = &now
		}
		p.normalize()
		v := &validation.Error{}
		p.validate("follow_up_plan.", v)
		return EventPlanUpdated, v.Err()
	})
}

// DeletePlan soft-deletes a plan; it stops applying at once.
func (s *Service) DeletePlan(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Plan, error) {
	if err := allow(caller, planManagers); err != nil {
		return Plan{}, err
	}
	return s.store.MutatePlan(ctx, caller, id, func(p *Plan) (string, error) {
		if err := checkEtag(p.Etag(), etag); err != nil {
			return "", err
		}
		if p.DeleteTime != nil {
			return "", ErrDeleted
		}
		now := s.now()
		p.DeleteTime = &now
		return EventPlanDeleted, nil
	})
}

func applyPlan(p *Plan, in Plan, field string) {
	switch field {
	case "display_name":
		p.DisplayName = in.DisplayName
	case "event_source":
		p.Source = in.Source
	case "event_type":
		p.EventType = in.EventType
	case "delay":
		p.Delay = in.Delay
	case "remind_before":
		p.RemindBefore = in.RemindBefore
	case "title":
		p.Title = in.Title
	case "notes":
		p.Notes = in.Notes
	case "assignee_rule":
		p.AssigneeRule = in.AssigneeRule
	case "assignee_id":
		p.AssigneeID = in.AssigneeID
	case "active":
		p.Active = in.Active
	}
}

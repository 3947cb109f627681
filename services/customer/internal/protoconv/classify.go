package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
)

func optionalID(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// Transition renders a lifecycle transition.
func Transition(t classify.Transition) *customerv1.LifecycleTransition {
	return &customerv1.LifecycleTransition{
		FromStage:      customerv1.LifecycleStage(t.From),
		ToStage:        customerv1.LifecycleStage(t.To),
		PrincipalId:    optionalID(t.PrincipalID),
		Reason:         t.Reason,
		TransitionTime: timestamppb.New(t.Time),
	}
}

// TierChange renders a value tier change.
func TierChange(c classify.TierChange) *customerv1.ValueTierChange {
	return &customerv1.ValueTierChange{
		FromTier:    c.From,
		ToTier:      c.To,
		RuleId:      optionalID(c.RuleID),
		PrincipalId: optionalID(c.PrincipalID),
		Reason:      c.Reason,
		ChangeTime:  timestamppb.New(c.Time),
		Source:      customerv1.ValueTierSource(c.Source),
	}
}

// Rule renders a value tier rule.
func Rule(r classify.Rule) *customerv1.ValueTierRule {
	return &customerv1.ValueTierRule{
		RuleId:      r.ID.String(),
		Tier:        r.Tier,
		Rank:        r.Rank,
		Filter:      r.Filter,
		Description: r.Description,
		CreateTime:  timestamppb.New(r.CreateTime),
		UpdateTime:  timestamppb.New(r.UpdateTime),
		Etag:        r.Etag(),
	}
}

// FromRule reads the writable fields of a value tier rule.
func FromRule(m *customerv1.ValueTierRule) classify.Rule {
	return classify.Rule{Tier: m.GetTier(), Rank: m.GetRank(), Filter: m.GetFilter(), Description: m.GetDescription()}
}

// Segment renders a segment.
func Segment(g classify.Segment) *customerv1.Segment {
	return &customerv1.Segment{
		SegmentId:   g.ID.String(),
		DisplayName: g.DisplayName,
		Description: g.Description,
		Filter:      g.Filter,
		MemberCount: g.MemberCount,
		RefreshTime: timestamppb.New(g.RefreshTime),
		CreateTime:  timestamppb.New(g.CreateTime),
		UpdateTime:  timestamppb.New(g.UpdateTime),
		Etag:        g.Etag(),
	}
}

// FromSegment reads the writable fields of a segment.
func FromSegment(m *customerv1.Segment) classify.Segment {
	return classify.Segment{DisplayName: m.GetDisplayName(), Description: m.GetDescription(), Filter: m.GetFilter()}
}

// Membership renders a segment membership.
func Membership(m classify.Membership) *customerv1.SegmentMembership {
	return &customerv1.SegmentMembership{
		SegmentId:  m.SegmentID.String(),
		CustomerId: m.CustomerID.String(),
		EnterTime:  timestamppb.New(m.EnterTime),
	}
}

// Classification renders a customer's classification.
func Classification(c classify.Classification) *customerv1.CustomerClassification {
	out := &customerv1.CustomerClassification{
		CustomerId:      c.CustomerID.String(),
		LifecycleStage:  customerv1.LifecycleStage(c.Stage),
		ValueTier:       c.Tier,
		ValueTierRuleId: optionalID(c.TierRuleID),
		ValueTierManual: c.TierManual,
		ValueTierSource: customerv1.ValueTierSource(c.TierSource),
		Segments:        make([]*customerv1.SegmentMembership, len(c.Segments)),
	}
	if c.TierTime != nil {
		out.ValueTierTime = timestamppb.New(*c.TierTime)
	}
	for i, m := range c.Segments {
		out.Segments[i] = Membership(m)
	}
	return out
}

package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
)

// LoyaltyProgram renders a program.
func LoyaltyProgram(p loyalty.Program) *customerv1.LoyaltyProgram {
	return &customerv1.LoyaltyProgram{
		ProgramId: p.ID.String(), DisplayName: p.DisplayName, ExpiryMonths: p.ExpiryMonths, Active: p.Active,
		CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime), Etag: p.Etag(),
	}
}

// FromLoyaltyProgram reads a program's writable fields.
func FromLoyaltyProgram(m *customerv1.LoyaltyProgram) loyalty.Program {
	return loyalty.Program{DisplayName: m.GetDisplayName(), ExpiryMonths: m.GetExpiryMonths(), Active: m.GetActive()}
}

// LoyaltyTier renders a tier.
func LoyaltyTier(t loyalty.Tier) *customerv1.LoyaltyTier {
	return &customerv1.LoyaltyTier{
		TierId: t.ID.String(), ProgramId: t.ProgramID.String(), DisplayName: t.DisplayName, Rank: t.Rank,
		RuleKind: customerv1.TierRuleKind(t.Rule), WindowDays: t.WindowDays, ThresholdPoints: t.Threshold,
		Benefits: t.Benefits, CreateTime: timestamppb.New(t.CreateTime),
	}
}

// FromLoyaltyTier reads a tier's writable fields.
func FromLoyaltyTier(m *customerv1.LoyaltyTier) loyalty.Tier {
	return loyalty.Tier{
		DisplayName: m.GetDisplayName(), Rank: m.GetRank(), Rule: loyalty.RuleKind(m.GetRuleKind()),
		WindowDays: m.GetWindowDays(), Threshold: m.GetThresholdPoints(), Benefits: m.GetBenefits(),
	}
}

// LoyaltyMembership renders a membership.
func LoyaltyMembership(m loyalty.Membership) *customerv1.LoyaltyMembership {
	out := &customerv1.LoyaltyMembership{
		ProgramId: m.ProgramID.String(), CustomerId: m.CustomerID.String(), Balance: m.Balance,
		TierId: optionalID(m.TierID), EnrollTime: timestamppb.New(m.EnrollTime),
	}
	if m.TierTime != nil {
		out.TierTime = timestamppb.New(*m.TierTime)
	}
	return out
}

// PointsTransaction renders a ledger transaction.
func PointsTransaction(t loyalty.Transaction) *customerv1.PointsTransaction {
	return &customerv1.PointsTransaction{
		TransactionId: t.ID.String(), ProgramId: t.ProgramID.String(), CustomerId: t.CustomerID.String(),
		Kind: customerv1.PointsTransactionKind(t.Kind), Points: t.Points, ExternalReference: t.ExternalReference,
		Reason: t.Reason, BalanceAfter: t.BalanceAfter, CreateTime: timestamppb.New(t.CreateTime),
	}
}

// LoyaltyTierChange renders a tier change.
func LoyaltyTierChange(c loyalty.TierChange) *customerv1.LoyaltyTierChange {
	return &customerv1.LoyaltyTierChange{
		FromTierId: optionalID(c.From), ToTierId: optionalID(c.To), QualifyingPoints: c.QualifyingPoints,
		ChangeTime: timestamppb.New(c.Time),
	}
}

// OptionalUUID parses an optional id field; empty is nil.
func OptionalUUID(s string) (*uuid.UUID, error) {
	if s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

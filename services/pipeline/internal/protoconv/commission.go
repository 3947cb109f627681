package protoconv

import (
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/commission"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// CommissionPlan renders a plan.
func CommissionPlan(p commission.Plan) *pipelinev1.CommissionPlan {
	out := &pipelinev1.CommissionPlan{
		PlanId: p.ID.String(), DisplayName: p.DisplayName, CurrencyCode: p.CurrencyCode, ClawbackDays: p.ClawbackDays,
		TimeZone: p.TimeZone, CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime), Etag: p.Etag(),
	}
	for _, t := range p.Tiers {
		out.Tiers = append(out.Tiers, &pipelinev1.CommissionTier{FromAttainmentBps: t.FromBps, ToAttainmentBps: t.ToBps, RateBps: t.RateBps})
	}
	for _, id := range p.MemberIDs {
		out.MemberIds = append(out.MemberIds, id.String())
	}
	return out
}

// FromCommissionPlan reads the writable fields of a plan.
func FromCommissionPlan(m *pipelinev1.CommissionPlan) (commission.Plan, error) {
	v := &validation.Error{}
	p := commission.Plan{DisplayName: m.GetDisplayName(), CurrencyCode: m.GetCurrencyCode(), ClawbackDays: m.GetClawbackDays(),
		TimeZone: m.GetTimeZone()}
	for _, t := range m.GetTiers() {
		p.Tiers = append(p.Tiers, commission.Tier{FromBps: t.GetFromAttainmentBps(), ToBps: t.GetToAttainmentBps(), RateBps: t.GetRateBps()})
	}
	p.MemberIDs = rules.IDs(m.GetMemberIds(), "plan.member_ids", v)
	return p, v.Err()
}

// CommissionSplits renders an opportunity's splits.
func CommissionSplits(opportunity uuid.UUID, splits []commission.Split) *pipelinev1.CommissionSplits {
	out := &pipelinev1.CommissionSplits{OpportunityId: opportunity.String()}
	for _, sp := range splits {
		out.Splits = append(out.Splits, &pipelinev1.CommissionSplit{PrincipalId: sp.PrincipalID.String(), ShareBps: sp.ShareBps})
	}
	return out
}

// FromCommissionSplits reads splits.
func FromCommissionSplits(m *pipelinev1.CommissionSplits) ([]commission.Split, error) {
	v := &validation.Error{}
	var out []commission.Split
	for i, sp := range m.GetSplits() {
		id := rules.ID(sp.GetPrincipalId(), fmt.Sprintf("splits.splits[%d].principal_id", i), v)
		out = append(out, commission.Split{PrincipalID: id, ShareBps: sp.GetShareBps()})
	}
	return out, v.Err()
}

// CommissionStatement renders a statement with its lines.
func CommissionStatement(s commission.Statement) *pipelinev1.CommissionStatement {
	out := &pipelinev1.CommissionStatement{
		StatementId: s.ID.String(), PrincipalId: s.PrincipalID.String(), PlanId: s.PlanID.String(),
		PeriodStart: s.PeriodStart, PeriodEnd: s.PeriodEnd,
		Total:       &typesv1.Money{CurrencyCode: s.CurrencyCode, AmountMinor: s.TotalMinor},
		Quota:       &typesv1.Money{CurrencyCode: s.CurrencyCode, AmountMinor: s.QuotaMinor},
		ComputeTime: timestamppb.New(s.ComputeTime), Revision: s.Revision,
	}
	for _, l := range s.Lines {
		out.Lines = append(out.Lines, &pipelinev1.CommissionLine{
			LineNumber: l.Number, OpportunityId: l.OpportunityID.String(), Kind: pipelinev1.CommissionLineKind(l.Kind),
			CreditMinor: l.CreditMinor, RateBps: l.RateBps, AmountMinor: l.AmountMinor, TierIndex: l.TierIndex, Explanation: l.Explanation,
		})
	}
	return out
}

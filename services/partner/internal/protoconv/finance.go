package protoconv

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

// CommissionRule renders a rule as its API message.
func CommissionRule(r finance.Rule) *partnerv1.CommissionRule {
	return &partnerv1.CommissionRule{
		CommissionRuleId: r.ID.String(),
		Kind:             partnerv1.CommissionRuleKind(r.Kind),
		Tier:             r.Tier,
		ProductId:        r.ProductID,
		ValidFrom:        finance.FormatDate(r.ValidFrom),
		ValidUntil:       finance.FormatDate(r.ValidUntil),
		RateBps:          r.RateBPS,
		DisplayName:      r.DisplayName,
		CreateTime:       timestamppb.New(r.CreateTime),
		Etag:             r.Etag(),
	}
}

// FromCommissionRule reads a rule from its API message, reporting
// unreadable dates as field violations.
func FromCommissionRule(m *partnerv1.CommissionRule) (finance.Rule, error) {
	r := finance.Rule{
		Kind: finance.Kind(m.GetKind()), Tier: m.GetTier(), ProductID: m.GetProductId(),
		RateBPS: m.GetRateBps(), DisplayName: m.GetDisplayName(),
	}
	v := &validation.Error{}
	r.ValidFrom = Date(v, "commission_rule.valid_from", m.GetValidFrom())
	r.ValidUntil = Date(v, "commission_rule.valid_until", m.GetValidUntil())
	return r, v.Err()
}

// Date reads an API calendar date, adding a violation on field when it is
// not one.
func Date(v *validation.Error, field, s string) time.Time {
	t, err := finance.ParseDate(s)
	if err != nil {
		v.Add(field, "must be a date YYYY-MM-DD")
	}
	return t
}

// Statement renders a statement as its API message.
func Statement(s finance.Statement) *partnerv1.PartnerStatement {
	m := &partnerv1.PartnerStatement{
		PartnerStatementId: s.ID.String(),
		PartnerId:          s.PartnerID.String(),
		PeriodStart:        finance.FormatDate(s.PeriodStart),
		PeriodEnd:          finance.FormatDate(s.PeriodEnd),
		Tier:               s.Tier,
		LineCount:          int32(s.LineCount),
		Revision:           s.Revision,
		ComputeTime:        timestamppb.New(s.ComputeTime),
		ComputedBy:         s.ComputedBy,
		Etag:               s.Etag(),
	}
	for _, t := range s.Totals {
		m.Totals = append(m.Totals, &partnerv1.StatementTotal{
			CurrencyCode: t.CurrencyCode, RevenueMinor: t.RevenueMinor, CommissionMinor: t.CommissionMinor, RebateMinor: t.RebateMinor,
		})
	}
	return m
}

// StatementLine renders a statement line as its API message.
func StatementLine(l finance.Line) *partnerv1.StatementLine {
	return &partnerv1.StatementLine{
		LineNumber:       int32(l.Number),
		OrderId:          l.OrderID.String(),
		ProductId:        l.ProductID,
		OrderTime:        timestamppb.New(l.OrderTime),
		Revenue:          &typesv1.Money{CurrencyCode: l.CurrencyCode, AmountMinor: l.RevenueMinor},
		Kind:             partnerv1.CommissionRuleKind(l.Kind),
		CommissionRuleId: idString(l.RuleID),
		RateBps:          l.RateBPS,
		Amount:           &typesv1.Money{CurrencyCode: l.CurrencyCode, AmountMinor: l.AmountMinor},
		Explanation:      l.Explanation,
	}
}

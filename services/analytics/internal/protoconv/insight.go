// Package protoconv converts the analytics domain's insight types to their
// API messages.
package protoconv

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// ts converts a time; the zero time (unknown) becomes an absent field.
func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func money(m analytics.Money) *typesv1.Money {
	return &typesv1.Money{CurrencyCode: m.CurrencyCode, AmountMinor: m.AmountMinor}
}

func moneys(ms []analytics.Money) []*typesv1.Money {
	out := make([]*typesv1.Money, len(ms))
	for i, m := range ms {
		out[i] = money(m)
	}
	return out
}

// Value converts value figures.
func Value(v insight.Value) *analyticsv1.CustomerValue {
	return &analyticsv1.CustomerValue{
		CustomerId: v.CustomerID.String(), CurrencyCode: v.CurrencyCode,
		StartTime: ts(v.Window.Start), EndTime: ts(v.Window.End),
		Scored: v.Scored, RecencyDays: v.RecencyDays, Frequency: v.Frequency, MonetaryMinor: v.Monetary,
		RecencyScore: v.RecencyScore, FrequencyScore: v.FrequencyScore, MonetaryScore: v.MonetaryScore,
		LifetimeRevenueMinor: v.LifetimeRevenue, LifetimePurchases: v.LifetimePurchases, AverageOrderValueMinor: v.AverageOrderValue,
		FirstPurchaseTime: ts(v.FirstPurchaseTime), LastPurchaseTime: ts(v.LastPurchaseTime),
		AnnualRevenueMinor: v.AnnualRevenue, PredictedValueMinor: v.PredictedValue, PotentialValueMinor: v.PotentialValue,
		SuggestedTier: v.SuggestedTier,
	}
}

// ChurnRisk converts a churn risk.
func ChurnRisk(r insight.ChurnRisk) *analyticsv1.ChurnRisk {
	out := &analyticsv1.ChurnRisk{CustomerId: r.CustomerID.String(), ReferenceTime: ts(r.ReferenceTime), Score: r.Score,
		Band: analyticsv1.ChurnRiskBand(r.Band), SuggestAtRisk: r.SuggestAtRisk}
	for _, c := range r.Reasons {
		out.Reasons = append(out.Reasons, &analyticsv1.ChurnReasonContribution{Reason: analyticsv1.ChurnReason(c.Reason), Points: c.Points})
	}
	return out
}

// Offers converts ranked offers.
func Offers(o insight.Offers) *analyticsv1.ListNextBestOffersResponse {
	out := &analyticsv1.ListNextBestOffersResponse{Suppression: analyticsv1.OfferSuppression(o.Suppressed)}
	for _, x := range o.Offers {
		m := &analyticsv1.Offer{ProductId: x.ProductID.String(), Score: x.Score, TogetherOrders: x.TogetherOrders}
		for _, r := range x.Reasons {
			m.Reasons = append(m.Reasons, analyticsv1.OfferReason(r))
		}
		out.Offers = append(out.Offers, m)
	}
	return out
}

// Feedback converts offer feedback.
func Feedback(f insight.Feedback) *analyticsv1.OfferFeedback {
	return &analyticsv1.OfferFeedback{FeedbackId: f.ID.String(), CustomerId: f.CustomerID.String(), ProductId: f.ProductID.String(),
		Outcome: analyticsv1.OfferOutcome(f.Outcome), PrincipalId: f.PrincipalID, CreateTime: ts(f.CreateTime)}
}

// Quarantined converts a quarantined event.
func Quarantined(q analytics.QuarantinedEvent) *analyticsv1.QuarantinedEvent {
	return &analyticsv1.QuarantinedEvent{EventId: q.EventID.String(), Source: q.Source, Cursor: q.Cursor, Type: q.Type,
		Reason: q.Reason, PayloadType: q.PayloadType, CreateTime: ts(q.CreateTime)}
}

// Customer360 converts a 360 view.
func Customer360(c insight.Customer360) *analyticsv1.Customer360 {
	v := c.View
	out := &analyticsv1.Customer360{
		CustomerId: v.CustomerID.String(), ValueTier: v.ValueTier,
		PurchaseCount: v.Purchases, ReturnCount: v.Returns, CancelledOrderCount: v.CancelledOrders,
		Value:                Value(c.Value),
		OpenOpportunityCount: v.OpenOpportunities, OpenOpportunityAmounts: moneys(v.OpenAmounts),
		WonOpportunityCount: v.WonOpportunities, WonOpportunityAmounts: moneys(v.WonAmounts),
		OpenTicketCount: v.OpenTickets, TicketCount: v.Tickets, SlaBreachedOpenTicketCount: v.BreachedOpenTickets,
		CsatResponseCount: v.CSATResponses, CsatAverage: v.CSATAverage, NpsResponseCount: v.NPSResponses,
		InteractionCount_90Days: v.Interactions90Days, OpenFollowUpCount: v.OpenFollowUps,
		NextFollowUpDueTime: ts(v.NextFollowUpDue), ChurnRisk: ChurnRisk(c.Churn),
	}
	if v.LatestNPS != nil {
		score := int32(*v.LatestNPS)
		out.LatestNpsScore = &score
	}
	if p := v.Profile; p != nil {
		out.Kind, out.CountryCode, out.CreateTime, out.Deleted, out.LifecycleStage = p.Kind, p.CountryCode, ts(p.CreateTime), p.Deleted, int32(p.Stage)
	}
	for _, s := range v.Segments {
		out.SegmentIds = append(out.SegmentIds, s.SegmentID.String())
	}
	for _, o := range v.RecentOrders {
		out.RecentOrders = append(out.RecentOrders, &analyticsv1.OrderSummary{OrderId: o.ID.String(), OrderNumber: o.Number,
			Kind: int32(o.Kind), Status: int32(o.Status), Value: money(o.Value), OrderTime: ts(o.OrderTime)})
	}
	for _, i := range v.RecentInteractions {
		out.RecentInteractions = append(out.RecentInteractions, &analyticsv1.InteractionSummary{InteractionId: i.ID.String(),
			Kind: i.Kind, Direction: i.Direction, Channel: i.Channel, OccurTime: ts(i.OccurTime)})
	}
	for _, l := range v.Loyalty {
		out.Loyalty = append(out.Loyalty, &analyticsv1.LoyaltyStanding{ProgramId: l.ProgramID.String(), Balance: l.Balance, TierId: l.TierID})
	}
	return out
}

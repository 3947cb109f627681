// Package protoconv converts between the analytics API's messages and the
// domain's figures and behaviour types.
package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// FigureQuery reads a query request; validation is the domain's.
func FigureQuery(r *analyticsv1.QueryFiguresRequest) analytics.FigureQuery {
	q := analytics.FigureQuery{Metric: analytics.Metric(r.GetMetric()), Filter: r.GetFilter(), Percentile: r.GetPercentile(),
		PerCurrency: r.GetPerCurrency()}
	for _, d := range r.GetGroupBy() {
		q.GroupBy = append(q.GroupBy, analytics.Dimension(d))
	}
	if r.GetStartTime() != nil {
		q.Start = r.GetStartTime().AsTime()
	}
	if r.GetEndTime() != nil {
		q.End = r.GetEndTime().AsTime()
	}
	return q
}

// FigureRows renders figure rows.
func FigureRows(rows []analytics.FigureRow) []*analyticsv1.FigureRow {
	out := make([]*analyticsv1.FigureRow, len(rows))
	for i, r := range rows {
		out[i] = &analyticsv1.FigureRow{Keys: r.Keys, CurrencyCode: r.CurrencyCode, Value: r.Value, Count: r.Count,
			UnconvertedCount: r.Unconverted}
	}
	return out
}

// CohortQuery reads a cohort retention request.
func CohortQuery(r *analyticsv1.QueryCohortRetentionRequest) analytics.CohortQuery {
	q := analytics.CohortQuery{Months: r.GetMonths(), Filter: r.GetFilter()}
	if r.GetStartTime() != nil {
		q.Start = r.GetStartTime().AsTime()
	}
	if r.GetEndTime() != nil {
		q.End = r.GetEndTime().AsTime()
	}
	return q
}

// Cohorts renders cohorts with their retention shares.
func Cohorts(cs []analytics.Cohort) []*analyticsv1.Cohort {
	out := make([]*analyticsv1.Cohort, len(cs))
	for i, c := range cs {
		out[i] = &analyticsv1.Cohort{CohortMonth: c.Month, Customers: c.Customers, Retained: c.Retained, Retention: c.Retention()}
	}
	return out
}

// BehaviourEvent reads an ingested event. Malformed ids become uuid.Nil and
// a zero time: the caller reports them as field violations.
func BehaviourEvent(m *analyticsv1.BehaviourEvent) (e analytics.BehaviourEvent, badCustomer bool) {
	e = analytics.BehaviourEvent{AnonymousID: m.GetAnonymousId(), Kind: analytics.BehaviourKind(m.GetKind()), Target: m.GetTarget()}
	e.ID, _ = uuid.Parse(m.GetEventId())
	if m.GetCustomerId() != "" {
		id, err := uuid.Parse(m.GetCustomerId())
		badCustomer = err != nil
		e.CustomerID = id
	}
	if m.GetDwell() != nil {
		e.Dwell = m.GetDwell().AsDuration()
	}
	if m.GetOccurTime() != nil {
		e.OccurTime = m.GetOccurTime().AsTime()
	}
	return e, badCustomer
}

// CustomerBehaviour renders a customer's behaviour.
func CustomerBehaviour(b analytics.CustomerBehaviour) *analyticsv1.CustomerBehaviour {
	out := &analyticsv1.CustomerBehaviour{
		CustomerId: b.CustomerID.String(), PageViews: b.PageViews, ScreenViews: b.ScreenViews, Clicks: b.Clicks,
		TotalDwell: durationpb.New(b.TotalDwell), Devices: b.Devices, ActiveDays: b.ActiveDays,
		WonOpportunities: b.WonOpportunities, Tickets: b.Tickets, CsatAverage: b.CSATAverage,
	}
	if !b.FirstSeen.IsZero() {
		out.FirstSeenTime, out.LastSeenTime = timestamppb.New(b.FirstSeen), timestamppb.New(b.LastSeen)
	}
	for _, t := range b.TopTargets {
		out.TopTargets = append(out.TopTargets, &analyticsv1.TargetCount{Target: t.Target, Count: t.Count})
	}
	for _, m := range b.WonAmounts {
		out.WonAmounts = append(out.WonAmounts, &typesv1.Money{CurrencyCode: m.CurrencyCode, AmountMinor: m.AmountMinor})
	}
	return out
}

package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// Money renders an amount.
func Money(m rules.Money) *typesv1.Money {
	return &typesv1.Money{CurrencyCode: m.CurrencyCode, AmountMinor: m.AmountMinor}
}

// ForecastRow renders one forecast row.
func ForecastRow(r forecast.Row) *pipelinev1.ForecastRow {
	return &pipelinev1.ForecastRow{PeriodStart: r.PeriodStart, Category: pipelinev1.ForecastCategory(r.Category),
		OpportunityCount: r.Count, Amount: Money(r.Amount), WeightedAmount: Money(r.Weighted)}
}

// TrendPoint renders one trend point.
func TrendPoint(p forecast.TrendPoint) *pipelinev1.TrendPoint {
	return &pipelinev1.TrendPoint{SnapshotDate: p.SnapshotDate, Category: pipelinev1.ForecastCategory(p.Category),
		OpportunityCount: p.Count, Amount: Money(p.Amount), WeightedAmount: Money(p.Weighted)}
}

// ForecastAccuracy renders one currency's accuracy.
func ForecastAccuracy(a forecast.Accuracy) *pipelinev1.ForecastAccuracy {
	m := func(n int64) *typesv1.Money { return &typesv1.Money{CurrencyCode: a.CurrencyCode, AmountMinor: n} }
	return &pipelinev1.ForecastAccuracy{WeightedForecast: m(a.WeightedForecast), CommitForecast: m(a.CommitForecast), Won: m(a.Won),
		WeightedAccuracyBps: rules.Bps(a.Won, a.WeightedForecast), CommitAccuracyBps: rules.Bps(a.Won, a.CommitForecast)}
}

// PipelineSnapshot renders a snapshot.
func PipelineSnapshot(s forecast.Snapshot) *pipelinev1.PipelineSnapshot {
	return &pipelinev1.PipelineSnapshot{SnapshotDate: s.Date, TakeTime: timestamppb.New(s.TakeTime),
		OpportunityCount: s.OpportunityCount, TimeZone: s.TimeZone}
}

// Quota renders a quota with its attainment.
func Quota(q forecast.Quota) *pipelinev1.Quota {
	out := &pipelinev1.Quota{
		QuotaId: q.ID.String(), AssigneeKind: pipelinev1.AssigneeKind(q.AssigneeKind), Assignee: q.Assignee,
		PeriodStart: q.PeriodStart, PeriodEnd: q.PeriodEnd, TimeZone: q.TimeZone, Target: Money(q.Target),
		Attained:      &typesv1.Money{CurrencyCode: q.Target.CurrencyCode, AmountMinor: q.AttainedMinor},
		AttainmentBps: rules.Bps(q.AttainedMinor, q.Target.AmountMinor),
		CreateTime:    timestamppb.New(q.CreateTime), UpdateTime: timestamppb.New(q.UpdateTime), Etag: q.Etag(),
	}
	for _, id := range q.MemberIDs {
		out.MemberIds = append(out.MemberIds, id.String())
	}
	return out
}

// FromQuota reads the writable fields of a quota.
func FromQuota(m *pipelinev1.Quota) (forecast.Quota, error) {
	v := &validation.Error{}
	q := forecast.Quota{
		AssigneeKind: forecast.AssigneeKind(m.GetAssigneeKind()), Assignee: m.GetAssignee(),
		PeriodStart: m.GetPeriodStart(), PeriodEnd: m.GetPeriodEnd(), TimeZone: m.GetTimeZone(),
		Target: rules.Money{CurrencyCode: m.GetTarget().GetCurrencyCode(), AmountMinor: m.GetTarget().GetAmountMinor()},
	}
	if len(m.GetMemberIds()) > 0 {
		q.MemberIDs = rules.IDs(m.GetMemberIds(), "quota.member_ids", v)
	}
	return q, v.Err()
}

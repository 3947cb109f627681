package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// TestFigureDefinitions checks each metric against a small hand-made history.
func TestFigureDefinitions(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	pipe := &stream{tenant: tenant, source: "pipeline"}
	tick := &stream{tenant: tenant, source: "ticket"}
	part := &stream{tenant: tenant, source: "partner"}
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	opp := func(id uuid.UUID, f analytics.SalesFacts, currency string, minor int64) analytics.Event {
		e := pipe.next("opportunity.updated", 0)
		e.Opportunity = &analytics.Opportunity{ID: id, CustomerID: uuid.New(), Amount: analytics.Money{CurrencyCode: currency, AmountMinor: minor}, Sales: f}
		return e
	}
	ticket := func(f analytics.ServiceFacts) analytics.Event {
		e := tick.next("ticket.updated", 0)
		e.Ticket = &analytics.Ticket{ID: uuid.New(), CustomerID: uuid.New(), Status: analytics.TicketStatusResolved, Service: f}
		return e
	}
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	nps := func(score int16) analytics.Event {
		e := tick.next("nps_survey.answered", 0)
		e.Satisfaction = &analytics.Satisfaction{Kind: analytics.SatisfactionNPS, Key: uuid.NewString(), Score: score, CustomerID: uuid.New(), AnswerTime: day(1)}
		return e
	}
	reg := func(partner string, state int16) analytics.Event {
		e := part.next("deal_registration.updated", 0)
		e.DealRegistration = &analytics.DealRegistration{ID: uuid.New(), PartnerID: partner, State: state,
			Amount: analytics.Money{CurrencyCode: "USD", AmountMinor: 100}, CreateTime: day(2)}
		return e
	}
	campaign := pipe.next("campaign.updated", 0)
	campaign.Campaign = &analytics.Campaign{ID: "c1", Channel: 1, Cost: analytics.Money{CurrencyCode: "USD", AmountMinor: 1000}}
	quota := pipe.next("quota.updated", 0)
	quota.Quota = &analytics.Quota{ID: uuid.New(), Assignee: "rep1", PeriodStart: "2026-03-01", PeriodEnd: "2026-03-31",
		Target: analytics.Money{CurrencyCode: "USD", AmountMinor: 4000}, Attained: analytics.Money{CurrencyCode: "USD", AmountMinor: 3000}}
	snap1, snap2 := pipe.next("pipeline_snapshot.taken", 0), pipe.next("pipeline_snapshot.taken", 0)
	snap1.Snapshot = &analytics.PipelineSnapshot{Date: "2026-03-02", OpportunityCount: 7, TakeTime: day(1)}
	snap2.Snapshot = &analytics.PipelineSnapshot{Date: "2026-03-03", OpportunityCount: 9, TakeTime: day(2)}
	apply(t, s,
		// a: prospect → proposal → won via campaign c1 (1500 USD); b: prospect → lost; c: open, committed.
		opp(a, analytics.SalesFacts{OwnerID: "rep1", StageID: "prospect", StageKind: analytics.StageKindOpen, CreateTime: day(0), StageEnterTime: day(0)}, "USD", 1500),
		opp(a, analytics.SalesFacts{OwnerID: "rep1", StageID: "proposal", StageKind: analytics.StageKindOpen, CreateTime: day(0), StageEnterTime: day(3)}, "USD", 1500),
		opp(a, analytics.SalesFacts{OwnerID: "rep1", CampaignID: "c1", StageID: "won", StageKind: analytics.StageKindWon, CreateTime: day(0), CloseTime: day(5)}, "USD", 1500),
		opp(b, analytics.SalesFacts{OwnerID: "rep2", StageID: "prospect", StageKind: analytics.StageKindOpen, CreateTime: day(1), StageEnterTime: day(1)}, "EUR", 900),
		opp(b, analytics.SalesFacts{OwnerID: "rep2", StageID: "lost", StageKind: analytics.StageKindLost, CreateTime: day(1), CloseTime: day(4)}, "EUR", 900),
		opp(c, analytics.SalesFacts{OwnerID: "rep2", StageID: "prospect", StageKind: analytics.StageKindOpen, CreateTime: day(2),
			ForecastCategory: 3, ExpectedCloseDate: "2026-03-20"}, "EUR", 700),
		ticket(analytics.ServiceFacts{Channel: 2, HasSLA: true, CreateTime: day(0), ResolveTime: day(1)}),
		ticket(analytics.ServiceFacts{Channel: 2, HasSLA: true, ResolutionBreached: true, CreateTime: day(0), ResolveTime: day(2)}),
		ticket(analytics.ServiceFacts{Channel: 4, HasSLA: true, CreateTime: day(0), ResolveTime: day(2)}),
		ticket(analytics.ServiceFacts{Channel: 4, CreateTime: day(0), ResolveTime: day(2)}),
		nps(10), nps(9), nps(7), nps(3),
		reg("p1", analytics.DealRegistrationApproved), reg("p1", analytics.DealRegistrationRejected), reg("p1", 1), reg("p2", analytics.DealRegistrationApproved),
		campaign, quota, snap1, snap2,
	)
	// Past the limit, one row more says there are more groups.
	byOwner := analytics.FigureQuery{Metric: analytics.MetricOpportunitiesCreated, GroupBy: []analytics.Dimension{analytics.DimensionOwner},
		Start: t0.AddDate(0, 0, -1), End: t0.AddDate(0, 1, 0)}
	if rows, err := s.Figures(t.Context(), tenant, byOwner, 1); err != nil || len(rows) != 2 {
		t.Fatalf("Figures(limit 1, 2 owners) = %v, %v; want 2 rows", rows, err)
	}
	month := []analytics.Dimension{analytics.DimensionMonth}
	tests := []struct {
		name    string
		q       analytics.FigureQuery
		want    []analytics.FigureRow
		wantErr string
	}{
		{name: "created by owner", q: analytics.FigureQuery{Metric: analytics.MetricOpportunitiesCreated, GroupBy: []analytics.Dimension{analytics.DimensionOwner}},
			want: []analytics.FigureRow{{Keys: []string{"rep1"}, Value: 1, Count: 1}, {Keys: []string{"rep2"}, Value: 2, Count: 2}}},
		{name: "win rate total", q: analytics.FigureQuery{Metric: analytics.MetricWinRate},
			want: []analytics.FigureRow{{Keys: []string{}, Value: 0.5, Count: 2}}},
		{name: "win rate filtered", q: analytics.FigureQuery{Metric: analytics.MetricWinRate, Filter: `owner_id = "rep2"`},
			want: []analytics.FigureRow{{Keys: []string{}, Value: 0, Count: 1}}},
		{name: "funnel", q: analytics.FigureQuery{Metric: analytics.MetricFunnelConversion, GroupBy: []analytics.Dimension{analytics.DimensionStage}},
			want: []analytics.FigureRow{{Keys: []string{"lost"}, Value: 0, Count: 1}, {Keys: []string{"proposal"}, Value: 1, Count: 1},
				{Keys: []string{"prospect"}, Value: 1.0 / 3, Count: 3}, {Keys: []string{"won"}, Value: 1, Count: 1}}},
		{name: "forecast", q: analytics.FigureQuery{Metric: analytics.MetricForecastAmount, GroupBy: []analytics.Dimension{analytics.DimensionForecastCategory}},
			want: []analytics.FigureRow{{Keys: []string{"FORECAST_CATEGORY_COMMIT"}, CurrencyCode: "EUR", Value: 700, Count: 1}}},
		{name: "quota", q: analytics.FigureQuery{Metric: analytics.MetricQuotaAttainment, GroupBy: []analytics.Dimension{analytics.DimensionOwner}},
			want: []analytics.FigureRow{{Keys: []string{"rep1"}, CurrencyCode: "USD", Value: 0.75, Count: 1}}},
		{name: "pipeline trend", q: analytics.FigureQuery{Metric: analytics.MetricPipelineOpenCount, GroupBy: month},
			want: []analytics.FigureRow{{Keys: []string{"2026-03"}, Value: 9, Count: 2}}},
		{name: "sla by channel", q: analytics.FigureQuery{Metric: analytics.MetricSLACompliance, GroupBy: []analytics.Dimension{analytics.DimensionChannel}},
			want: []analytics.FigureRow{{Keys: []string{"CHANNEL_CHAT"}, Value: 1, Count: 1}, {Keys: []string{"CHANNEL_EMAIL"}, Value: 0.5, Count: 2}}},
		{name: "tickets filtered by channel", q: analytics.FigureQuery{Metric: analytics.MetricTicketsCreated, Filter: "channel = CHANNEL_CHAT"},
			want: []analytics.FigureRow{{Keys: []string{}, Value: 2, Count: 2}}},
		{name: "nps", q: analytics.FigureQuery{Metric: analytics.MetricNPS, GroupBy: month},
			want: []analytics.FigureRow{{Keys: []string{"2026-03"}, Value: 25, Count: 4}}},
		{name: "approval rate", q: analytics.FigureQuery{Metric: analytics.MetricDealRegistrationApprovalRate, GroupBy: []analytics.Dimension{analytics.DimensionPartner}},
			want: []analytics.FigureRow{{Keys: []string{"p1"}, Value: 0.5, Count: 2}, {Keys: []string{"p2"}, Value: 1, Count: 1}}},
		{name: "registrations", q: analytics.FigureQuery{Metric: analytics.MetricDealRegistrations},
			want: []analytics.FigureRow{{Keys: []string{}, Value: 4, Count: 4}}},
		{name: "campaign roi", q: analytics.FigureQuery{Metric: analytics.MetricCampaignROI, GroupBy: []analytics.Dimension{analytics.DimensionCampaign, analytics.DimensionCampaignChannel}},
			want: []analytics.FigureRow{{Keys: []string{"c1", "CAMPAIGN_CHANNEL_EMAIL"}, CurrencyCode: "USD", Value: 0.5, Count: 1}}},
		{name: "bad filter", q: analytics.FigureQuery{Metric: analytics.MetricWinRate, Filter: `colour = "red"`}, wantErr: "filter"},
		{name: "filter field of another metric", q: analytics.FigureQuery{Metric: analytics.MetricNPS, Filter: `owner_id = "x"`}, wantErr: "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := tt.q
			q.Start, q.End = t0.AddDate(0, 0, -1), t0.AddDate(0, 1, 0)
			if q.Metric == analytics.MetricForecastAmount {
				q.End = t0.AddDate(0, 2, 0)
			}
			got, err := s.Figures(t.Context(), tenant, q, analytics.MaxRows)
			if tt.wantErr != "" {
				var v *validation.Error
				if !errors.As(err, &v) || v.Violations[0].Field != tt.wantErr {
					t.Fatalf("Figures() error = %v, want a violation of %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Figures(): %v", err)
			}
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("Figures() (-want +got):\n%s", diff)
			}
		})
	}
}

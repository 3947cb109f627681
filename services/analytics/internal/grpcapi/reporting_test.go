package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

func eurDeal(minor int64, closed time.Time) analytics.Event {
	e := wonDeal("rep1", minor, closed)
	e.Opportunity.Amount.CurrencyCode = "EUR"
	return e
}

func TestQueryFiguresInReportingCurrency(t *testing.T) {
	t.Parallel()
	e := newFiguresEnv(t)
	start, end := timestamppb.New(t0.Add(-24*time.Hour)), timestamppb.New(t0.Add(24*time.Hour))
	won := &analyticsv1.QueryFiguresRequest{Metric: analyticsv1.Metric_METRIC_WON_AMOUNT, StartTime: start, EndTime: end}
	analyst := e.as(t, e.tenant, auth.RoleAnalyst)
	e.seed(t, wonDeal("rep1", 500, t0), eurDeal(1000, t0), eurDeal(300, t0))

	// Without a reporting currency money stays per currency.
	got, err := e.figures.QueryFigures(analyst, won)
	if err != nil || got.GetReportingCurrency() != "" || len(got.GetRows()) != 2 {
		t.Fatalf("QueryFigures(no reporting currency) = %v, %v; want a row per currency", got, err)
	}

	e.seed(t,
		analytics.Event{Source: "pipeline", Type: "exchange_rates.loaded", Rates: []analytics.ExchangeRate{{Base: "EUR", Quote: "USD", Date: "2026-02-01", Rate: "1.0825"}}},
		analytics.Event{Source: "pipeline", Type: "reporting_settings.updated", Reporting: &analytics.ReportingSettings{ReportingCurrency: "USD", UpdateTime: t0}})
	got, err = e.figures.QueryFigures(analyst, won)
	if err != nil {
		t.Fatalf("QueryFigures: %v", err)
	}
	// 1000 × 1.0825 = 1082.5 → 1083; 300 × 1.0825 = 324.75 → 325.
	want := &analyticsv1.QueryFiguresResponse{ReportingCurrency: "USD",
		Rows: []*analyticsv1.FigureRow{{Keys: []string{}, CurrencyCode: "USD", Value: 500 + 1083 + 325, Count: 3}}}
	if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreEmptyMessages()); diff != "" {
		t.Fatalf("QueryFigures(USD) (-want +got):\n%s", diff)
	}
	perCurrency := &analyticsv1.QueryFiguresRequest{Metric: won.Metric, StartTime: start, EndTime: end, PerCurrency: true}
	if got, err := e.figures.QueryFigures(analyst, perCurrency); err != nil || got.GetReportingCurrency() != "" || len(got.GetRows()) != 2 ||
		got.GetRows()[0].GetCurrencyCode() != "EUR" || got.GetRows()[0].GetValue() != 1300 {
		t.Fatalf("QueryFigures(per currency) = %v, %v; want EUR 1300 and USD 500", got, err)
	}
	// Metrics that are not money name no currency.
	count := &analyticsv1.QueryFiguresRequest{Metric: analyticsv1.Metric_METRIC_OPPORTUNITIES_CREATED, StartTime: start, EndTime: end}
	if got, err := e.figures.QueryFigures(analyst, count); err != nil || got.GetReportingCurrency() != "" {
		t.Fatalf("QueryFigures(count) = %v, %v; want no reporting currency", got, err)
	}
	// Another tenant has no reporting currency of its own.
	if got, err := e.figures.QueryFigures(e.as(t, e.other, auth.RoleAnalyst), won); err != nil || got.GetReportingCurrency() != "" {
		t.Fatalf("QueryFigures(other tenant) = %v, %v; want no reporting currency", got, err)
	}
	count.PerCurrency = true
	if _, err := e.figures.QueryFigures(analyst, count); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["per_currency"] {
		t.Fatalf("QueryFigures(per_currency on a count) = %v, want InvalidArgument on per_currency", err)
	}
}

func purchase(c uuid.UUID, at time.Time) analytics.Event {
	return analytics.Event{Source: "pipeline", Type: "order.created", Fact: &analytics.Fact{Order: &analytics.Order{
		ID: uuid.New(), CustomerID: c, Kind: analytics.OrderKindSale, Status: analytics.OrderStatusPlaced,
		Value: analytics.Money{CurrencyCode: "GBP", AmountMinor: 100}, OrderTime: at}}}
}

func TestQueryCohortRetention(t *testing.T) {
	t.Parallel()
	e := newFiguresEnv(t)
	jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	a, b := uuid.New(), uuid.New()
	e.seed(t, purchase(a, jan), purchase(b, jan), purchase(a, jan.AddDate(0, 1, 0)), purchase(b, jan.AddDate(0, 2, 0)),
		purchase(a, jan.AddDate(0, 4, 0)))
	e.seed(t, analytics.Event{TenantID: e.other, Source: "pipeline", Type: "order.created", Fact: purchase(uuid.New(), jan).Fact})
	req := &analyticsv1.QueryCohortRetentionRequest{StartTime: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		EndTime: timestamppb.New(time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC))}
	got, err := e.figures.QueryCohortRetention(e.as(t, e.tenant, auth.RoleSalesManager), req)
	if err != nil {
		t.Fatalf("QueryCohortRetention: %v", err)
	}
	// Months +1..+3 begin before 15 April; +4 (May) is not observed yet,
	// so the May purchase is not counted and the default 12 months stop at 3.
	want := &analyticsv1.QueryCohortRetentionResponse{Cohorts: []*analyticsv1.Cohort{
		{CohortMonth: "2026-01", Customers: 2, Retained: []int64{1, 1, 0}, Retention: []float64{0.5, 0.5, 0}}}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Fatalf("QueryCohortRetention (-want +got):\n%s", diff)
	}
	theirs, err := e.figures.QueryCohortRetention(e.as(t, e.other, auth.RoleAdmin), req)
	if err != nil || len(theirs.GetCohorts()) != 1 || theirs.GetCohorts()[0].GetCustomers() != 1 {
		t.Fatalf("QueryCohortRetention(other tenant) = %v, %v; want only their customer", theirs, err)
	}

	tests := []struct {
		name  string
		edit  func(r *analyticsv1.QueryCohortRetentionRequest)
		field string
	}{
		{"no start", func(r *analyticsv1.QueryCohortRetentionRequest) { r.StartTime = nil }, "start_time"},
		{"no end", func(r *analyticsv1.QueryCohortRetentionRequest) { r.EndTime = nil }, "end_time"},
		{"reversed range", func(r *analyticsv1.QueryCohortRetentionRequest) { r.StartTime, r.EndTime = r.EndTime, r.StartTime }, "end_time"},
		{"range beyond the limit", func(r *analyticsv1.QueryCohortRetentionRequest) { r.StartTime = timestamppb.New(jan.AddDate(-6, 0, 0)) }, "end_time"},
		{"too many months", func(r *analyticsv1.QueryCohortRetentionRequest) { r.Months = 37 }, "months"},
		{"negative months", func(r *analyticsv1.QueryCohortRetentionRequest) { r.Months = -1 }, "months"},
		{"unknown filter field", func(r *analyticsv1.QueryCohortRetentionRequest) { r.Filter = `office = "x"` }, "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &analyticsv1.QueryCohortRetentionRequest{StartTime: req.StartTime, EndTime: req.EndTime}
			tt.edit(r)
			_, err := e.figures.QueryCohortRetention(e.as(t, e.tenant, auth.RoleAnalyst), r)
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("QueryCohortRetention(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
			}
		})
	}

	access := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated},
		{"partner user", e.as(t, e.tenant, auth.RolePartnerUser), codes.PermissionDenied},
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), codes.PermissionDenied},
		{"support agent", e.as(t, e.tenant, auth.RoleSupportAgent), codes.PermissionDenied},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), codes.OK},
		{"admin", e.as(t, e.tenant, auth.RoleAdmin), codes.OK},
	}
	for _, tt := range access {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := e.figures.QueryCohortRetention(tt.ctx, req); status.Code(err) != tt.want {
				t.Errorf("QueryCohortRetention = %v, want %v", err, tt.want)
			}
		})
	}
}

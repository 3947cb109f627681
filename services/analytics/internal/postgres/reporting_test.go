package postgres_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

func day(t *testing.T, s string) time.Time { return date(t, s).Add(12 * time.Hour) }

// wonIn is a won opportunity closed at the given time, optionally of a campaign.
func wonIn(p *stream, currency string, minor int64, closed time.Time, campaign string) analytics.Event {
	e := p.opportunity(uuid.New(), uuid.New(), analytics.StageWon, currency, minor, 0)
	e.Opportunity.Sales = analytics.SalesFacts{StageKind: analytics.StageKindWon, CampaignID: campaign,
		CreateTime: closed.Add(-24 * time.Hour), CloseTime: closed}
	return e
}

func rates(p *stream, rs ...analytics.ExchangeRate) analytics.Event {
	e := p.next("exchange_rates.loaded", 0)
	e.Rates = rs
	return e
}

func reporting(p *stream, code string, at time.Time) analytics.Event {
	e := p.next("reporting_settings.updated", 0)
	e.Reporting = &analytics.ReportingSettings{ReportingCurrency: code, UpdateTime: at}
	return e
}

// TestFiguresInReportingCurrency checks the conversion rule on amounts
// whose converted values are computed by hand below.
func TestFiguresInReportingCurrency(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	p := &stream{tenant: tenant, source: "pipeline"}
	if rc, err := s.ReportingCurrency(t.Context(), tenant); err != nil || rc != "" {
		t.Fatalf("ReportingCurrency(before any settings) = %q, %v; want none", rc, err)
	}
	apply(t, s,
		rates(p,
			analytics.ExchangeRate{Base: "EUR", Quote: "USD", Date: "2026-01-01", Rate: "1.10"},
			analytics.ExchangeRate{Base: "EUR", Quote: "USD", Date: "2026-02-01", Rate: "1.20"},
			// Quoted the other way round: 150 yen per dollar.
			analytics.ExchangeRate{Base: "USD", Quote: "JPY", Date: "2026-01-01", Rate: "150"}),
		reporting(p, "USD", t0),
		reporting(p, "GBP", t0.Add(-time.Hour)), // an older settings event loses
		wonIn(p, "USD", 1000, day(t, "2026-01-15"), "c1"),
		wonIn(p, "EUR", 1000, day(t, "2026-01-20"), "c1"), // 1.10 → 1100
		wonIn(p, "EUR", 1001, day(t, "2026-02-01"), ""),   // the rate of that very day: 1.20 → 1201.2 → 1201
		wonIn(p, "JPY", 15000, day(t, "2026-01-10"), ""),  // ¥15 000 ÷ 150 = $100 = 10 000 cents
		wonIn(p, "EUR", 5, day(t, "2026-01-20"), ""),      // 5.5 rounds half away from zero: 6
		wonIn(p, "CHF", 500, day(t, "2026-01-05"), ""),    // no CHF rate: unconverted
		wonIn(p, "EUR", 500, day(t, "2025-12-31"), ""),    // before the first EUR rate: unconverted
	)
	if rc, err := s.ReportingCurrency(t.Context(), tenant); err != nil || rc != "USD" {
		t.Fatalf("ReportingCurrency = %q, %v; want USD (the later settings)", rc, err)
	}
	q := analytics.FigureQuery{Metric: analytics.MetricWonAmount, Start: date(t, "2025-12-01"), End: date(t, "2026-03-01"), ReportingCurrency: "USD"}
	got := figures(t, s, tenant, q)
	want := map[string]analytics.FigureRow{"USD": {Keys: []string{}, CurrencyCode: "USD", Value: 1000 + 1100 + 1201 + 10000 + 6, Count: 5, Unconverted: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("won amount in USD (-want +got):\n%s", diff)
	}
	// Per currency nothing is converted and nothing is left out.
	q.ReportingCurrency = ""
	if eur := figures(t, s, tenant, q)["EUR"]; eur.Value != 1000+1001+5+500 || eur.Count != 4 || eur.Unconverted != 0 {
		t.Fatalf("won amount per currency, EUR = %+v; want 2506 of 4", eur)
	}
	q.ReportingCurrency = "USD"

	// A reload of a rate replaces it: February's EUR deal now converts at 1.25.
	apply(t, s, rates(p, analytics.ExchangeRate{Base: "EUR", Quote: "USD", Date: "2026-02-01", Rate: "1.25"}))
	if v := figures(t, s, tenant, q)["USD"].Value; v != 1000+1100+1251+10000+6 {
		t.Fatalf("won amount after a reload = %v, want %v", v, 1000+1100+1251+10000+6)
	}

	// Quota attainment converts target and attainment on the period start.
	quota := func(currency string, target, attained int64) analytics.Event {
		e := p.next("quota.updated", 0)
		e.Quota = &analytics.Quota{ID: uuid.New(), Assignee: "rep", PeriodStart: "2026-01-01", PeriodEnd: "2026-01-31",
			Target: analytics.Money{CurrencyCode: currency, AmountMinor: target}, Attained: analytics.Money{CurrencyCode: currency, AmountMinor: attained}}
		return e
	}
	apply(t, s, quota("EUR", 1000, 500), quota("USD", 1000, 1000), quota("CHF", 1000, 0))
	qa := figures(t, s, tenant, analytics.FigureQuery{Metric: analytics.MetricQuotaAttainment, Start: date(t, "2026-01-01"),
		End: date(t, "2026-02-01"), ReportingCurrency: "USD"})["USD"]
	if math.Abs(qa.Value-1550.0/2100) > 1e-12 || qa.Count != 2 || qa.Unconverted != 1 {
		t.Fatalf("quota attainment in USD = %+v; want 1550/2100 of 2, 1 unconverted", qa)
	}

	// Campaign ROI: every won deal of the campaign converted on its close
	// day, the cost on the range's last day (2026-02-28: 1.25).
	campaign := p.next("campaign.updated", 0)
	campaign.Campaign = &analytics.Campaign{ID: "c1", Channel: 1, Cost: analytics.Money{CurrencyCode: "EUR", AmountMinor: 1000}}
	apply(t, s, campaign)
	roi := figures(t, s, tenant, analytics.FigureQuery{Metric: analytics.MetricCampaignROI, Start: date(t, "2026-01-01"),
		End: date(t, "2026-03-01"), ReportingCurrency: "USD"})["USD"]
	if wantROI := (1000.0 + 1100 - 1250) / 1250; math.Abs(roi.Value-wantROI) > 1e-12 || roi.Count != 1 || roi.Unconverted != 0 {
		t.Fatalf("campaign ROI in USD = %+v; want %v of 1", roi, wantROI)
	}
	// Before any EUR rate the campaign's cost has none: unconverted as a whole.
	roi = figures(t, s, tenant, analytics.FigureQuery{Metric: analytics.MetricCampaignROI, Start: date(t, "2025-11-01"),
		End: date(t, "2025-12-15"), ReportingCurrency: "USD"})["USD"]
	if roi.Count != 0 || roi.Unconverted != 1 || roi.Value != 0 {
		t.Fatalf("campaign ROI without a rate = %+v; want 1 unconverted campaign", roi)
	}

	// Another tenant's rates convert nothing here.
	other := uuid.New()
	po := &stream{tenant: other, source: "pipeline"}
	apply(t, s, reporting(po, "USD", t0), wonIn(po, "EUR", 1000, day(t, "2026-01-20"), ""))
	if r := figures(t, s, other, q)["USD"]; r.Count != 0 || r.Unconverted != 1 {
		t.Fatalf("won amount of a tenant without rates = %+v; want 1 unconverted", r)
	}
}

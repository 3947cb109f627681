package insight

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// ChurnFacts are what churn risk weighs for one customer.
type ChurnFacts struct {
	Stage analytics.LifecycleStage
	// Contract, TenureMonths and MonthlyCharges are the customer's contract
	// attributes; nil where it carries none.
	Contract       *string
	TenureMonths   *float64
	MonthlyCharges *float64
	// LastActivity is the latest order or interaction before the reference
	// time; zero when there was none.
	LastActivity time.Time
	// RecentSpend and PriorSpend are the net order values of the 90 days
	// before the reference time and of the 90 days before those, in the
	// currency of the customer's latest order.
	RecentSpend, PriorSpend int64
	// OpenTickets counts the customer's tickets not resolved or closed.
	OpenTickets int64
}

// ChurnReason names one thing that raises a customer's churn risk.
type ChurnReason int32

// Churn reasons; the numbers match the API's enum.
const (
	ReasonUnspecified ChurnReason = iota
	ReasonInactivity
	ReasonDecliningSpend
	ReasonOpenComplaints
	ReasonMonthToMonthContract
	ReasonOneYearContract
	ReasonShortTenure
	ReasonHighCharges
)

// Contribution is one reason and the points it adds.
type Contribution struct {
	Reason ChurnReason
	Points int32
}

// Band groups scores; the numbers match the API's enum.
type Band int32

// Risk bands: High from 60 points, Medium from 30.
const (
	BandUnspecified Band = iota
	BandLow
	BandMedium
	BandHigh
)

// ChurnRisk is a customer's churn risk: Score is the sum of its reasons'
// points, capped at 100.
type ChurnRisk struct {
	CustomerID    uuid.UUID
	ReferenceTime time.Time
	Score         int32
	Band          Band
	Reasons       []Contribution
	// SuggestAtRisk is set when the band is high and the customer is at a
	// stage (customer, won back) the customer service would move to at-risk,
	// which is when a win-back follow-up is due.
	SuggestAtRisk bool
}

// ScoreChurn weighs facts at ref. The points (also in insight.proto):
//
//   - inactivity, when any activity is known: 40 after 365 days without an
//     order or interaction, 30 after 180, 20 after 90;
//   - declining spend: 20 when the last 90 days' spend is under half the
//     previous 90 days' (which was positive);
//   - open complaints: 10 per open ticket, at most 30;
//   - contract: 35 for month-to-month, 12 for one year, none for two years;
//   - short tenure: 25 under 6 months, 18 under 12, 10 under 24;
//   - high charges: 12 from 90 a month, 10 from 70, 5 from 50.
//
// The lifecycle stage is never an input: a churned stage is the outcome
// being predicted.
func ScoreChurn(f ChurnFacts, ref time.Time) (int32, []Contribution) {
	var cs []Contribution
	add := func(r ChurnReason, p int32) {
		if p > 0 {
			cs = append(cs, Contribution{Reason: r, Points: p})
		}
	}
	if !f.LastActivity.IsZero() {
		switch idle := ref.Sub(f.LastActivity); {
		case idle > 365*day:
			add(ReasonInactivity, 40)
		case idle > 180*day:
			add(ReasonInactivity, 30)
		case idle > 90*day:
			add(ReasonInactivity, 20)
		}
	}
	if f.PriorSpend > 0 && 2*f.RecentSpend < f.PriorSpend {
		add(ReasonDecliningSpend, 20)
	}
	add(ReasonOpenComplaints, int32(min(f.OpenTickets*10, 30)))
	if f.Contract != nil {
		switch *f.Contract {
		case "Month-to-month":
			add(ReasonMonthToMonthContract, 35)
		case "One year":
			add(ReasonOneYearContract, 12)
		}
	}
	if t := f.TenureMonths; t != nil {
		switch {
		case *t < 6:
			add(ReasonShortTenure, 25)
		case *t < 12:
			add(ReasonShortTenure, 18)
		case *t < 24:
			add(ReasonShortTenure, 10)
		}
	}
	if m := f.MonthlyCharges; m != nil {
		switch {
		case *m >= 90:
			add(ReasonHighCharges, 12)
		case *m >= 70:
			add(ReasonHighCharges, 10)
		case *m >= 50:
			add(ReasonHighCharges, 5)
		}
	}
	var score int32
	for _, c := range cs {
		score += c.Points
	}
	return min(score, 100), cs
}

func band(score int32) Band {
	switch {
	case score >= 60:
		return BandHigh
	case score >= 30:
		return BandMedium
	}
	return BandLow
}

// ChurnRisk scores a customer at ref (zero: now).
func (s *Service) ChurnRisk(ctx context.Context, caller auth.Caller, customer uuid.UUID, ref time.Time) (ChurnRisk, error) {
	tenant, err := tenantOf(caller, readers)
	if err != nil {
		return ChurnRisk{}, err
	}
	if ref.IsZero() {
		ref = s.now()
	}
	if err := s.known(ctx, tenant, customer); err != nil {
		return ChurnRisk{}, err
	}
	f, err := s.store.ChurnFacts(ctx, tenant, customer, ref)
	if err != nil {
		return ChurnRisk{}, err
	}
	return churnRisk(customer, f, ref), nil
}

func churnRisk(customer uuid.UUID, f ChurnFacts, ref time.Time) ChurnRisk {
	score, reasons := ScoreChurn(f, ref)
	r := ChurnRisk{CustomerID: customer, ReferenceTime: ref, Score: score, Band: band(score), Reasons: reasons}
	r.SuggestAtRisk = r.Band == BandHigh && (f.Stage == analytics.LifecycleCustomer || f.Stage == analytics.LifecycleWonBack)
	return r
}

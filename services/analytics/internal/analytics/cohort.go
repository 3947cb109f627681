package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Limits of a cohort retention query.
const (
	// DefaultCohortMonths is how many months after the cohort month are
	// reported when the query names none.
	DefaultCohortMonths = 12
	// MaxCohortMonths bounds the months reported: three years.
	MaxCohortMonths = 36
)

// CohortQuery asks for the retention of the customers whose first purchase
// falls in [Start, End), over the Months after their cohort month, narrowed
// by an AIP-160 Filter over the customer's country_code and value_tier.
type CohortQuery struct {
	Start, End time.Time
	Months     int32
	Filter     string
}

// Cohort is the customers whose first purchase was in Month; the API's
// Cohort message defines it exactly.
type Cohort struct {
	// Month is the cohort month, "YYYY-MM" (UTC).
	Month     string
	Customers int64
	// Retained[k-1] counts the customers who purchased in month +k.
	Retained []int64
}

// Retention is the share of the cohort retained in each month reported.
func (c Cohort) Retention() []float64 {
	out := make([]float64, len(c.Retained))
	for i, n := range c.Retained {
		if c.Customers > 0 {
			out[i] = float64(n) / float64(c.Customers)
		}
	}
	return out
}

// CohortRetention validates q and computes it for the caller's tenant. The
// store counts every month up to q.Months; months that begin at or after
// q.End are dropped here, since they cannot have been observed yet.
func (f *Figures) CohortRetention(ctx context.Context, caller auth.Caller, q CohortQuery) ([]Cohort, error) {
	if !caller.HasAny(figureReaders...) {
		return nil, auth.ErrForbidden
	}
	tenant, err := callerTenant(caller)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	switch {
	case q.Start.IsZero():
		v.Add("start_time", "is required")
	case q.End.IsZero():
		v.Add("end_time", "is required")
	case !q.End.After(q.Start):
		v.Add("end_time", "must be after start_time")
	case q.End.Sub(q.Start) > MaxRange:
		v.Add("end_time", "the range may span at most %d days", int(MaxRange/(24*time.Hour)))
	}
	switch {
	case q.Months == 0:
		q.Months = DefaultCohortMonths
	case q.Months < 1 || q.Months > MaxCohortMonths:
		v.Add("months", "must be between 1 and %d", MaxCohortMonths)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	cohorts, err := f.store.CohortRetention(ctx, tenant, q)
	if err != nil {
		return nil, err
	}
	for i, c := range cohorts {
		start, err := time.Parse("2006-01", c.Month)
		if err != nil {
			return nil, fmt.Errorf("cohort month %q: %w", c.Month, err)
		}
		observed := 0
		for observed < len(c.Retained) && start.AddDate(0, observed+1, 0).Before(q.End) {
			observed++
		}
		cohorts[i].Retained = c.Retained[:observed]
	}
	return cohorts, nil
}

package analytics

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Metric is a figure QueryFigures computes; the numbers match the API's
// enum, whose comments define each metric.
type Metric int32

// Metrics.
const (
	MetricUnspecified Metric = iota
	MetricOpportunitiesCreated
	MetricWinRate
	MetricCycleTimeDays
	MetricWonAmount
	MetricFunnelConversion
	MetricForecastAmount
	MetricQuotaAttainment
	MetricPipelineOpenCount
	MetricTicketsCreated
	MetricSLACompliance
	MetricFirstResponseHours
	MetricResolutionHours
	MetricCSATAverage
	MetricNPS
	MetricDealRegistrations
	MetricDealRegistrationApprovalRate
	MetricCampaignROI
)

// Dimension is what figures are grouped by; the numbers match the API's enum.
type Dimension int32

// Dimensions.
const (
	DimensionUnspecified Dimension = iota
	DimensionOwner
	DimensionProduct
	DimensionPartner
	DimensionCampaign
	DimensionStage
	DimensionForecastCategory
	DimensionChannel
	DimensionAgent
	DimensionPriority
	DimensionMonth
	DimensionCampaignChannel
)

// Limits of a figures query.
const (
	// MaxRange bounds a query's time range: about five years, so a query
	// cannot scan a tenant's whole history by accident.
	MaxRange = 1830 * 24 * time.Hour
	// MaxGroupBy is how many dimensions a query may group by.
	MaxGroupBy = 3
	// MaxRows is how many groups a query may return.
	MaxRows = 1000
	// DefaultPercentile applies to percentile metrics when none is asked for.
	DefaultPercentile = 50
)

// metricSpec is what a metric allows.
type metricSpec struct {
	dims []Dimension
	// service metrics may also be read by support agents.
	service bool
	// percentile metrics take a percentile.
	percentile bool
	// required dimensions must be grouped by.
	required []Dimension
	// money metrics are converted into the reporting currency.
	money bool
}

var (
	dealDims   = []Dimension{DimensionOwner, DimensionProduct, DimensionPartner, DimensionCampaign, DimensionMonth}
	ticketDims = []Dimension{DimensionChannel, DimensionAgent, DimensionPriority, DimensionPartner, DimensionMonth}
)

var metricSpecs = map[Metric]metricSpec{
	MetricOpportunitiesCreated: {dims: dealDims},
	MetricWinRate:              {dims: dealDims},
	MetricCycleTimeDays:        {dims: dealDims},
	MetricWonAmount:            {dims: dealDims, money: true},
	MetricFunnelConversion: {dims: []Dimension{DimensionStage, DimensionOwner, DimensionPartner, DimensionCampaign, DimensionMonth},
		required: []Dimension{DimensionStage}},
	MetricForecastAmount:               {dims: []Dimension{DimensionOwner, DimensionForecastCategory, DimensionPartner, DimensionMonth}, money: true},
	MetricQuotaAttainment:              {dims: []Dimension{DimensionOwner, DimensionMonth}, money: true},
	MetricPipelineOpenCount:            {dims: []Dimension{DimensionMonth}},
	MetricTicketsCreated:               {dims: ticketDims, service: true},
	MetricSLACompliance:                {dims: ticketDims, service: true},
	MetricFirstResponseHours:           {dims: ticketDims, service: true, percentile: true},
	MetricResolutionHours:              {dims: ticketDims, service: true, percentile: true},
	MetricCSATAverage:                  {dims: []Dimension{DimensionChannel, DimensionAgent, DimensionPriority, DimensionMonth}, service: true},
	MetricNPS:                          {dims: []Dimension{DimensionMonth}, service: true},
	MetricDealRegistrations:            {dims: []Dimension{DimensionPartner, DimensionMonth}},
	MetricDealRegistrationApprovalRate: {dims: []Dimension{DimensionPartner, DimensionMonth}},
	MetricCampaignROI:                  {dims: []Dimension{DimensionCampaign, DimensionCampaignChannel}, money: true},
}

// FigureQuery asks for one metric over [Start, End), grouped by GroupBy and
// narrowed by an AIP-160 Filter over the metric's filter fields.
type FigureQuery struct {
	Metric     Metric
	GroupBy    []Dimension
	Start, End time.Time
	Filter     string
	// Percentile is 1–99 for percentile metrics and 0 for the others.
	Percentile int32
	// PerCurrency asks for money metrics per currency, unconverted.
	PerCurrency bool
	// ReportingCurrency is what money metrics are converted into; Query
	// sets it from the tenant's settings unless PerCurrency, and empty
	// means per currency.
	ReportingCurrency string
}

// FigureRow is one group's figure; see the API's FigureRow.
type FigureRow struct {
	Keys         []string
	CurrencyCode string
	Value        float64
	Count        int64
	// Unconverted counts the group's records that had no exchange rate.
	Unconverted int64
}

// FigureResult is a query's rows and the currency money was converted into
// (empty when per currency).
type FigureResult struct {
	Rows              []FigureRow
	ReportingCurrency string
}

// ErrTooManyGroups means a query would return more than MaxRows groups.
var ErrTooManyGroups = errors.New("the query has more groups than a response may hold; narrow the filter or the range")

// FigureStore computes figures. Filter errors are *validation.Error on "filter".
type FigureStore interface {
	// Figures computes q for tenant, returning at most limit rows, sorted by
	// keys and then currency; it may return limit+1 rows to say there are more.
	Figures(ctx context.Context, tenant uuid.UUID, q FigureQuery, limit int) ([]FigureRow, error)
	// ReportingCurrency returns the tenant's reporting currency, or "" when
	// the pipeline service has reported none.
	ReportingCurrency(ctx context.Context, tenant uuid.UUID) (string, error)
	// CohortRetention computes q for tenant.
	CohortRetention(ctx context.Context, tenant uuid.UUID, q CohortQuery) ([]Cohort, error)
}

// figureReaders may query every metric; support agents only service metrics.
var figureReaders = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst, auth.RoleSalesManager}

// Figures serves figure queries.
type Figures struct{ store FigureStore }

// NewFigures returns Figures over store.
func NewFigures(store FigureStore) *Figures { return &Figures{store: store} }

// Query validates q and computes it for the caller's tenant.
func (f *Figures) Query(ctx context.Context, caller auth.Caller, q FigureQuery) (FigureResult, error) {
	spec, known := metricSpecs[q.Metric]
	if !caller.HasAny(figureReaders...) && !(known && spec.service && caller.HasAny(auth.RoleSupportAgent)) {
		return FigureResult{}, auth.ErrForbidden
	}
	tenant, err := callerTenant(caller)
	if err != nil {
		return FigureResult{}, err
	}
	if err := validateQuery(&q, spec, known); err != nil {
		return FigureResult{}, err
	}
	q.ReportingCurrency = ""
	if spec.money && !q.PerCurrency {
		if q.ReportingCurrency, err = f.store.ReportingCurrency(ctx, tenant); err != nil {
			return FigureResult{}, err
		}
	}
	rows, err := f.store.Figures(ctx, tenant, q, MaxRows)
	if err != nil {
		return FigureResult{}, err
	}
	if len(rows) > MaxRows {
		return FigureResult{}, ErrTooManyGroups
	}
	return FigureResult{Rows: rows, ReportingCurrency: q.ReportingCurrency}, nil
}

// validateQuery reports every problem of q at once and fills in defaults.
func validateQuery(q *FigureQuery, spec metricSpec, known bool) error {
	v := &validation.Error{}
	if !known {
		v.Add("metric", "must be one of the Metric values")
	}
	if len(q.GroupBy) > MaxGroupBy {
		v.Add("group_by", "at most %d dimensions", MaxGroupBy)
	}
	for i, d := range q.GroupBy {
		switch {
		case slices.Index(q.GroupBy, d) < i:
			v.Add(indexed("group_by", i), "repeats a dimension")
		case known && !slices.Contains(spec.dims, d):
			v.Add(indexed("group_by", i), "is not a dimension of this metric")
		}
	}
	for _, d := range spec.required {
		if !slices.Contains(q.GroupBy, d) {
			v.Add("group_by", "this metric must be grouped by its stage")
		}
	}
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
	case known && spec.percentile && q.Percentile == 0:
		q.Percentile = DefaultPercentile
	case known && spec.percentile && (q.Percentile < 1 || q.Percentile > 99):
		v.Add("percentile", "must be between 1 and 99")
	case known && !spec.percentile && q.Percentile != 0:
		v.Add("percentile", "applies only to percentile metrics")
	}
	if known && !spec.money && q.PerCurrency {
		v.Add("per_currency", "applies only to money metrics")
	}
	return v.Err()
}

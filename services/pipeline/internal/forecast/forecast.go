// Package forecast is the forecasting domain: the weighted pipeline by
// period and forecast category, daily pipeline snapshots with trends and
// forecast accuracy over them, and quotas with their attainment. The
// computations are the store's, as set-based SQL over all opportunities.
package forecast

import (
	"context"
	"errors"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// PeriodKind is the calendar period a forecast groups by; the numbers match the API's enum.
type PeriodKind int32

// Period kinds.
const (
	PeriodMonth   PeriodKind = 1
	PeriodQuarter PeriodKind = 2
)

// Unit is the PostgreSQL date_trunc unit of the kind.
func (k PeriodKind) Unit() string {
	if k == PeriodQuarter {
		return "quarter"
	}
	return "month"
}

// Query selects a forecast. Open opportunities fall in the period of their
// expected close date, closed ones in that of their close time in TimeZone.
type Query struct {
	PeriodKind PeriodKind
	// Start and End are the first and last day wanted, "YYYY-MM-DD".
	Start, End string
	TimeZone   string
	PipelineID *uuid.UUID
	OwnerID    *uuid.UUID
}

// Row is one period's opportunities of one currency and category.
type Row struct {
	PeriodStart      string
	Category         pipeline.ForecastCategory
	Count            int64
	Amount, Weighted rules.Money
}

// RateGroup is a forecast's opportunities of one period, category and
// currency that convert into the reporting currency at one rate.
type RateGroup struct {
	PeriodStart                     string
	Category                        pipeline.ForecastCategory
	CurrencyCode, ReportingCurrency string
	// Rate is units of ReportingCurrency per unit of CurrencyCode; nil when
	// no rate is known.
	Rate                              *big.Rat
	Count, AmountMinor, WeightedMinor int64
}

// Reporting is a forecast summed across currencies in the reporting currency.
type Reporting struct {
	// Rows are by period and category.
	Rows []Row
	// Unconverted counts the opportunities left out for want of a rate.
	Unconverted int64
}

// Snapshot is the pipeline as it stood on one day.
type Snapshot struct {
	Date             string
	TimeZone         string
	TakeTime         time.Time
	OpportunityCount int64
}

// SnapshotPage is one page of snapshots, newest first.
type SnapshotPage struct {
	Snapshots     []Snapshot
	NextPageToken string
}

// TrendQuery selects snapshots between two dates and, optionally, only the
// opportunities they expected to close between two dates.
type TrendQuery struct {
	Start, End           string
	CloseStart, CloseEnd string
}

// TrendPoint is what one snapshot held of one currency and category.
type TrendPoint struct {
	SnapshotDate     string
	Category         pipeline.ForecastCategory
	Count            int64
	Amount, Weighted rules.Money
}

// AccuracyQuery judges a snapshot's forecast of a period.
type AccuracyQuery struct {
	SnapshotDate           string
	PeriodStart, PeriodEnd string
	TimeZone               string
}

// Accuracy compares one currency's forecast with what was won.
type Accuracy struct {
	CurrencyCode                     string
	WeightedForecast, CommitForecast int64
	Won                              int64
}

// Errors of forecasts and quotas.
var (
	ErrQuotaNotFound = errors.New("quota not found")
	// ErrQuotaExists means the assignee already has a quota for the period and currency.
	ErrQuotaExists = errors.New("the assignee already has a quota for this period and currency")
	// ErrSnapshotNotFound means no snapshot was taken on the day asked for.
	ErrSnapshotNotFound = errors.New("no pipeline snapshot on that day")
)

// Store computes forecasts and keeps snapshots and quotas. Every method is
// scoped to the caller's tenant.
type Store interface {
	Forecast(ctx context.Context, caller auth.Caller, q Query) ([]Row, error)
	// ReportingGroups sums the forecast's opportunities by period, category,
	// currency and rate into the reporting currency; none while the tenant
	// has no reporting currency.
	ReportingGroups(ctx context.Context, caller auth.Caller, q Query) ([]RateGroup, error)
	// TakeSnapshot stores the day's snapshot of every live opportunity, or
	// returns the one already taken that day with created false.
	TakeSnapshot(ctx context.Context, caller auth.Caller, date, timeZone string) (s Snapshot, created bool, err error)
	Snapshots(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (SnapshotPage, error)
	Trend(ctx context.Context, caller auth.Caller, q TrendQuery) ([]TrendPoint, error)
	// Accuracy returns ErrSnapshotNotFound when no snapshot was taken on the day.
	Accuracy(ctx context.Context, caller auth.Caller, q AccuracyQuery) ([]Accuracy, error)
	// SnapshotTenants lists every tenant that has a pipeline, across tenants.
	SnapshotTenants(ctx context.Context) ([]uuid.UUID, error)

	QuotaStore
}

// Who may do what: sellers and analysts read forecasts; managers take
// snapshots on demand and set quotas.
var (
	readers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst}
	managers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// Service holds the forecasting use cases.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns a Service over store.
func New(store Store) *Service {
	return &Service{store: store, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Forecast returns the weighted pipeline by period, currency and category.
func (s *Service) Forecast(ctx context.Context, caller auth.Caller, q Query) ([]Row, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return nil, err
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	return s.store.Forecast(ctx, caller, q)
}

// check validates q and fills its defaults.
func (q *Query) check() error {
	v := &validation.Error{}
	if q.PeriodKind == 0 {
		q.PeriodKind = PeriodMonth
	}
	if q.PeriodKind != PeriodMonth && q.PeriodKind != PeriodQuarter {
		v.Add("period_kind", "must be PERIOD_KIND_MONTH or PERIOD_KIND_QUARTER")
	}
	rules.Period(q.Start, q.End, "start_date", "end_date", v)
	q.TimeZone = rules.TimeZone(q.TimeZone, "time_zone", v)
	return v.Err()
}

// Reporting is the forecast of q summed across currencies in the tenant's
// reporting currency. Each group of one rate is converted once (rounded
// half away from zero), so a sum may differ from that of the
// opportunities' reporting amounts by the rounding of their conversions.
func (s *Service) Reporting(ctx context.Context, caller auth.Caller, q Query) (Reporting, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return Reporting{}, err
	}
	if err := q.check(); err != nil {
		return Reporting{}, err
	}
	groups, err := s.store.ReportingGroups(ctx, caller, q)
	if err != nil {
		return Reporting{}, err
	}
	var out Reporting
	at := map[string]int{}
	for _, g := range groups {
		amount, weighted := g.AmountMinor, g.WeightedMinor
		if g.CurrencyCode != g.ReportingCurrency {
			var okA, okW bool
			if g.Rate != nil {
				amount, okA = order.Convert(g.AmountMinor, g.CurrencyCode, g.ReportingCurrency, g.Rate)
				weighted, okW = order.Convert(g.WeightedMinor, g.CurrencyCode, g.ReportingCurrency, g.Rate)
			}
			if !okA || !okW {
				out.Unconverted += g.Count
				continue
			}
		}
		k := g.PeriodStart + "|" + strconv.Itoa(int(g.Category))
		i, ok := at[k]
		if !ok {
			i = len(out.Rows)
			at[k] = i
			out.Rows = append(out.Rows, Row{PeriodStart: g.PeriodStart, Category: g.Category,
				Amount: rules.Money{CurrencyCode: g.ReportingCurrency}, Weighted: rules.Money{CurrencyCode: g.ReportingCurrency}})
		}
		r := &out.Rows[i]
		r.Count += g.Count
		r.Amount.AmountMinor += amount
		r.Weighted.AmountMinor += weighted
	}
	return out, nil
}

// TakeSnapshot takes today's snapshot in timeZone, once per day.
func (s *Service) TakeSnapshot(ctx context.Context, caller auth.Caller, timeZone string) (Snapshot, bool, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Snapshot{}, false, err
	}
	v := &validation.Error{}
	timeZone = rules.TimeZone(timeZone, "time_zone", v)
	if err := v.Err(); err != nil {
		return Snapshot{}, false, err
	}
	return s.store.TakeSnapshot(ctx, caller, today(s.now(), timeZone), timeZone)
}

// today is the calendar day of now in the (valid) zone.
func today(now time.Time, zone string) string {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	return now.In(loc).Format(time.DateOnly)
}

// Snapshots lists snapshots, newest first.
func (s *Service) Snapshots(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (SnapshotPage, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return SnapshotPage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return SnapshotPage{}, err
	}
	return s.store.Snapshots(ctx, caller, n, pageToken)
}

// Trend returns what the snapshots between two dates held.
func (s *Service) Trend(ctx context.Context, caller auth.Caller, q TrendQuery) ([]TrendPoint, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return nil, err
	}
	v := &validation.Error{}
	rules.Period(q.Start, q.End, "start_date", "end_date", v)
	if q.CloseStart != "" {
		rules.Date(q.CloseStart, "close_start_date", v)
	}
	if q.CloseEnd != "" {
		rules.Date(q.CloseEnd, "close_end_date", v)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.store.Trend(ctx, caller, q)
}

// Accuracy compares a snapshot's forecast of a period with what was won in it.
func (s *Service) Accuracy(ctx context.Context, caller auth.Caller, q AccuracyQuery) ([]Accuracy, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return nil, err
	}
	v := &validation.Error{}
	rules.Date(q.SnapshotDate, "snapshot_date", v)
	rules.Period(q.PeriodStart, q.PeriodEnd, "period_start", "period_end", v)
	q.TimeZone = rules.TimeZone(q.TimeZone, "time_zone", v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.store.Accuracy(ctx, caller, q)
}

// SnapshotAll takes today's UTC snapshot of every tenant, as the service
// itself; it returns the number taken now and the first error.
func (s *Service) SnapshotAll(ctx context.Context) (int, error) {
	tenants, err := s.store.SnapshotTenants(ctx)
	if err != nil {
		return 0, err
	}
	day := today(s.now(), "UTC")
	taken := 0
	var errs []error
	for _, t := range tenants {
		_, created, err := s.store.TakeSnapshot(ctx, auth.Caller{TenantID: t.String()}, day, "UTC")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if created {
			taken++
		}
	}
	return taken, errors.Join(errs...)
}

// AssigneeKind is who a quota is for; the numbers match the API's enum.
type AssigneeKind int32

// Assignee kinds.
const (
	AssigneePrincipal AssigneeKind = 1
	AssigneeTeam      AssigneeKind = 2
	AssigneeTerritory AssigneeKind = 3
)

// Quota is a target of won revenue for a period. A principal's own won
// opportunities count; for a team or territory, those owned by MemberIDs
// (this service keeps neither team membership nor territories).
type Quota struct {
	ID           uuid.UUID
	AssigneeKind AssigneeKind
	Assignee     string
	MemberIDs    []uuid.UUID
	// PeriodStart and PeriodEnd are the first and last day, "YYYY-MM-DD".
	PeriodStart, PeriodEnd string
	TimeZone               string
	Target                 rules.Money
	// AttainedMinor is the won amount in the target's currency with a close
	// time in the period; output only.
	AttainedMinor int64
	CreateTime    time.Time
	UpdateTime    time.Time
	Revision      int64
}

// Etag is the opaque concurrency token of the quota's current revision.
func (q Quota) Etag() string { return strconv.FormatInt(q.Revision, 10) }

// Resource is the quota's resource name.
func (q Quota) Resource() string { return "quotas/" + q.ID.String() }

// QuotaPage is one page of quotas.
type QuotaPage struct {
	Quotas        []Quota
	NextPageToken string
}

// QuotaStore keeps quotas; reads include attainment.
type QuotaStore interface {
	// CreateQuota stores q, or returns what an earlier create with the same
	// non-empty requestID made.
	CreateQuota(ctx context.Context, caller auth.Caller, q Quota, requestID string) (Quota, error)
	Quota(ctx context.Context, caller auth.Caller, id uuid.UUID) (Quota, error)
	Quotas(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (QuotaPage, error)
	// MutateQuota applies m to the quota under a row lock and saves it.
	MutateQuota(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Quota) error) (Quota, error)
}

// Events of forecasts and quotas.
const (
	EventSnapshotTaken = "pipeline_snapshot.taken"
	EventQuotaCreated  = "quota.created"
	EventQuotaUpdated  = "quota.updated"
)

func (q *Quota) normalize() {
	q.Assignee = strings.TrimSpace(q.Assignee)
	q.Target.CurrencyCode = strings.ToUpper(strings.TrimSpace(q.Target.CurrencyCode))
}

func (q *Quota) validate(v *validation.Error) {
	switch q.AssigneeKind {
	case AssigneePrincipal, AssigneeTeam:
		if _, err := uuid.Parse(q.Assignee); err != nil {
			v.Add("quota.assignee", "must be the principal's or team's id (a UUID)")
		}
	case AssigneeTerritory:
		rules.Name(q.Assignee, "quota.assignee", v)
	default:
		v.Add("quota.assignee_kind", "is required")
	}
	if q.AssigneeKind == AssigneePrincipal && len(q.MemberIDs) > 0 {
		v.Add("quota.member_ids", "must be empty for a principal's quota")
	}
	if q.AssigneeKind != AssigneePrincipal && len(q.MemberIDs) == 0 {
		v.Add("quota.member_ids", "must list the principals whose won opportunities count")
	}
	rules.Period(q.PeriodStart, q.PeriodEnd, "quota.period_start", "quota.period_end", v)
	q.TimeZone = rules.TimeZone(q.TimeZone, "quota.time_zone", v)
	rules.Currency(q.Target.CurrencyCode, "quota.target.currency_code", v)
	if q.Target.AmountMinor <= 0 {
		v.Add("quota.target.amount_minor", "must be positive")
	}
}

// CreateQuota validates and stores a quota.
func (s *Service) CreateQuota(ctx context.Context, caller auth.Caller, q Quota, requestID string) (Quota, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Quota{}, err
	}
	q.normalize()
	v := &validation.Error{}
	q.validate(v)
	rules.RequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Quota{}, err
	}
	q.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateQuota(ctx, caller, q, requestID)
}

// Quota returns a quota with its attainment.
func (s *Service) Quota(ctx context.Context, caller auth.Caller, id uuid.UUID) (Quota, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return Quota{}, err
	}
	return s.store.Quota(ctx, caller, id)
}

// Quotas lists quotas with their attainment.
func (s *Service) Quotas(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (QuotaPage, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return QuotaPage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return QuotaPage{}, err
	}
	return s.store.Quotas(ctx, caller, filter, n, pageToken)
}

var quotaUpdatable = []string{"member_ids", "period_start", "period_end", "time_zone", "target"}

// UpdateQuota changes the fields in mask to in's values.
func (s *Service) UpdateQuota(ctx context.Context, caller auth.Caller, in Quota, mask []string, etag string) (Quota, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Quota{}, err
	}
	for i, p := range mask {
		if p == "target.amount_minor" || p == "target.currency_code" {
			mask[i] = "target"
		}
	}
	mask = slices.Compact(mask)
	if err := rules.CheckMask(mask, quotaUpdatable); err != nil {
		return Quota{}, err
	}
	return s.store.MutateQuota(ctx, caller, in.ID, func(q *Quota) error {
		if err := rules.CheckEtag(q.Etag(), etag, pipeline.ErrEtagMismatch); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "member_ids":
				q.MemberIDs = in.MemberIDs
			case "period_start":
				q.PeriodStart = in.PeriodStart
			case "period_end":
				q.PeriodEnd = in.PeriodEnd
			case "time_zone":
				q.TimeZone = in.TimeZone
			case "target":
				q.Target = in.Target
			}
		}
		q.normalize()
		v := &validation.Error{}
		q.validate(v)
		return v.Err()
	})
}

// RunSnapshots takes every tenant's daily snapshot at start and then every
// interval until ctx ends. Taking a day's snapshot twice is a no-op, so
// replicas may all run it and a restart loses no day it was up for.
func (s *Service) RunSnapshots(ctx context.Context, interval time.Duration, log *slog.Logger) {
	for {
		taken, err := s.SnapshotAll(ctx)
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "pipeline snapshots failed", "error", err)
		}
		if taken > 0 {
			log.InfoContext(ctx, "pipeline snapshots taken", "tenants", taken)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

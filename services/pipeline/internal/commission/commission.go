// Package commission is the commissions domain: plans with tiered rates
// measured against quota attainment (the tiers above 100 % are the
// accelerators), splits of an opportunity's credit between reps, and
// statements per rep and period whose every line names the opportunity,
// the rule and the arithmetic. Statements are computed by the store in
// set-based SQL and can be recomputed at any time.
package commission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// Tier is the rate paid on the part of a rep's credit that falls between
// two attainment levels, in basis points of quota.
type Tier struct {
	FromBps int64
	// ToBps is exclusive; 0 means no end.
	ToBps   int64
	RateBps int64
}

// Plan says how its members earn commission.
type Plan struct {
	ID           uuid.UUID
	DisplayName  string
	CurrencyCode string
	Tiers        []Tier
	// ClawbackDays is how long after winning a cancellation is clawed back.
	ClawbackDays int32
	MemberIDs    []uuid.UUID
	TimeZone     string
	CreateTime   time.Time
	UpdateTime   time.Time
	Revision     int64
}

// Etag is the opaque concurrency token of the plan's current revision.
func (p Plan) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the plan's resource name.
func (p Plan) Resource() string { return "commissionPlans/" + p.ID.String() }

// Flat reports whether the plan pays one rate whatever the attainment.
func (p Plan) Flat() bool { return len(p.Tiers) == 1 }

// Split is one rep's share of an opportunity's credit.
type Split struct {
	PrincipalID uuid.UUID
	ShareBps    int64
}

// LineKind says why a statement line exists; the numbers match the API's enum.
type LineKind int32

// Line kinds.
const (
	LineEarning  LineKind = 1
	LineClawback LineKind = 2
	LineExcluded LineKind = 3
)

// Line is one explained line of a statement.
type Line struct {
	Number        int32
	OpportunityID uuid.UUID
	Kind          LineKind
	CreditMinor   int64
	RateBps       int64
	AmountMinor   int64
	TierIndex     int32
	Explanation   string
}

// Statement is what a rep earned in a period.
type Statement struct {
	ID                     uuid.UUID
	PrincipalID            uuid.UUID
	PlanID                 uuid.UUID
	PeriodStart, PeriodEnd string
	CurrencyCode           string
	TotalMinor             int64
	QuotaMinor             int64
	Lines                  []Line
	ComputeTime            time.Time
	Revision               int64
}

// Resource is the statement's resource name.
func (s Statement) Resource() string { return "commissionStatements/" + s.ID.String() }

// Errors of commissions.
var (
	ErrPlanNotFound      = errors.New("commission plan not found")
	ErrStatementNotFound = errors.New("commission statement not found")
	// ErrNoPlan means the rep is on no commission plan.
	ErrNoPlan = errors.New("the principal is on no commission plan")
	// ErrNoQuota means a tiered plan found no quota of the rep for the period.
	ErrNoQuota = errors.New("the plan is tiered by attainment but the principal has no quota for exactly this period in the plan's currency")
	// ErrPrincipalHasPlan means a member is already on another plan.
	ErrPrincipalHasPlan = errors.New("a member is already on another commission plan")
)

// Events of commissions.
const (
	EventPlanCreated       = "commission_plan.created"
	EventPlanUpdated       = "commission_plan.updated"
	EventSplitsUpdated     = "commission_splits.updated"
	EventStatementComputed = "commission_statement.computed"
)

// StatementPage is one page of statements, without lines.
type StatementPage struct {
	Statements    []Statement
	NextPageToken string
}

// PlanPage is one page of plans.
type PlanPage struct {
	Plans         []Plan
	NextPageToken string
}

// Store keeps plans, splits and statements. Every method is scoped to the
// caller's tenant; statements also to what the caller may see.
type Store interface {
	// CreatePlan stores p, or returns what an earlier create with the same
	// non-empty requestID made.
	CreatePlan(ctx context.Context, caller auth.Caller, p Plan, requestID string) (Plan, error)
	Plan(ctx context.Context, caller auth.Caller, id uuid.UUID) (Plan, error)
	Plans(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (PlanPage, error)
	MutatePlan(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Plan) error) (Plan, error)
	// Splits returns an opportunity's splits, or pipeline.ErrNotFound.
	Splits(ctx context.Context, caller auth.Caller, opportunity uuid.UUID) ([]Split, error)
	// SetSplits replaces them.
	SetSplits(ctx context.Context, caller auth.Caller, opportunity uuid.UUID, splits []Split) ([]Split, error)
	// Compute (re)computes the rep's statement for the period under the rep's
	// plan, replacing its lines, returning ErrNoPlan or ErrNoQuota when it cannot.
	Compute(ctx context.Context, caller auth.Caller, rep uuid.UUID, periodStart, periodEnd string) (Statement, error)
	Statement(ctx context.Context, caller auth.Caller, id uuid.UUID) (Statement, error)
	Statements(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (StatementPage, error)
}

// Who may do what: managers set plans and splits and compute statements;
// reps read plans and (by row-level security) only their own statements.
var (
	managers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	sellers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep}
	readers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RoleSupportAgent}
)

// Service holds the commission use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

// maxRateBps caps a tier's rate at 100 % of credit.
const maxRateBps = 10000

func (p *Plan) normalize() {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	p.CurrencyCode = strings.ToUpper(strings.TrimSpace(p.CurrencyCode))
}

// validate checks the plan; tiers must run from 0 % upwards without gaps
// or overlaps, and the last, only, is open-ended.
func (p *Plan) validate(v *validation.Error) {
	rules.Name(p.DisplayName, "plan.display_name", v)
	rules.Currency(p.CurrencyCode, "plan.currency_code", v)
	p.TimeZone = rules.TimeZone(p.TimeZone, "plan.time_zone", v)
	if p.ClawbackDays < 0 {
		v.Add("plan.clawback_days", "must not be negative")
	}
	if len(p.Tiers) == 0 {
		v.Add("plan.tiers", "must have at least one tier (one tier from 0 with no end pays a flat rate)")
	}
	for i, t := range p.Tiers {
		f := fmt.Sprintf("plan.tiers[%d].", i)
		if t.RateBps < 0 || t.RateBps > maxRateBps {
			v.Add(f+"rate_bps", "must be between 0 and %d", maxRateBps)
		}
		last := i == len(p.Tiers)-1
		switch {
		case t.ToBps == 0 && !last:
			v.Add(f+"to_attainment_bps", "only the last tier may have no end")
		case t.ToBps != 0 && last:
			v.Add(f+"to_attainment_bps", "the last tier must have no end (0), so that every attainment is paid")
		case t.ToBps != 0 && t.ToBps <= t.FromBps:
			v.Add(f+"to_attainment_bps", "must be above from_attainment_bps (%d)", t.FromBps)
		}
		if i == 0 {
			if t.FromBps != 0 {
				v.Add(f+"from_attainment_bps", "the first tier must start at 0")
			}
			continue
		}
		prev := p.Tiers[i-1]
		switch {
		case prev.ToBps == 0:
		case t.FromBps < prev.ToBps:
			v.Add(f+"from_attainment_bps", "overlaps tier %d, which ends at %d", i-1, prev.ToBps)
		case t.FromBps > prev.ToBps:
			v.Add(f+"from_attainment_bps", "leaves a gap after tier %d, which ends at %d", i-1, prev.ToBps)
		}
	}
}

// CreatePlan validates and stores a plan.
func (s *Service) CreatePlan(ctx context.Context, caller auth.Caller, p Plan, requestID string) (Plan, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Plan{}, err
	}
	p.normalize()
	v := &validation.Error{}
	p.validate(v)
	rules.RequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Plan{}, err
	}
	p.ID = uuid.Must(uuid.NewV7())
	return s.store.CreatePlan(ctx, caller, p, requestID)
}

// Plan returns a plan.
func (s *Service) Plan(ctx context.Context, caller auth.Caller, id uuid.UUID) (Plan, error) {
	if err := rules.Allow(caller, sellers...); err != nil {
		return Plan{}, err
	}
	return s.store.Plan(ctx, caller, id)
}

// Plans lists plans, oldest first.
func (s *Service) Plans(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (PlanPage, error) {
	if err := rules.Allow(caller, sellers...); err != nil {
		return PlanPage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return PlanPage{}, err
	}
	return s.store.Plans(ctx, caller, n, pageToken)
}

var planUpdatable = []string{"display_name", "tiers", "clawback_days", "member_ids", "time_zone"}

// UpdatePlan changes the fields in mask to in's values. The currency is
// fixed: earlier statements were computed in it.
func (s *Service) UpdatePlan(ctx context.Context, caller auth.Caller, in Plan, mask []string, etag string) (Plan, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Plan{}, err
	}
	if err := rules.CheckMask(mask, planUpdatable); err != nil {
		return Plan{}, err
	}
	return s.store.MutatePlan(ctx, caller, in.ID, func(p *Plan) error {
		if err := rules.CheckEtag(p.Etag(), etag, pipeline.ErrEtagMismatch); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				p.DisplayName = in.DisplayName
			case "tiers":
				p.Tiers = in.Tiers
			case "clawback_days":
				p.ClawbackDays = in.ClawbackDays
			case "member_ids":
				p.MemberIDs = in.MemberIDs
			case "time_zone":
				p.TimeZone = in.TimeZone
			}
		}
		p.normalize()
		v := &validation.Error{}
		p.validate(v)
		return v.Err()
	})
}

// Splits returns how an opportunity's credit is split.
func (s *Service) Splits(ctx context.Context, caller auth.Caller, opportunity uuid.UUID) ([]Split, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return nil, err
	}
	return s.store.Splits(ctx, caller, opportunity)
}

// SetSplits replaces an opportunity's splits; shares must sum to 100 %.
func (s *Service) SetSplits(ctx context.Context, caller auth.Caller, opportunity uuid.UUID, splits []Split) ([]Split, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return nil, err
	}
	v := &validation.Error{}
	var sum int64
	var seen []uuid.UUID
	for i, sp := range splits {
		f := fmt.Sprintf("splits.splits[%d].", i)
		if sp.ShareBps < 1 || sp.ShareBps > 10000 {
			v.Add(f+"share_bps", "must be between 1 and 10000")
		}
		if slices.Contains(seen, sp.PrincipalID) {
			v.Add(f+"principal_id", "is listed twice")
		}
		seen = append(seen, sp.PrincipalID)
		sum += sp.ShareBps
	}
	if len(splits) > 0 && sum != 10000 {
		v.Add("splits.splits", "shares must sum to 10000 (100 %%), not %d", sum)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.store.SetSplits(ctx, caller, opportunity, splits)
}

// Compute (re)computes a rep's statement for a period.
func (s *Service) Compute(ctx context.Context, caller auth.Caller, rep uuid.UUID, periodStart, periodEnd string) (Statement, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Statement{}, err
	}
	v := &validation.Error{}
	if rep == uuid.Nil {
		v.Add("principal_id", "is required")
	}
	rules.Period(periodStart, periodEnd, "period_start", "period_end", v)
	if err := v.Err(); err != nil {
		return Statement{}, err
	}
	return s.store.Compute(ctx, caller, rep, periodStart, periodEnd)
}

// Statement returns a statement the caller may see, with its lines.
func (s *Service) Statement(ctx context.Context, caller auth.Caller, id uuid.UUID) (Statement, error) {
	if err := rules.Allow(caller, sellers...); err != nil {
		return Statement{}, err
	}
	return s.store.Statement(ctx, caller, id)
}

// Statements lists the statements the caller may see, newest period first.
func (s *Service) Statements(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (StatementPage, error) {
	if err := rules.Allow(caller, sellers...); err != nil {
		return StatementPage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return StatementPage{}, err
	}
	return s.store.Statements(ctx, caller, filter, n, pageToken)
}

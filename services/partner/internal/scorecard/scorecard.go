// Package scorecard computes partner scorecards for a period: pipeline and
// win rate from the opportunities the partner sourced, revenue from the
// orders attributed to it (both from the sales-pipeline service),
// registration approval rate, sell-through and end-customer satisfaction
// from its sell-through reports, the help desk's CSAT and NPS answers of the
// customers linked to it, and the certifications it holds.
package scorecard

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/satisfaction"
)

// ErrPartnerNotFound means the partner does not exist or the caller may not see it.
var ErrPartnerNotFound = errors.New("partner not found")

// readers may read scorecards: the channel staff, analysts, and partner
// users, who see those of their own partner and the partners under it (the
// store's row-level security decides which partners a caller sees; the
// pipeline figures of a partner it may see are read on the service's own
// authority, since the sales-pipeline service shows partner users no
// orders).
var readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleAnalyst, auth.RolePartnerUser}

// maxPeriodDays bounds a scorecard's period.
const maxPeriodDays = 366

// Stage is where a sourced opportunity stands.
type Stage int

// Stages.
const (
	StageOpen Stage = iota + 1
	StageWon
	StageLost
)

// Opportunity is an opportunity a partner sourced.
type Opportunity struct {
	Stage        Stage
	CurrencyCode string
	AmountMinor  int64
	CloseTime    time.Time // zero while open
}

// Opportunities reads the opportunities a partner sourced.
type Opportunities interface {
	// Sourced calls fn for every opportunity with partner as its source.
	Sourced(ctx context.Context, partner uuid.UUID, fn func(Opportunity) error) error
}

// Figure is an amount and a count in one currency.
type Figure struct {
	CurrencyCode string
	AmountMinor  int64
	Count        int64
}

// Registrations counts a partner's deal registrations created in a period.
type Registrations struct {
	Submitted, Approved, Rejected int64
}

// SellThrough sums a partner's sell-through reports of a period.
type SellThrough struct {
	Figures           []Figure
	SatisfactionSum   int64
	SatisfactionCount int64
}

// Store reads the partner service's own figures, scoped to the caller's
// tenant and what it may see.
type Store interface {
	// VisiblePartners lists up to limit partners the caller may see with
	// ids after after, in id order.
	VisiblePartners(ctx context.Context, caller auth.Caller, after uuid.UUID, limit int) ([]uuid.UUID, error)
	// PartnerExists reports ErrPartnerNotFound for a partner the caller may not see.
	PartnerExists(ctx context.Context, caller auth.Caller, partner uuid.UUID) error
	Registrations(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (Registrations, error)
	// SellThrough sums the reports whose period starts in [from, to).
	SellThrough(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (SellThrough, error)
	// HelpDesk sums the help desk's answers in [from, to) of the customers
	// linked to partner when they answered.
	HelpDesk(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (satisfaction.Figures, error)
	// Certifications names the certifications valid on day, sorted.
	Certifications(ctx context.Context, caller auth.Caller, partner uuid.UUID, day time.Time) ([]string, error)
}

// Scorecard is a partner's performance in [PeriodStart, PeriodEnd).
type Scorecard struct {
	PartnerID              uuid.UUID
	PeriodStart, PeriodEnd time.Time
	OpenPipeline           []Figure
	Won, Lost              int64
	WinRate                float64
	Registrations          Registrations
	ApprovalRate           float64
	Revenue                []Figure
	SellThrough            []Figure
	// Satisfaction is the sell-through reports' end-customer satisfaction.
	Satisfaction          float64
	SatisfactionResponses int64
	// HelpDesk is the help desk's CSAT and NPS of the partner's customers.
	HelpDesk       satisfaction.Figures
	Certifications []string
}

// Service computes scorecards.
type Service struct {
	store         Store
	opportunities Opportunities
	orders        finance.Orders
}

// New returns a Service.
func New(store Store, opportunities Opportunities, orders finance.Orders) *Service {
	return &Service{store: store, opportunities: opportunities, orders: orders}
}

// Page sizes of List: each scorecard reads the sales pipeline.
const (
	defaultPageSize = 20
	maxPageSize     = 50
)

// checkPeriod adds a scorecard's period's faults to v.
func checkPeriod(v *validation.Error, from, to time.Time) {
	if from.IsZero() {
		v.Add("period_start", "is required")
	}
	switch {
	case to.IsZero():
		v.Add("period_end", "is required")
	case !from.IsZero() && !to.After(from):
		v.Add("period_end", "must be after period_start")
	case !from.IsZero() && to.After(from.AddDate(0, 0, maxPeriodDays)):
		v.Add("period_end", "must be at most %d days after period_start", maxPeriodDays)
	}
}

// Get computes a partner's scorecard for [from, to).
func (s *Service) Get(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (Scorecard, error) {
	if !caller.HasAny(readers...) {
		return Scorecard{}, auth.ErrForbidden
	}
	v := &validation.Error{}
	if checkPeriod(v, from, to); v.Err() != nil {
		return Scorecard{}, v.Err()
	}
	if err := s.store.PartnerExists(ctx, caller, partner); err != nil {
		return Scorecard{}, err
	}
	return s.compute(ctx, caller, partner, from, to)
}

// List computes the scorecards for [from, to) of up to pageSize partners
// the caller may see with ids after after; more is set when further
// partners follow.
func (s *Service) List(ctx context.Context, caller auth.Caller, from, to time.Time, pageSize int, after uuid.UUID) (cards []Scorecard, more bool, err error) {
	if !caller.HasAny(readers...) {
		return nil, false, auth.ErrForbidden
	}
	v := &validation.Error{}
	checkPeriod(v, from, to)
	switch {
	case pageSize < 0:
		v.Add("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = defaultPageSize
	}
	if err := v.Err(); err != nil {
		return nil, false, err
	}
	pageSize = min(pageSize, maxPageSize)
	ids, err := s.store.VisiblePartners(ctx, caller, after, pageSize+1)
	if err != nil {
		return nil, false, err
	}
	more = len(ids) > pageSize
	ids = ids[:min(len(ids), pageSize)]
	cards = make([]Scorecard, 0, len(ids))
	for _, id := range ids {
		sc, err := s.compute(ctx, caller, id, from, to)
		if err != nil {
			return nil, false, err
		}
		cards = append(cards, sc)
	}
	return cards, more, nil
}

// compute gathers the scorecard of a partner the caller may see.
func (s *Service) compute(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (Scorecard, error) {
	sc := Scorecard{PartnerID: partner, PeriodStart: from, PeriodEnd: to}
	var err error
	if sc.Registrations, err = s.store.Registrations(ctx, caller, partner, from, to); err != nil {
		return Scorecard{}, err
	}
	if decided := sc.Registrations.Approved + sc.Registrations.Rejected; decided > 0 {
		sc.ApprovalRate = float64(sc.Registrations.Approved) / float64(decided)
	}
	st, err := s.store.SellThrough(ctx, caller, partner, from, to)
	if err != nil {
		return Scorecard{}, err
	}
	sc.SellThrough, sc.SatisfactionResponses = st.Figures, st.SatisfactionCount
	if st.SatisfactionCount > 0 {
		sc.Satisfaction = float64(st.SatisfactionSum) / float64(st.SatisfactionCount)
	}
	if sc.HelpDesk, err = s.store.HelpDesk(ctx, caller, partner, from, to); err != nil {
		return Scorecard{}, err
	}
	if sc.Certifications, err = s.store.Certifications(ctx, caller, partner, to.AddDate(0, 0, -1)); err != nil {
		return Scorecard{}, err
	}
	open := figures{}
	if err := s.opportunities.Sourced(ctx, partner, func(o Opportunity) error {
		switch {
		case o.Stage == StageOpen:
			open.add(o.CurrencyCode, o.AmountMinor)
		case o.CloseTime.Before(from) || !o.CloseTime.Before(to):
		case o.Stage == StageWon:
			sc.Won++
		case o.Stage == StageLost:
			sc.Lost++
		}
		return nil
	}); err != nil {
		return Scorecard{}, err
	}
	sc.OpenPipeline = open.list()
	if sc.Won+sc.Lost > 0 {
		sc.WinRate = float64(sc.Won) / float64(sc.Won+sc.Lost)
	}
	revenue := figures{}
	if err := s.orders.Attributed(ctx, partner, from, to, func(o finance.Order) error {
		revenue.add(o.CurrencyCode, finance.Revenue(o))
		return nil
	}); err != nil {
		return Scorecard{}, err
	}
	sc.Revenue = revenue.list()
	return sc, nil
}

// figures sums amounts and counts per currency.
type figures map[string]*Figure

func (f figures) add(currency string, amount int64) {
	fig, ok := f[currency]
	if !ok {
		fig = &Figure{CurrencyCode: currency}
		f[currency] = fig
	}
	fig.AmountMinor += amount
	fig.Count++
}

// list returns the figures sorted by currency, so output is stable.
func (f figures) list() []Figure {
	out := make([]Figure, 0, len(f))
	for _, fig := range f {
		out = append(out, *fig)
	}
	slices.SortFunc(out, func(a, b Figure) int { return cmp.Compare(a.CurrencyCode, b.CurrencyCode) })
	return out
}

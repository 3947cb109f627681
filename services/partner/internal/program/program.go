// Package program is the partner programme: the tenant's tier schedule with
// revenue bands and required certifications, partners' certifications with
// expiry, and the evaluation that sets a partner's tier from its attributed
// revenue and the certifications it holds.
package program

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

// Events this package emits.
const (
	EventScheduleUpdated       = "tier_schedule.updated"
	EventCertificationRecorded = "certification.created"
	EventTierEvaluated         = "partner.tier_evaluated"
)

// Errors of the programme use cases.
var (
	// ErrEtagMismatch means the schedule changed since the caller read it.
	ErrEtagMismatch = errors.New("tier schedule changed since it was read (etag mismatch)")
	// ErrNoSchedule means the tenant has no tiers to evaluate against.
	ErrNoSchedule = errors.New("the tier schedule has no tiers")
	// ErrPartnerNotFound means the partner does not exist or the caller may not see it.
	ErrPartnerNotFound = errors.New("partner not found")
)

// Who may do what.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RolePartnerUser}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// Limits.
const (
	maxTiers        = 20
	maxText         = 100
	maxRequiredCert = 20
	maxRequestID    = 64
	defaultPageSize = 50
	maxPageSize     = 1000
	// window is how far back evaluation counts revenue.
	windowDays = 365
)

// Tier is one level of the programme.
type Tier struct {
	Name                   string   `json:"name"`
	MinRevenueMinor        int64    `json:"min_revenue_minor"`
	MaxRevenueMinor        int64    `json:"max_revenue_minor,omitempty"` // 0: no upper bound
	RequiredCertifications []string `json:"required_certifications,omitempty"`
	// MonthlyLeadCapacity bounds the lead offers a partner of the tier holds
	// per calendar month; 0: no limit. Lead distribution reads it.
	MonthlyLeadCapacity int32 `json:"monthly_lead_capacity,omitempty"`
}

// wellFormed reports whether the band is not empty.
func (t Tier) wellFormed() bool {
	return t.MaxRevenueMinor == 0 || t.MaxRevenueMinor > t.MinRevenueMinor
}

// overlaps reports whether two bands share a revenue.
func (t Tier) overlaps(o Tier) bool {
	return (o.MaxRevenueMinor == 0 || t.MinRevenueMinor < o.MaxRevenueMinor) &&
		(t.MaxRevenueMinor == 0 || o.MinRevenueMinor < t.MaxRevenueMinor)
}

// Schedule is the tenant's tiers.
type Schedule struct {
	CurrencyCode string
	Tiers        []Tier
	UpdateTime   time.Time
	Revision     int64 // 0: never set
}

// Etag is the opaque concurrency token of the schedule.
func (s Schedule) Etag() string { return strconv.FormatInt(s.Revision, 10) }

// Certification is one certification a partner earned.
type Certification struct {
	ID         uuid.UUID
	PartnerID  uuid.UUID
	Name       string
	EarnDate   time.Time
	ExpireDate time.Time // zero: never
	RecordedBy string
	CreateTime time.Time
}

// Resource is the certification's resource name.
func (c Certification) Resource() string { return "certifications/" + c.ID.String() }

// valid reports whether the certification counts on day.
func (c Certification) valid(day time.Time) bool {
	return !day.Before(c.EarnDate) && (c.ExpireDate.IsZero() || day.Before(c.ExpireDate))
}

// Evaluation is the outcome of a tier evaluation.
type Evaluation struct {
	PartnerID    uuid.UUID
	PreviousTier string
	Tier         string
	RevenueMinor int64
	CurrencyCode string
	WindowStart  time.Time
	WindowEnd    time.Time
	Reasons      []string
}

// CertificationQuery selects a page of certifications, newest first.
type CertificationQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// CertificationPage is one page of certifications.
type CertificationPage struct {
	Certifications []Certification
	NextPageToken  string
}

// Store keeps the programme. Every method is scoped to the caller's tenant
// and reads only what the caller may see.
type Store interface {
	Schedule(ctx context.Context, caller auth.Caller) (Schedule, error)
	// UpdateSchedule locks the schedule, applies change, and saves it with
	// its event in one transaction.
	UpdateSchedule(ctx context.Context, caller auth.Caller, change func(*Schedule) error) (Schedule, error)
	// CreateCertification inserts c with its event, or returns the one an
	// earlier create with the same non-empty requestID made. A partner the
	// caller may not see is ErrPartnerNotFound.
	CreateCertification(ctx context.Context, caller auth.Caller, c Certification, requestID string) (Certification, error)
	ListCertifications(ctx context.Context, caller auth.Caller, q CertificationQuery) (CertificationPage, error)
	// PartnerTier returns the partner's current tier (ErrPartnerNotFound).
	PartnerTier(ctx context.Context, caller auth.Caller, partner uuid.UUID) (string, error)
	// Certifications returns all of a partner's certifications.
	Certifications(ctx context.Context, caller auth.Caller, partner uuid.UUID) ([]Certification, error)
	// SetTier sets the partner's tier with the evaluation's event and audit
	// row in one transaction.
	SetTier(ctx context.Context, caller auth.Caller, e Evaluation) error
}

// Service holds the programme use cases.
type Service struct {
	store  Store
	orders finance.Orders
	now    func() time.Time
}

// New returns a Service over store and the attributed orders.
func New(store Store, orders finance.Orders, now func() time.Time) *Service {
	return &Service{store: store, orders: orders, now: now}
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Schedule returns the tier schedule.
func (s *Service) Schedule(ctx context.Context, caller auth.Caller) (Schedule, error) {
	if err := allow(caller, readers); err != nil {
		return Schedule{}, err
	}
	return s.store.Schedule(ctx, caller)
}

// UpdateSchedule replaces the schedule after validating it: names unique,
// bands well-formed and not overlapping.
func (s *Service) UpdateSchedule(ctx context.Context, caller auth.Caller, in Schedule, etag string) (Schedule, error) {
	if err := allow(caller, writers); err != nil {
		return Schedule{}, err
	}
	in.CurrencyCode = strings.ToUpper(strings.TrimSpace(in.CurrencyCode))
	for i := range in.Tiers {
		in.Tiers[i].Name = strings.TrimSpace(in.Tiers[i].Name)
		for j := range in.Tiers[i].RequiredCertifications {
			in.Tiers[i].RequiredCertifications[j] = strings.TrimSpace(in.Tiers[i].RequiredCertifications[j])
		}
	}
	if err := validateSchedule(in); err != nil {
		return Schedule{}, err
	}
	return s.store.UpdateSchedule(ctx, caller, func(cur *Schedule) error {
		if etag != "" && etag != cur.Etag() {
			return ErrEtagMismatch
		}
		cur.CurrencyCode, cur.Tiers = in.CurrencyCode, in.Tiers
		return nil
	})
}

func validateSchedule(in Schedule) error {
	v := &validation.Error{}
	if len(in.Tiers) > 0 && (len(in.CurrencyCode) != 3 || strings.ToUpper(in.CurrencyCode) != in.CurrencyCode) {
		v.Add("tier_schedule.currency_code", "must be a 3-letter ISO 4217 code")
	}
	if len(in.Tiers) > maxTiers {
		v.Add("tier_schedule.tiers", "must have at most %d tiers", maxTiers)
	}
	seen := map[string]int{}
	for i, t := range in.Tiers {
		field := fmt.Sprintf("tier_schedule.tiers[%d]", i)
		switch {
		case t.Name == "":
			v.Add(field+".name", "is required")
		case utf8.RuneCountInString(t.Name) > maxText:
			v.Add(field+".name", "must be at most %d characters", maxText)
		}
		if j, dup := seen[t.Name]; dup && t.Name != "" {
			v.Add(field+".name", "repeats the name of tiers[%d]", j)
		} else {
			seen[t.Name] = i
		}
		if t.MinRevenueMinor < 0 {
			v.Add(field+".min_revenue_minor", "must not be negative")
		}
		if t.MaxRevenueMinor != 0 && t.MaxRevenueMinor <= t.MinRevenueMinor {
			v.Add(field+".max_revenue_minor", "must be above min_revenue_minor, or 0 for no upper bound")
		}
		if t.MonthlyLeadCapacity < 0 {
			v.Add(field+".monthly_lead_capacity", "must not be negative (0 is no limit)")
		}
		if len(t.RequiredCertifications) > maxRequiredCert {
			v.Add(field+".required_certifications", "must have at most %d entries", maxRequiredCert)
		}
		for j, c := range t.RequiredCertifications {
			if c == "" || utf8.RuneCountInString(c) > maxText {
				v.Add(fmt.Sprintf("%s.required_certifications[%d]", field, j), "must be 1 to %d characters", maxText)
			}
		}
		for j := range i {
			o := in.Tiers[j]
			if t.wellFormed() && o.wellFormed() && t.overlaps(o) {
				v.Add(field+".min_revenue_minor", "band %s overlaps tiers[%d] %q band %s", band(t), j, o.Name, band(o))
			}
		}
	}
	return v.Err()
}

func band(t Tier) string {
	if t.MaxRevenueMinor == 0 {
		return fmt.Sprintf("[%d, ∞)", t.MinRevenueMinor)
	}
	return fmt.Sprintf("[%d, %d)", t.MinRevenueMinor, t.MaxRevenueMinor)
}

// CreateCertification validates and records a certification.
func (s *Service) CreateCertification(ctx context.Context, caller auth.Caller, c Certification, requestID string) (Certification, error) {
	if err := allow(caller, writers); err != nil {
		return Certification{}, err
	}
	c.Name = strings.TrimSpace(c.Name)
	v := &validation.Error{}
	if c.PartnerID == uuid.Nil {
		v.Add("certification.partner_id", "is required")
	}
	switch {
	case c.Name == "":
		v.Add("certification.name", "is required")
	case utf8.RuneCountInString(c.Name) > maxText:
		v.Add("certification.name", "must be at most %d characters", maxText)
	}
	if c.EarnDate.IsZero() {
		v.Add("certification.earn_date", "is required")
	}
	if !c.ExpireDate.IsZero() && !c.ExpireDate.After(c.EarnDate) {
		v.Add("certification.expire_date", "must be after earn_date")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Certification{}, err
	}
	c.ID, c.RecordedBy = uuid.Must(uuid.NewV7()), caller.PrincipalID
	return s.store.CreateCertification(ctx, caller, c, requestID)
}

// ListCertifications returns a page of certifications, newest first.
func (s *Service) ListCertifications(ctx context.Context, caller auth.Caller, q CertificationQuery) (CertificationPage, error) {
	if err := allow(caller, readers); err != nil {
		return CertificationPage{}, err
	}
	switch {
	case q.PageSize < 0:
		return CertificationPage{}, validation.Field("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	return s.store.ListCertifications(ctx, caller, q)
}

// Evaluate sets a partner's tier: the highest tier whose band its revenue
// in the schedule's currency over the trailing year reaches and whose
// certifications it holds unexpired, so a partner lacking a tier's
// certifications stays in the tier below however much it sells. Orders in other currencies are not converted; the reasons say how
// many were left out.
func (s *Service) Evaluate(ctx context.Context, caller auth.Caller, partnerID uuid.UUID) (Evaluation, error) {
	if err := allow(caller, writers); err != nil {
		return Evaluation{}, err
	}
	prev, err := s.store.PartnerTier(ctx, caller, partnerID)
	if err != nil {
		return Evaluation{}, err
	}
	sched, err := s.store.Schedule(ctx, caller)
	if err != nil {
		return Evaluation{}, err
	}
	if len(sched.Tiers) == 0 {
		return Evaluation{}, ErrNoSchedule
	}
	certs, err := s.store.Certifications(ctx, caller, partnerID)
	if err != nil {
		return Evaluation{}, err
	}
	end := s.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	e := Evaluation{PartnerID: partnerID, PreviousTier: prev, CurrencyCode: sched.CurrencyCode, WindowStart: end.AddDate(0, 0, -windowDays), WindowEnd: end}
	skipped := 0
	if err := s.orders.Attributed(ctx, partnerID, e.WindowStart, e.WindowEnd, func(o finance.Order) error {
		if o.CurrencyCode != sched.CurrencyCode {
			skipped++
			return nil
		}
		e.RevenueMinor += finance.Revenue(o)
		return nil
	}); err != nil {
		return Evaluation{}, err
	}
	if skipped > 0 {
		e.Reasons = append(e.Reasons, fmt.Sprintf("%d orders in other currencies than %s were not counted", skipped, sched.CurrencyCode))
	}
	today := end.AddDate(0, 0, -1)
	held := map[string]bool{}
	for _, c := range certs {
		if c.valid(today) {
			held[c.Name] = true
		}
	}
	tiers := slices.Clone(sched.Tiers)
	slices.SortFunc(tiers, func(a, b Tier) int { return cmp.Compare(b.MinRevenueMinor, a.MinRevenueMinor) })
	for _, t := range tiers {
		if t.MinRevenueMinor > e.RevenueMinor {
			continue
		}
		var missing []string
		for _, c := range t.RequiredCertifications {
			if !held[c] {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			e.Reasons = append(e.Reasons, fmt.Sprintf("revenue qualifies for tier %q but certifications %s are not held unexpired", t.Name, strings.Join(missing, ", ")))
			continue
		}
		e.Tier = t.Name
		e.Reasons = append(e.Reasons, fmt.Sprintf("revenue %d %s reaches band %s and every required certification is held: tier %q", e.RevenueMinor, sched.CurrencyCode, band(t), t.Name))
		break
	}
	if e.Tier == "" {
		e.Reasons = append(e.Reasons, fmt.Sprintf("revenue %d %s qualifies for no tier", e.RevenueMinor, sched.CurrencyCode))
	}
	if err := s.store.SetTier(ctx, caller, e); err != nil {
		return Evaluation{}, err
	}
	return e, nil
}

package loyalty

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Who may do what: programs, tiers and adjustments are decisions for admins
// and sales managers; whoever works with customers enrols them and posts
// earnings and redemptions; every reader sees balances and tiers (they are
// no personal data).
var (
	readers   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RoleAnalyst}
	operators = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	designers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	expirers  = []auth.Role{auth.RoleAdmin}
)

// Limits of what callers send.
const (
	maxName      = 200
	maxTierName  = 100
	maxExpiry    = 120
	maxRank      = 1000
	maxWindow    = 3660
	maxBenefits  = 20
	maxBenefit   = 200
	maxPoints    = 1_000_000_000
	maxReference = 200
	maxReason    = 500
	maxRequestID = 64
	defaultPage  = 50
	maxPage      = 1000
)

// Service holds the loyalty use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

func (p *Program) validate(v *validation.Error) {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	if n := utf8.RuneCountInString(p.DisplayName); n == 0 || n > maxName {
		v.Add("program.display_name", "must be 1 to %d characters", maxName)
	}
	if p.ExpiryMonths < 0 || p.ExpiryMonths > maxExpiry {
		v.Add("program.expiry_months", "must be between 0 (never) and %d", maxExpiry)
	}
}

// CreateProgram adds a program.
func (s *Service) CreateProgram(ctx context.Context, caller auth.Caller, p Program, requestID string) (Program, error) {
	if err := allow(caller, designers); err != nil {
		return Program{}, err
	}
	v := &validation.Error{}
	p.validate(v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Program{}, err
	}
	p.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateProgram(ctx, caller, p, requestID)
}

// Program returns a program.
func (s *Service) Program(ctx context.Context, caller auth.Caller, id uuid.UUID) (Program, error) {
	if err := allow(caller, readers); err != nil {
		return Program{}, err
	}
	return s.store.Program(ctx, caller, id)
}

// Programs lists the tenant's programs by name.
func (s *Service) Programs(ctx context.Context, caller auth.Caller) ([]Program, error) {
	if err := allow(caller, readers); err != nil {
		return nil, err
	}
	return s.store.Programs(ctx, caller)
}

// ProgramFields are the fields UpdateLoyaltyProgram may change.
var ProgramFields = []string{"display_name", "expiry_months", "active"}

// UpdateProgram changes the fields in mask; an empty etag skips the check.
func (s *Service) UpdateProgram(ctx context.Context, caller auth.Caller, in Program, mask []string, etag string) (Program, error) {
	if err := allow(caller, designers); err != nil {
		return Program{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(ProgramFields, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, ProgramFields)
		}
	}
	if err := v.Err(); err != nil {
		return Program{}, err
	}
	return s.store.MutateProgram(ctx, caller, in.ID, func(p *Program) error {
		if etag != "" && etag != p.Etag() {
			return ErrEtagMismatch
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				p.DisplayName = in.DisplayName
			case "expiry_months":
				p.ExpiryMonths = in.ExpiryMonths
			case "active":
				p.Active = in.Active
			}
		}
		v := &validation.Error{}
		p.validate(v)
		return v.Err()
	})
}

// CreateTier adds a tier to a program.
func (s *Service) CreateTier(ctx context.Context, caller auth.Caller, t Tier) (Tier, error) {
	if err := allow(caller, designers); err != nil {
		return Tier{}, err
	}
	v := &validation.Error{}
	t.DisplayName = strings.TrimSpace(t.DisplayName)
	if n := utf8.RuneCountInString(t.DisplayName); n == 0 || n > maxTierName {
		v.Add("tier.display_name", "must be 1 to %d characters", maxTierName)
	}
	if t.Rank < 0 || t.Rank > maxRank {
		v.Add("tier.rank", "must be between 0 and %d", maxRank)
	}
	switch t.Rule {
	case RuleLifetimeEarned:
		if t.WindowDays != 0 {
			v.Add("tier.window_days", "applies only to TIER_RULE_KIND_WINDOW_EARNED")
		}
	case RuleWindowEarned:
		if t.WindowDays < 1 || t.WindowDays > maxWindow {
			v.Add("tier.window_days", "must be between 1 and %d", maxWindow)
		}
	default:
		v.Add("tier.rule_kind", "must be TIER_RULE_KIND_LIFETIME_EARNED or TIER_RULE_KIND_WINDOW_EARNED")
	}
	if t.Threshold < 0 || t.Threshold > maxPoints {
		v.Add("tier.threshold_points", "must be between 0 and %d", maxPoints)
	}
	if len(t.Benefits) > maxBenefits {
		v.Add("tier.benefits", "must list at most %d benefits", maxBenefits)
	}
	for _, b := range t.Benefits {
		if n := utf8.RuneCountInString(strings.TrimSpace(b)); n == 0 || n > maxBenefit {
			v.Add("tier.benefits", "each benefit must be 1 to %d characters", maxBenefit)
		}
	}
	if err := v.Err(); err != nil {
		return Tier{}, err
	}
	t.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateTier(ctx, caller, t)
}

// Tiers lists a program's tiers, lowest rank first.
func (s *Service) Tiers(ctx context.Context, caller auth.Caller, program uuid.UUID) ([]Tier, error) {
	if err := allow(caller, readers); err != nil {
		return nil, err
	}
	return s.store.Tiers(ctx, caller, program)
}

// Enroll makes a customer a member; enrolling twice returns the membership.
func (s *Service) Enroll(ctx context.Context, caller auth.Caller, program, customer uuid.UUID) (Membership, error) {
	if err := allow(caller, operators); err != nil {
		return Membership{}, err
	}
	return s.store.Enroll(ctx, caller, program, customer)
}

// Membership returns a customer's membership.
func (s *Service) Membership(ctx context.Context, caller auth.Caller, program, customer uuid.UUID) (Membership, error) {
	if err := allow(caller, readers); err != nil {
		return Membership{}, err
	}
	return s.store.Membership(ctx, caller, program, customer)
}

func pageQuery(q PageQuery) (PageQuery, error) {
	switch {
	case q.PageSize < 0:
		return q, validation.Field("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPage
	case q.PageSize > maxPage:
		q.PageSize = maxPage
	}
	return q, nil
}

// Memberships lists a program's members, optionally of one tier.
func (s *Service) Memberships(ctx context.Context, caller auth.Caller, program uuid.UUID, tier *uuid.UUID, q PageQuery) ([]Membership, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	q, err := pageQuery(q)
	if err != nil {
		return nil, "", err
	}
	return s.store.Memberships(ctx, caller, program, tier, q)
}

// Post validates and posts a transaction. Only admins and sales managers
// adjust, and an adjustment says why.
func (s *Service) Post(ctx context.Context, caller auth.Caller, t Transaction) (Transaction, Membership, error) {
	roles := operators
	if t.Kind == KindAdjust {
		roles = designers
	}
	if err := allow(caller, roles); err != nil {
		return Transaction{}, Membership{}, err
	}
	v := &validation.Error{}
	t.ExternalReference = strings.TrimSpace(t.ExternalReference)
	t.Reason = strings.TrimSpace(t.Reason)
	switch t.Kind {
	case KindEarn, KindRedeem:
		if t.Points < 1 || t.Points > maxPoints {
			v.Add("points", "must be between 1 and %d", maxPoints)
		}
	case KindAdjust:
		if t.Points == 0 || t.Points < -maxPoints || t.Points > maxPoints {
			v.Add("points", "must be non-zero and at most %d either way", maxPoints)
		}
		if t.Reason == "" {
			v.Add("reason", "is required for an adjustment")
		}
	default:
		v.Add("kind", "must be POINTS_TRANSACTION_KIND_EARN, _REDEEM or _ADJUST (expiry is posted by the service)")
	}
	if n := utf8.RuneCountInString(t.ExternalReference); n == 0 || n > maxReference {
		v.Add("external_reference", "must be 1 to %d characters: it makes the posting safe to repeat", maxReference)
	}
	if utf8.RuneCountInString(t.Reason) > maxReason {
		v.Add("reason", "must be at most %d characters", maxReason)
	}
	if err := v.Err(); err != nil {
		return Transaction{}, Membership{}, err
	}
	if t.Kind == KindRedeem {
		t.Points = -t.Points
	}
	t.ID = uuid.Must(uuid.NewV7())
	return s.store.Post(ctx, caller, t)
}

// Transactions lists a member's transactions, newest first.
func (s *Service) Transactions(ctx context.Context, caller auth.Caller, program, customer uuid.UUID, q PageQuery) ([]Transaction, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	q, err := pageQuery(q)
	if err != nil {
		return nil, "", err
	}
	return s.store.Transactions(ctx, caller, program, customer, q)
}

// TierChanges lists a member's tier changes, newest first.
func (s *Service) TierChanges(ctx context.Context, caller auth.Caller, program, customer uuid.UUID) ([]TierChange, error) {
	if err := allow(caller, readers); err != nil {
		return nil, err
	}
	return s.store.LoyaltyTierChanges(ctx, caller, program, customer)
}

// Expire posts the expiry of a program's points due now.
func (s *Service) Expire(ctx context.Context, caller auth.Caller, program uuid.UUID) (Expiry, error) {
	if err := allow(caller, expirers); err != nil {
		return Expiry{}, err
	}
	return s.store.Expire(ctx, caller, program)
}

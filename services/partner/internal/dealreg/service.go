package dealreg

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Who may do what. Partner users register for their own partner (or one
// under it) and read only those registrations: the store's access policy
// enforces both. Channel managers decide.
var (
	registrars = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RolePartnerUser}
	deciders   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	readers    = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RolePartnerUser}
)

// Limits.
const (
	maxName         = 200
	maxText         = 320
	maxNote         = 2000
	maxRequestID    = 64
	maxMatches      = 10
	defaultPageSize = 50
	maxPageSize     = 1000
	maxProtection   = 730
)

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	rulesPaths = []string{"protection_days", "direct_owner_conflicts", "open_opportunity_conflicts"}
)

// Service holds the deal registration use cases.
type Service struct {
	store         Store
	customers     Customers
	opportunities Opportunities
	now           func() time.Time
}

// New returns a Service; now is the clock (time.Now outside tests).
func New(store Store, customers Customers, opportunities Opportunities, now func() time.Time) *Service {
	return &Service{store: store, customers: customers, opportunities: opportunities, now: now}
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// isPartnerUser reports whether the caller sees the world through its partner.
func isPartnerUser(c auth.Caller) bool {
	return c.HasAny(auth.RolePartnerUser) && !c.HasAny(auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst)
}

// Create validates and stores a registration, detecting conflicts. A
// conflicting registration is stored in state CONFLICT with its reasons.
//
// Partner users cannot see the customers and opportunities of the peers
// (their records are closed to them), so for them only other partners'
// claims are checked here; approval checks the peers again with the
// approver's full view before anything is created.
func (s *Service) Create(ctx context.Context, caller auth.Caller, r Registration, requestID string) (Registration, error) {
	if err := allow(caller, registrars); err != nil {
		return Registration{}, err
	}
	if r.PartnerID == uuid.Nil && isPartnerUser(caller) {
		r.PartnerID, _ = uuid.Parse(caller.PartnerID)
	}
	r.normalize()
	v := &validation.Error{}
	r.validate(v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Registration{}, err
	}
	p, err := s.store.Partner(ctx, caller, r.PartnerID)
	if err != nil {
		return Registration{}, err
	}
	if !p.Active {
		return Registration{}, ErrPartnerNotActive
	}
	rules, err := s.store.Rules(ctx, caller)
	if err != nil {
		return Registration{}, err
	}
	now := s.now()
	r.ID = uuid.Must(uuid.NewV7())
	r.RegisteredBy = caller.PrincipalID
	r.ExpireTime = now.AddDate(0, 0, rules.ProtectionDays)
	r.State = StateSubmitted
	var customers []uuid.UUID
	if r.CustomerID != uuid.Nil {
		customers = append(customers, r.CustomerID)
	}
	if !isPartnerUser(caller) {
		var found []uuid.UUID
		r.Conflicts, found, err = s.screen(ctx, r, rules)
		if err != nil {
			return Registration{}, err
		}
		if r.CustomerID == uuid.Nil && len(found) > 0 {
			// Identity resolution: the prospect is this customer.
			r.CustomerID = found[0]
		}
		customers = append(customers, found...)
	}
	keys := claimKeys(r, uniq(customers))
	saved, _, err := s.store.Create(ctx, caller, r, keys, requestID, func(r *Registration, others []Claim) {
		seen := map[uuid.UUID]bool{}
		for _, c := range others {
			if seen[c.RegistrationID] {
				continue
			}
			seen[c.RegistrationID] = true
			r.Conflicts = append(r.Conflicts, Conflict{Kind: ConflictPartnerRegistration, RegistrationID: c.RegistrationID,
				PartnerID: c.PartnerID, Description: "another partner registered the " + strings.TrimPrefix(describeKey(c.Key), "same ")})
		}
		if len(r.Conflicts) > 0 {
			r.State = StateConflict
		}
	})
	if err != nil {
		return Registration{}, err
	}
	return redact(caller, saved), nil
}

// screen checks the registration against the peers: customers it names or
// resolves to, their direct owners and their open opportunities. It
// returns the conflicts and the customers found.
func (s *Service) screen(ctx context.Context, r Registration, rules Rules) ([]Conflict, []uuid.UUID, error) {
	var customers []Customer
	if r.CustomerID != uuid.Nil {
		c, err := s.customers.Get(ctx, r.CustomerID)
		if err != nil {
			return nil, nil, err
		}
		customers = append(customers, c)
	}
	if r.Prospect != (Prospect{}) {
		found, err := s.customers.Match(ctx, r.Prospect)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range found {
			if c.ID != r.CustomerID && len(customers) < maxMatches {
				customers = append(customers, c)
			}
		}
	}
	var conflicts []Conflict
	var ids []uuid.UUID
	for _, c := range customers {
		ids = append(ids, c.ID)
		if rules.DirectOwnerConflicts && c.OwnerID != "" {
			conflicts = append(conflicts, Conflict{Kind: ConflictDirectOwner, CustomerID: c.ID,
				Description: describeMatch(c, "the customer is owned by direct sales")})
		}
		if !rules.OpenOpportunityConflicts {
			continue
		}
		opps, err := s.opportunities.Open(ctx, c.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range opps {
			if o.SourcePartnerID != r.PartnerID {
				conflicts = append(conflicts, Conflict{Kind: ConflictOpenOpportunity, CustomerID: c.ID, OpportunityID: o.ID,
					Description: describeMatch(c, "the customer has an open opportunity")})
			}
		}
	}
	return conflicts, ids, nil
}

func describeMatch(c Customer, what string) string {
	if c.Match == "" {
		return what
	}
	return what + " (" + c.Match + ")"
}

func uniq(ids []uuid.UUID) []uuid.UUID {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(ids)
}

// Get returns a registration.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Registration, error) {
	if err := allow(caller, readers); err != nil {
		return Registration{}, err
	}
	r, err := s.store.Get(ctx, caller, id)
	return redact(caller, r), err
}

// List returns a page of registrations, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	switch {
	case q.PageSize < 0:
		return Page{}, validation.Field("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	page, err := s.store.List(ctx, caller, q)
	for i := range page.Registrations {
		page.Registrations[i] = redact(caller, page.Registrations[i])
	}
	return page, err
}

// decision is the common check of approve, reject and arbitrate: the
// registration is readable, pending, and at the etag the caller read.
func (s *Service) decision(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Registration, error) {
	if err := allow(caller, deciders); err != nil {
		return Registration{}, err
	}
	r, err := s.store.Get(ctx, caller, id)
	if err != nil {
		return Registration{}, err
	}
	if etag != "" && etag != r.Etag() {
		return Registration{}, ErrEtagMismatch
	}
	if !r.pending() {
		return Registration{}, ErrNotPending
	}
	return r, nil
}

// Approve approves a submitted registration. The peers are checked again
// with the approver's view; new conflicts move the registration to
// CONFLICT (recorded) and fail with ErrConflict. Otherwise the customer is
// created for a prospect, the opportunity created with the partner as
// source, and the customer linked to the partner and the partners above it,
// before the approval is recorded.
func (s *Service) Approve(ctx context.Context, caller auth.Caller, id uuid.UUID, etag, note string) (Registration, error) {
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > maxNote {
		return Registration{}, validation.Field("note", "must be at most %d characters", maxNote)
	}
	r, err := s.decision(ctx, caller, id, etag)
	if err != nil {
		return Registration{}, err
	}
	if r.State == StateConflict {
		return Registration{}, ErrConflict
	}
	if !s.now().Before(r.ExpireTime) {
		return Registration{}, fmt.Errorf("%w at %s", ErrExpired, r.ExpireTime.UTC().Format(time.RFC3339))
	}
	rules, err := s.store.Rules(ctx, caller)
	if err != nil {
		return Registration{}, err
	}
	conflicts, found, err := s.screen(ctx, r, rules)
	if err != nil {
		return Registration{}, err
	}
	if len(conflicts) > 0 {
		if _, err := s.store.Mutate(ctx, caller, id, func(cur *Registration) (string, error) {
			if cur.Revision != r.Revision {
				return "", ErrEtagMismatch
			}
			cur.State, cur.Conflicts = StateConflict, conflicts
			return EventConflicted, nil
		}); err != nil {
			return Registration{}, err
		}
		return Registration{}, ErrConflict
	}
	if r.CustomerID == uuid.Nil && len(found) > 0 {
		r.CustomerID = found[0]
	}
	return s.fulfil(ctx, caller, r, uuid.Nil, rules, func(cur *Registration) string {
		cur.DecisionNote = note
		return EventApproved
	})
}

// fulfil does what an approval promises and then records it: the peers'
// calls are idempotent (request ids derived from the registration), so a
// retry after a failure part-way creates nothing twice, and the approval is
// recorded only once they all succeeded. link, when set, is an existing
// opportunity to mark as the partner's instead of creating one.
func (s *Service) fulfil(ctx context.Context, caller auth.Caller, r Registration, link uuid.UUID, rules Rules, decide func(*Registration) string) (Registration, error) {
	p, err := s.store.Partner(ctx, caller, r.PartnerID)
	if err != nil {
		return Registration{}, err
	}
	requestID := "dealreg-" + r.ID.String()
	customer := r.CustomerID
	if customer == uuid.Nil {
		if customer, err = s.customers.Create(ctx, requestID, r.Prospect); err != nil {
			return Registration{}, err
		}
	}
	opportunity := link
	if opportunity == uuid.Nil {
		opportunity, err = s.opportunities.Create(ctx, requestID, OpportunityDraft{
			CustomerID: customer, PartnerID: r.PartnerID, DisplayName: r.DisplayName, Amount: r.Amount, ExpectedCloseDate: r.ExpectedCloseDate,
		})
	} else {
		err = s.opportunities.SetSourcePartner(ctx, opportunity, r.PartnerID)
	}
	if err != nil {
		return Registration{}, err
	}
	// The partner and every partner above it see the customer.
	for _, partner := range p.Lineage {
		if err := s.customers.LinkPartner(ctx, customer, partner); err != nil {
			return Registration{}, err
		}
	}
	now := s.now()
	saved, err := s.store.Mutate(ctx, caller, r.ID, func(cur *Registration) (string, error) {
		if cur.Revision != r.Revision {
			return "", ErrEtagMismatch
		}
		cur.State = StateApproved
		cur.CustomerID, cur.OpportunityID = customer, opportunity
		cur.DecidedBy, cur.DecideTime = caller.PrincipalID, now
		cur.ExpireTime = now.AddDate(0, 0, rules.ProtectionDays)
		return decide(cur), nil
	})
	return redact(caller, saved), err
}

// Reject rejects a pending registration with a note for the partner.
func (s *Service) Reject(ctx context.Context, caller auth.Caller, id uuid.UUID, etag, note string) (Registration, error) {
	note = strings.TrimSpace(note)
	switch {
	case note == "":
		return Registration{}, validation.Field("note", "is required: the partner is told why")
	case utf8.RuneCountInString(note) > maxNote:
		return Registration{}, validation.Field("note", "must be at most %d characters", maxNote)
	}
	r, err := s.decision(ctx, caller, id, etag)
	if err != nil {
		return Registration{}, err
	}
	return s.reject(ctx, caller, r, note, OutcomeUnspecified, EventRejected)
}

func (s *Service) reject(ctx context.Context, caller auth.Caller, r Registration, note string, outcome Outcome, event string) (Registration, error) {
	now := s.now()
	saved, err := s.store.Mutate(ctx, caller, r.ID, func(cur *Registration) (string, error) {
		if cur.Revision != r.Revision {
			return "", ErrEtagMismatch
		}
		cur.State, cur.Outcome = StateRejected, outcome
		cur.DecisionNote, cur.DecidedBy, cur.DecideTime = note, caller.PrincipalID, now
		return event, nil
	})
	return redact(caller, saved), err
}

// Arbitrate decides a pending registration, usually a conflicting one, with
// an audited rationale. Awarding approves it as Approve would, except that
// the conflicts are settled: an open opportunity it collided with is marked
// as the partner's instead of a new one being created.
func (s *Service) Arbitrate(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string, outcome Outcome, rationale string) (Registration, error) {
	rationale = strings.TrimSpace(rationale)
	v := &validation.Error{}
	switch {
	case rationale == "":
		v.Add("rationale", "is required")
	case utf8.RuneCountInString(rationale) > maxNote:
		v.Add("rationale", "must be at most %d characters", maxNote)
	}
	if outcome != OutcomeAwarded && outcome != OutcomeRejected {
		v.Add("outcome", "must be ARBITRATION_OUTCOME_AWARDED or ARBITRATION_OUTCOME_REJECTED")
	}
	if err := v.Err(); err != nil {
		return Registration{}, err
	}
	r, err := s.decision(ctx, caller, id, etag)
	if err != nil {
		return Registration{}, err
	}
	if outcome == OutcomeRejected {
		return s.reject(ctx, caller, r, rationale, OutcomeRejected, EventArbitrated)
	}
	if !s.now().Before(r.ExpireTime) {
		return Registration{}, fmt.Errorf("%w at %s", ErrExpired, r.ExpireTime.UTC().Format(time.RFC3339))
	}
	rules, err := s.store.Rules(ctx, caller)
	if err != nil {
		return Registration{}, err
	}
	link := uuid.Nil
	for _, c := range r.Conflicts {
		if c.Kind == ConflictOpenOpportunity && c.OpportunityID != uuid.Nil {
			link = c.OpportunityID
			if r.CustomerID == uuid.Nil {
				r.CustomerID = c.CustomerID
			}
			break
		}
	}
	if r.CustomerID == uuid.Nil {
		for _, c := range r.Conflicts {
			if c.CustomerID != uuid.Nil {
				r.CustomerID = c.CustomerID
				break
			}
		}
	}
	return s.fulfil(ctx, caller, r, link, rules, func(cur *Registration) string {
		cur.Outcome, cur.DecisionNote = OutcomeAwarded, rationale
		return EventArbitrated
	})
}

// Rules returns the tenant's rules of engagement.
func (s *Service) Rules(ctx context.Context, caller auth.Caller) (Rules, error) {
	if err := allow(caller, readers); err != nil {
		return Rules{}, err
	}
	return s.store.Rules(ctx, caller)
}

// UpdateRules changes the fields in mask to in's values.
func (s *Service) UpdateRules(ctx context.Context, caller auth.Caller, in Rules, mask []string, etag string) (Rules, error) {
	if err := allow(caller, deciders); err != nil {
		return Rules{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "names no field")
	}
	for _, f := range mask {
		if !slices.Contains(rulesPaths, f) {
			v.Add("update_mask", "%q cannot be updated (updatable: %s)", f, strings.Join(rulesPaths, ", "))
		}
	}
	if slices.Contains(mask, "protection_days") && (in.ProtectionDays < 1 || in.ProtectionDays > maxProtection) {
		v.Add("rules.protection_days", "must be between 1 and %d", maxProtection)
	}
	if err := v.Err(); err != nil {
		return Rules{}, err
	}
	return s.store.UpdateRules(ctx, caller, func(r *Rules) error {
		if etag != "" && etag != r.Etag() {
			return ErrRulesEtagMismatch
		}
		for _, f := range mask {
			switch f {
			case "protection_days":
				r.ProtectionDays = in.ProtectionDays
			case "direct_owner_conflicts":
				r.DirectOwnerConflicts = in.DirectOwnerConflicts
			case "open_opportunity_conflicts":
				r.OpenOpportunityConflicts = in.OpenOpportunityConflicts
			}
		}
		return nil
	})
}

// redact hides, from partner users, which customers, opportunities and
// other partners a conflict is with: they learn that and why it conflicts,
// not whose business it collides with.
func redact(caller auth.Caller, r Registration) Registration {
	if !isPartnerUser(caller) || len(r.Conflicts) == 0 {
		return r
	}
	out := make([]Conflict, len(r.Conflicts))
	for i, c := range r.Conflicts {
		out[i] = Conflict{Kind: c.Kind, Description: c.Description}
	}
	r.Conflicts = out
	return r
}

// normalize trims the registration before validation.
func (r *Registration) normalize() {
	r.DisplayName = strings.TrimSpace(r.DisplayName)
	r.Prospect.CompanyName = strings.TrimSpace(r.Prospect.CompanyName)
	r.Prospect.Email = strings.TrimSpace(r.Prospect.Email)
	r.Prospect.Phone = strings.TrimSpace(r.Prospect.Phone)
	r.Amount.CurrencyCode = strings.TrimSpace(r.Amount.CurrencyCode)
	r.ExpectedCloseDate = strings.TrimSpace(r.ExpectedCloseDate)
}

// validate checks the fields a registrar sends.
func (r Registration) validate(v *validation.Error) {
	const prefix = "deal_registration."
	if r.PartnerID == uuid.Nil {
		v.Add(prefix+"partner_id", "is required")
	}
	switch {
	case r.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(r.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
	if r.CustomerID == uuid.Nil && r.Prospect == (Prospect{}) {
		v.Add(prefix+"prospect", "is required when customer_id is empty")
	}
	for _, f := range []struct{ name, value string }{
		{"prospect.company_name", r.Prospect.CompanyName}, {"prospect.email", r.Prospect.Email}, {"prospect.phone", r.Prospect.Phone},
	} {
		if utf8.RuneCountInString(f.value) > maxText {
			v.Add(prefix+f.name, "must be at most %d characters", maxText)
		}
	}
	if r.Prospect.Email != "" && !strings.Contains(r.Prospect.Email, "@") {
		v.Add(prefix+"prospect.email", "is not an e-mail address")
	}
	if r.Prospect.Phone != "" && len(NormalizePhone(r.Prospect.Phone)) < 5 {
		v.Add(prefix+"prospect.phone", "is not a phone number")
	}
	if r.Amount.AmountMinor < 0 {
		v.Add(prefix+"amount.amount_minor", "must not be negative")
	}
	// The opportunity an approval creates needs a currency, so it is
	// required even for a deal of unknown value (amount 0).
	if !currencyRE.MatchString(r.Amount.CurrencyCode) {
		v.Add(prefix+"amount.currency_code", "must be an ISO 4217 code such as USD")
	}
	if r.ExpectedCloseDate != "" {
		if _, err := time.Parse(time.DateOnly, r.ExpectedCloseDate); err != nil {
			v.Add(prefix+"expected_close_date", "must be a date, YYYY-MM-DD")
		}
	}
}

// Package mdf runs market development funds: a budget set aside for a
// partner, requests against it, approval committing money, a claim with
// evidence, and payment. Committed plus spent never exceeds the budget.
package mdf

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// State is where a request stands; the numbers match the API's enum.
type State int32

// Request states.
const (
	StateUnspecified State = iota
	StateSubmitted
	StateApproved
	StateRejected
	StateClaimed
	StatePaid
	StateClaimRejected
)

// Events of budgets and requests.
const (
	EventBudgetCreated = "mdf_budget.created"
	EventRequested     = "mdf_request.created"
	EventApproved      = "mdf_request.approved"
	EventRejected      = "mdf_request.rejected"
	EventClaimed       = "mdf_request.claimed"
	EventPaid          = "mdf_request.paid"
	EventClaimRejected = "mdf_request.claim_rejected"
)

// Limits.
const (
	maxText             = 200
	maxNote             = 1000
	maxRequestID        = 64
	defaultPageSize     = 50
	maxPageSize         = 1000
	maxBudgetPeriodDays = 366
)

// Errors of the fund use cases.
var (
	ErrBudgetNotFound  = errors.New("MDF budget not found")
	ErrRequestNotFound = errors.New("MDF request not found")
	ErrPartnerNotFound = errors.New("partner not found")
	ErrBudgetExceeded  = errors.New("the MDF budget has not that much left")
	ErrBadState        = errors.New("the MDF request is not in a state that allows this")
	ErrEtagMismatch    = errors.New("MDF request changed since it was read (etag mismatch)")
)

// Who may do what: managers budget and decide; partner users request and
// claim for their own partner, as the partner_access policy enforces.
var (
	managers   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	requesters = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RolePartnerUser}
	readers    = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleAnalyst, auth.RolePartnerUser}
)

// Budget is money set aside for a partner in a period.
type Budget struct {
	ID             uuid.UUID
	PartnerID      uuid.UUID
	DisplayName    string
	PeriodStart    time.Time
	PeriodEnd      time.Time
	CurrencyCode   string
	AmountMinor    int64
	CommittedMinor int64
	SpentMinor     int64
	CreateTime     time.Time
	Revision       int64
}

// Etag is the opaque concurrency token of the budget.
func (b Budget) Etag() string { return strconv.FormatInt(b.Revision, 10) }

// Resource is the budget's resource name.
func (b Budget) Resource() string { return "mdfBudgets/" + b.ID.String() }

// left is what the budget can still commit.
func (b Budget) left() int64 { return b.AmountMinor - b.CommittedMinor - b.SpentMinor }

// Request asks for funds of a budget.
type Request struct {
	ID             uuid.UUID
	BudgetID       uuid.UUID
	PartnerID      uuid.UUID
	Activity       string
	RequestedMinor int64
	State          State
	ApprovedMinor  int64
	ClaimedMinor   int64
	ClaimEvidence  string
	DecisionNote   string
	RequestedBy    string
	DecidedBy      string
	CreateTime     time.Time
	UpdateTime     time.Time
	Revision       int64
}

// Etag is the opaque concurrency token of the request.
func (r Request) Etag() string { return strconv.FormatInt(r.Revision, 10) }

// Resource is the request's resource name.
func (r Request) Resource() string { return "mdfRequests/" + r.ID.String() }

// ListQuery selects a page, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// BudgetPage is one page of budgets.
type BudgetPage struct {
	Budgets       []Budget
	NextPageToken string
}

// RequestPage is one page of requests.
type RequestPage struct {
	Requests      []Request
	NextPageToken string
}

// Change changes a locked request and its locked budget; it returns the
// event to record.
type Change func(r *Request, b *Budget) (event string, err error)

// Store keeps budgets and requests, scoped to the caller's tenant and what
// it may see.
type Store interface {
	// CreateBudget inserts b with its event (ErrPartnerNotFound for a
	// partner the caller may not see), or returns the budget an earlier
	// create with the same non-empty requestID made.
	CreateBudget(ctx context.Context, caller auth.Caller, b Budget, requestID string) (Budget, error)
	Budget(ctx context.Context, caller auth.Caller, id uuid.UUID) (Budget, error)
	ListBudgets(ctx context.Context, caller auth.Caller, q ListQuery) (BudgetPage, error)
	// CreateRequest inserts r against its budget, taking the budget's
	// partner (ErrBudgetNotFound when the caller may not see it).
	CreateRequest(ctx context.Context, caller auth.Caller, r Request, requestID string) (Request, error)
	Request(ctx context.Context, caller auth.Caller, id uuid.UUID) (Request, error)
	ListRequests(ctx context.Context, caller auth.Caller, q ListQuery) (RequestPage, error)
	// Change locks the request and its budget, applies c, and saves both
	// with the event in one transaction.
	Change(ctx context.Context, caller auth.Caller, id uuid.UUID, c Change) (Request, error)
}

// Service holds the fund use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// CreateBudget validates and stores a budget.
func (s *Service) CreateBudget(ctx context.Context, caller auth.Caller, b Budget, requestID string) (Budget, error) {
	if err := allow(caller, managers); err != nil {
		return Budget{}, err
	}
	b.DisplayName = strings.TrimSpace(b.DisplayName)
	b.CurrencyCode = strings.ToUpper(strings.TrimSpace(b.CurrencyCode))
	v := &validation.Error{}
	const p = "mdf_budget."
	if b.PartnerID == uuid.Nil {
		v.Add(p+"partner_id", "is required")
	}
	switch {
	case b.DisplayName == "":
		v.Add(p+"display_name", "is required")
	case utf8.RuneCountInString(b.DisplayName) > maxText:
		v.Add(p+"display_name", "must be at most %d characters", maxText)
	}
	if b.PeriodStart.IsZero() {
		v.Add(p+"period_start", "is required")
	}
	switch {
	case b.PeriodEnd.IsZero():
		v.Add(p+"period_end", "is required")
	case !b.PeriodStart.IsZero() && !b.PeriodEnd.After(b.PeriodStart):
		v.Add(p+"period_end", "must be after period_start")
	case !b.PeriodStart.IsZero() && b.PeriodEnd.After(b.PeriodStart.AddDate(0, 0, maxBudgetPeriodDays)):
		v.Add(p+"period_end", "must be at most %d days after period_start", maxBudgetPeriodDays)
	}
	if len(b.CurrencyCode) != 3 {
		v.Add(p+"currency_code", "must be a 3-letter ISO 4217 code")
	}
	if b.AmountMinor <= 0 {
		v.Add(p+"amount_minor", "must be positive")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Budget{}, err
	}
	b.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateBudget(ctx, caller, b, requestID)
}

// Budget returns a budget.
func (s *Service) Budget(ctx context.Context, caller auth.Caller, id uuid.UUID) (Budget, error) {
	if err := allow(caller, readers); err != nil {
		return Budget{}, err
	}
	return s.store.Budget(ctx, caller, id)
}

// ListBudgets returns a page of budgets.
func (s *Service) ListBudgets(ctx context.Context, caller auth.Caller, q ListQuery) (BudgetPage, error) {
	if err := allow(caller, readers); err != nil {
		return BudgetPage{}, err
	}
	if err := pageSize(&q); err != nil {
		return BudgetPage{}, err
	}
	return s.store.ListBudgets(ctx, caller, q)
}

// CreateRequest validates and stores a request.
func (s *Service) CreateRequest(ctx context.Context, caller auth.Caller, r Request, requestID string) (Request, error) {
	if err := allow(caller, requesters); err != nil {
		return Request{}, err
	}
	r.Activity = strings.TrimSpace(r.Activity)
	v := &validation.Error{}
	if r.BudgetID == uuid.Nil {
		v.Add("mdf_request.mdf_budget_id", "is required")
	}
	switch {
	case r.Activity == "":
		v.Add("mdf_request.activity", "is required")
	case utf8.RuneCountInString(r.Activity) > maxText:
		v.Add("mdf_request.activity", "must be at most %d characters", maxText)
	}
	if r.RequestedMinor <= 0 {
		v.Add("mdf_request.requested_minor", "must be positive")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Request{}, err
	}
	r.ID, r.State, r.RequestedBy = uuid.Must(uuid.NewV7()), StateSubmitted, caller.PrincipalID
	return s.store.CreateRequest(ctx, caller, r, requestID)
}

// Request returns a request.
func (s *Service) Request(ctx context.Context, caller auth.Caller, id uuid.UUID) (Request, error) {
	if err := allow(caller, readers); err != nil {
		return Request{}, err
	}
	return s.store.Request(ctx, caller, id)
}

// ListRequests returns a page of requests.
func (s *Service) ListRequests(ctx context.Context, caller auth.Caller, q ListQuery) (RequestPage, error) {
	if err := allow(caller, readers); err != nil {
		return RequestPage{}, err
	}
	if err := pageSize(&q); err != nil {
		return RequestPage{}, err
	}
	return s.store.ListRequests(ctx, caller, q)
}

// Approve approves a submitted request for amount (0: the amount
// requested), committing it from the budget.
func (s *Service) Approve(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string, amount int64, note string) (Request, error) {
	if err := allow(caller, managers); err != nil {
		return Request{}, err
	}
	note = strings.TrimSpace(note)
	v := &validation.Error{}
	if amount < 0 {
		v.Add("approved_minor", "must not be negative (0 approves the amount requested)")
	}
	noteLimit(v, "note", note)
	if err := v.Err(); err != nil {
		return Request{}, err
	}
	return s.store.Change(ctx, caller, id, func(r *Request, b *Budget) (string, error) {
		if err := check(r, etag, StateSubmitted); err != nil {
			return "", err
		}
		if amount == 0 {
			amount = r.RequestedMinor
		}
		if amount > r.RequestedMinor {
			return "", validation.Field("approved_minor", "must be at most the %d requested", r.RequestedMinor)
		}
		if amount > b.left() {
			return "", fmt.Errorf("%w: %d asked, %d %s left", ErrBudgetExceeded, amount, b.left(), b.CurrencyCode)
		}
		b.CommittedMinor += amount
		r.State, r.ApprovedMinor, r.DecisionNote, r.DecidedBy = StateApproved, amount, note, caller.PrincipalID
		return EventApproved, nil
	})
}

// Reject rejects a submitted request.
func (s *Service) Reject(ctx context.Context, caller auth.Caller, id uuid.UUID, etag, note string) (Request, error) {
	if err := allow(caller, managers); err != nil {
		return Request{}, err
	}
	note = strings.TrimSpace(note)
	v := &validation.Error{}
	noteLimit(v, "note", note)
	if err := v.Err(); err != nil {
		return Request{}, err
	}
	return s.store.Change(ctx, caller, id, func(r *Request, _ *Budget) (string, error) {
		if err := check(r, etag, StateSubmitted); err != nil {
			return "", err
		}
		r.State, r.DecisionNote, r.DecidedBy = StateRejected, note, caller.PrincipalID
		return EventRejected, nil
	})
}

// Claim claims the spend of an approved request.
func (s *Service) Claim(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string, amount int64, evidence string) (Request, error) {
	if err := allow(caller, requesters); err != nil {
		return Request{}, err
	}
	evidence = strings.TrimSpace(evidence)
	v := &validation.Error{}
	if amount <= 0 {
		v.Add("claimed_minor", "must be positive")
	}
	switch {
	case evidence == "":
		v.Add("evidence", "is required")
	case utf8.RuneCountInString(evidence) > maxNote:
		v.Add("evidence", "must be at most %d characters", maxNote)
	}
	if err := v.Err(); err != nil {
		return Request{}, err
	}
	return s.store.Change(ctx, caller, id, func(r *Request, _ *Budget) (string, error) {
		if err := check(r, etag, StateApproved); err != nil {
			return "", err
		}
		if amount > r.ApprovedMinor {
			return "", validation.Field("claimed_minor", "must be at most the %d approved", r.ApprovedMinor)
		}
		r.State, r.ClaimedMinor, r.ClaimEvidence = StateClaimed, amount, evidence
		return EventClaimed, nil
	})
}

// DecideClaim pays or rejects a claim. Paying moves the claimed amount from
// committed to spent; either way the rest of the approval is released.
func (s *Service) DecideClaim(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string, approve bool, note string) (Request, error) {
	if err := allow(caller, managers); err != nil {
		return Request{}, err
	}
	note = strings.TrimSpace(note)
	v := &validation.Error{}
	noteLimit(v, "note", note)
	if err := v.Err(); err != nil {
		return Request{}, err
	}
	return s.store.Change(ctx, caller, id, func(r *Request, b *Budget) (string, error) {
		if err := check(r, etag, StateClaimed); err != nil {
			return "", err
		}
		b.CommittedMinor -= r.ApprovedMinor
		r.DecisionNote, r.DecidedBy = note, caller.PrincipalID
		if !approve {
			r.State = StateClaimRejected
			return EventClaimRejected, nil
		}
		b.SpentMinor += r.ClaimedMinor
		r.State = StatePaid
		return EventPaid, nil
	})
}

func check(r *Request, etag string, want State) error {
	if etag != "" && etag != r.Etag() {
		return ErrEtagMismatch
	}
	if r.State != want {
		return fmt.Errorf("%w (it is %s)", ErrBadState, r.State)
	}
	return nil
}

func noteLimit(v *validation.Error, field, note string) {
	if utf8.RuneCountInString(note) > maxNote {
		v.Add(field, "must be at most %d characters", maxNote)
	}
}

func pageSize(q *ListQuery) error {
	switch {
	case q.PageSize < 0:
		return validation.Field("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	return nil
}

// String names the state as the API does, for error messages.
func (s State) String() string {
	names := [...]string{"UNSPECIFIED", "SUBMITTED", "APPROVED", "REJECTED", "CLAIMED", "PAID", "CLAIM_REJECTED"}
	if s < 0 || int(s) >= len(names) {
		return "State(" + strconv.Itoa(int(s)) + ")"
	}
	return names[s]
}

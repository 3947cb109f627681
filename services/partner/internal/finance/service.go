package finance

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Who may do what. Partner users read statements, narrowed to their own
// partner's by the partner_access policy, and the rules they are paid by.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleAnalyst, auth.RolePartnerUser}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// Limits.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
	maxText         = 100
	maxName         = 200
	maxRequestID    = 64
	// maxPeriodDays bounds a statement's period (a leap year).
	maxPeriodDays = 366
)

// Service holds the finance use cases.
type Service struct {
	store  Store
	orders Orders
	now    func() time.Time
}

// New returns a Service over store and the attributed orders.
func New(store Store, orders Orders, now func() time.Time) *Service {
	return &Service{store: store, orders: orders, now: now}
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// ParseDate reads an API calendar date; empty is the zero time.
func ParseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(dateLayout, s)
}

// FormatDate writes an API calendar date; the zero time is empty.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(dateLayout)
}

// CreateRule validates and stores a rule.
func (s *Service) CreateRule(ctx context.Context, caller auth.Caller, r Rule, requestID string) (Rule, error) {
	if err := allow(caller, writers); err != nil {
		return Rule{}, err
	}
	r.Tier = strings.TrimSpace(r.Tier)
	r.ProductID = strings.TrimSpace(r.ProductID)
	r.DisplayName = strings.TrimSpace(r.DisplayName)
	v := &validation.Error{}
	if r.Kind != KindCommission && r.Kind != KindRebate {
		v.Add("commission_rule.kind", "must be COMMISSION or REBATE")
	}
	if utf8.RuneCountInString(r.Tier) > maxText {
		v.Add("commission_rule.tier", "must be at most %d characters", maxText)
	}
	if r.ProductID != "" {
		if _, err := uuid.Parse(r.ProductID); err != nil {
			v.Add("commission_rule.product_id", "must be a UUID or empty for every product")
		}
	}
	if r.ValidFrom.IsZero() {
		v.Add("commission_rule.valid_from", "is required")
	}
	if !r.ValidUntil.IsZero() && !r.ValidUntil.After(r.ValidFrom) {
		v.Add("commission_rule.valid_until", "must be after valid_from")
	}
	if r.RateBPS < 1 || r.RateBPS > 10000 {
		v.Add("commission_rule.rate_bps", "must be between 1 and 10000 basis points")
	}
	if utf8.RuneCountInString(r.DisplayName) > maxName {
		v.Add("commission_rule.display_name", "must be at most %d characters", maxName)
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Rule{}, err
	}
	r.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateRule(ctx, caller, r, requestID)
}

// ListRules returns a page of rules, newest first.
func (s *Service) ListRules(ctx context.Context, caller auth.Caller, q RuleQuery) (RulePage, error) {
	if err := allow(caller, readers); err != nil {
		return RulePage{}, err
	}
	var err error
	if q.PageSize, err = pageSizeOf(q.PageSize); err != nil {
		return RulePage{}, err
	}
	return s.store.ListRules(ctx, caller, q)
}

// Compute computes a partner's statement for [from, to) from the orders
// attributed to it, and stores it in place of an earlier computation. The
// orders are read before anything is written, so a peer failure leaves the
// previous statement as it was.
func (s *Service) Compute(ctx context.Context, caller auth.Caller, partnerID uuid.UUID, from, to time.Time) (Statement, error) {
	if err := allow(caller, writers); err != nil {
		return Statement{}, err
	}
	v := &validation.Error{}
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
	if err := v.Err(); err != nil {
		return Statement{}, err
	}
	p, err := s.store.Partner(ctx, caller, partnerID)
	if err != nil {
		return Statement{}, err
	}
	rules, err := s.store.RulesFor(ctx, caller, p.Tier, from, to)
	if err != nil {
		return Statement{}, err
	}
	if len(rules) == 0 {
		return Statement{}, fmt.Errorf("%w: tier %q, %s to %s", ErrNoRules, p.Tier, FormatDate(from), FormatDate(to))
	}
	e := newExplainer(p.Tier, rules)
	if err := s.orders.Attributed(ctx, partnerID, from, to, func(o Order) error {
		e.add(o)
		return nil
	}); err != nil {
		return Statement{}, err
	}
	st := Statement{
		ID: uuid.Must(uuid.NewV7()), PartnerID: partnerID, PeriodStart: from, PeriodEnd: to, Tier: p.Tier,
		Totals: e.sums(), LineCount: len(e.lines), ComputeTime: s.now(), ComputedBy: caller.PrincipalID,
	}
	return s.store.SaveStatement(ctx, caller, st, e.lines)
}

// Statement returns a statement.
func (s *Service) Statement(ctx context.Context, caller auth.Caller, id uuid.UUID) (Statement, error) {
	if err := allow(caller, readers); err != nil {
		return Statement{}, err
	}
	return s.store.Statement(ctx, caller, id)
}

// ListStatements returns a page of statements, newest first.
func (s *Service) ListStatements(ctx context.Context, caller auth.Caller, q StatementQuery) (StatementPage, error) {
	if err := allow(caller, readers); err != nil {
		return StatementPage{}, err
	}
	var err error
	if q.PageSize, err = pageSizeOf(q.PageSize); err != nil {
		return StatementPage{}, err
	}
	return s.store.ListStatements(ctx, caller, q)
}

// Lines returns a page of a statement's lines; the page token is the last
// line number of the previous page. The statement is read first, so one
// the caller may not see is not found rather than empty.
func (s *Service) Lines(ctx context.Context, caller auth.Caller, id uuid.UUID, pageToken string, pageSize int) (LinePage, error) {
	if err := allow(caller, readers); err != nil {
		return LinePage{}, err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return LinePage{}, err
	}
	after, err := lineCursor(pageToken)
	if err != nil {
		return LinePage{}, err
	}
	if _, err := s.store.Statement(ctx, caller, id); err != nil {
		return LinePage{}, err
	}
	lines, err := s.store.Lines(ctx, caller, id, after, size+1)
	if err != nil {
		return LinePage{}, err
	}
	page := LinePage{Lines: lines}
	if len(lines) > size {
		page.Lines = lines[:size]
		page.NextPageToken = fmt.Sprintf("line-%d", page.Lines[size-1].Number)
	}
	return page, nil
}

// lineCursor reads a line page token.
func lineCursor(token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(token, "line-%d", &n); err != nil || n < 1 || fmt.Sprintf("line-%d", n) != token {
		return 0, validation.Field("page_token", "is not a token from this query; start again without it")
	}
	return n, nil
}

// pageSizeOf applies the list defaults and limits.
func pageSizeOf(n int) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return n, nil
}

// Package sellthrough ingests partners' point-of-sale (sell-through)
// reports: what they sold on to end customers, per product and period,
// with the end customers' satisfaction scores when they survey them.
package sellthrough

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// EventCreated is the event a report emits.
const EventCreated = "sell_through_report.created"

// Errors of the sell-through use cases.
var (
	// ErrNotFound means no report has the id, or the caller may not see it.
	ErrNotFound = errors.New("sell-through report not found")
	// ErrPartnerNotFound means the partner does not exist or the caller may not see it.
	ErrPartnerNotFound = errors.New("partner not found")
	// ErrExists means the partner already reported the period in the currency.
	ErrExists = errors.New("the partner already reported this period in this currency")
)

// Who may do what: partner users submit and read their own partner's
// reports, which the partner_access policy enforces.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RolePartnerUser}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RolePartnerUser}
)

// Limits.
const (
	maxLines        = 5000
	maxText         = 100
	maxRequestID    = 64
	maxPeriodDays   = 366
	defaultPageSize = 50
	maxPageSize     = 1000
)

// Line is one product line of a report.
type Line struct {
	ProductSKU        string `json:"product_sku"`
	ProductID         string `json:"product_id,omitempty"`
	Quantity          int64  `json:"quantity"`
	RevenueMinor      int64  `json:"revenue_minor"`
	EndCustomerID     string `json:"end_customer_id,omitempty"`
	SatisfactionScore int32  `json:"satisfaction_score,omitempty"`
}

// Report is one sell-through report.
type Report struct {
	ID                uuid.UUID
	PartnerID         uuid.UUID
	PeriodStart       time.Time
	PeriodEnd         time.Time
	CurrencyCode      string
	Lines             []Line
	TotalUnits        int64
	TotalRevenueMinor int64
	LineCount         int
	// SatisfactionSum and SatisfactionCount sum the scored lines, for scorecards.
	SatisfactionSum   int64
	SatisfactionCount int64
	SubmittedBy       string
	ExternalID        string
	CreateTime        time.Time
}

// Resource is the report's resource name.
func (r Report) Resource() string { return "sellThroughReports/" + r.ID.String() }

// ListQuery selects a page of reports, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of reports, without their lines.
type Page struct {
	Reports       []Report
	NextPageToken string
}

// Store keeps reports, scoped to the caller's tenant and what it may see.
type Store interface {
	// Create inserts r with its event, or returns the report an earlier
	// create with the same non-empty requestID made. A partner the caller
	// may not see is ErrPartnerNotFound; a reported period ErrExists.
	Create(ctx context.Context, caller auth.Caller, r Report, requestID string) (Report, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Report, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
}

// Service holds the sell-through use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Create validates a report, sums it, and stores it.
func (s *Service) Create(ctx context.Context, caller auth.Caller, r Report, requestID string) (Report, error) {
	if err := allow(caller, writers); err != nil {
		return Report{}, err
	}
	r.CurrencyCode = strings.ToUpper(strings.TrimSpace(r.CurrencyCode))
	r.ExternalID = strings.TrimSpace(r.ExternalID)
	v := &validation.Error{}
	const p = "sell_through_report."
	if r.PartnerID == uuid.Nil {
		v.Add(p+"partner_id", "is required")
	}
	if r.PeriodStart.IsZero() {
		v.Add(p+"period_start", "is required")
	}
	switch {
	case r.PeriodEnd.IsZero():
		v.Add(p+"period_end", "is required")
	case !r.PeriodStart.IsZero() && !r.PeriodEnd.After(r.PeriodStart):
		v.Add(p+"period_end", "must be after period_start")
	case !r.PeriodStart.IsZero() && r.PeriodEnd.After(r.PeriodStart.AddDate(0, 0, maxPeriodDays)):
		v.Add(p+"period_end", "must be at most %d days after period_start", maxPeriodDays)
	}
	if len(r.CurrencyCode) != 3 {
		v.Add(p+"currency_code", "must be a 3-letter ISO 4217 code")
	}
	if utf8.RuneCountInString(r.ExternalID) > maxText {
		v.Add(p+"external_id", "must be at most %d characters", maxText)
	}
	switch {
	case len(r.Lines) == 0:
		v.Add(p+"lines", "must have at least one line")
	case len(r.Lines) > maxLines:
		v.Add(p+"lines", "must have at most %d lines; split the report by period", maxLines)
	}
	r.TotalUnits, r.TotalRevenueMinor, r.SatisfactionSum, r.SatisfactionCount = 0, 0, 0, 0
	for i := range r.Lines {
		l := &r.Lines[i]
		field := fmt.Sprintf("%slines[%d].", p, i)
		l.ProductSKU = strings.TrimSpace(l.ProductSKU)
		switch {
		case l.ProductSKU == "":
			v.Add(field+"product_sku", "is required")
		case utf8.RuneCountInString(l.ProductSKU) > maxText:
			v.Add(field+"product_sku", "must be at most %d characters", maxText)
		}
		for _, id := range []struct{ name, value string }{{"product_id", l.ProductID}, {"end_customer_id", l.EndCustomerID}} {
			if _, err := uuid.Parse(id.value); id.value != "" && err != nil {
				v.Add(field+id.name, "must be a UUID or empty")
			}
		}
		if l.Quantity == 0 {
			v.Add(field+"quantity", "must not be 0")
		}
		if (l.Quantity < 0) != (l.RevenueMinor < 0) && l.RevenueMinor != 0 {
			v.Add(field+"revenue_minor", "must have the sign of quantity (negative for returns)")
		}
		if l.SatisfactionScore < 0 || l.SatisfactionScore > 5 {
			v.Add(field+"satisfaction_score", "must be 1 to 5, or 0 for none")
		}
		r.TotalUnits += l.Quantity
		r.TotalRevenueMinor += l.RevenueMinor
		if l.SatisfactionScore > 0 {
			r.SatisfactionSum += int64(l.SatisfactionScore)
			r.SatisfactionCount++
		}
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Report{}, err
	}
	r.ID, r.LineCount, r.SubmittedBy = uuid.Must(uuid.NewV7()), len(r.Lines), caller.PrincipalID
	return s.store.Create(ctx, caller, r, requestID)
}

// Get returns a report with its lines.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Report, error) {
	if err := allow(caller, readers); err != nil {
		return Report{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// List returns a page of reports without their lines, newest first.
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
	return s.store.List(ctx, caller, q)
}

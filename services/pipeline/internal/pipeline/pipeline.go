// Package pipeline is the sales pipeline's domain: pipelines and their
// stages, products and price lists, opportunities and their rules, and the
// ports (store, customer lookup) they need.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
)

// Stage is the fixed stage set of the API's first version, kept readable on
// every opportunity through its pipeline stage's mapping; the numbers match
// the API's enum.
type Stage int32

// The fixed stages.
const (
	StageUnspecified Stage = iota
	StageProspecting
	StageQualification
	StageProposal
	StageNegotiation
	StageWon
	StageLost
)

// Money is an amount in integer minor units of an ISO 4217 currency, so sums
// never suffer floating-point rounding.
type Money struct {
	CurrencyCode string
	AmountMinor  int64
}

// Opportunity is a potential sale to a customer.
type Opportunity struct {
	ID          uuid.UUID
	CustomerID  uuid.UUID
	DisplayName string
	// Amount is the sum of the line items' totals when there are lines.
	Amount Money
	// Stage mirrors the current pipeline stage's legacy mapping.
	Stage Stage
	// ExpectedCloseDate is a calendar date, "YYYY-MM-DD", or empty.
	ExpectedCloseDate string
	OwnerID           *uuid.UUID
	// OwnerTeamIDs are the owner's teams, which record-level access reads.
	OwnerTeamIDs    []uuid.UUID
	SourcePartnerID *uuid.UUID
	ExternalID      string
	PipelineID      uuid.UUID
	StageID         uuid.UUID
	StageKind       StageKind
	// EngageDate is the calendar date the engagement began, "YYYY-MM-DD".
	EngageDate  string
	CloseReason string
	// CloseTime is set while the opportunity is in a won or lost stage.
	CloseTime      *time.Time
	StageEnterTime time.Time
	PriceListID    *uuid.UUID
	LineItems      []LineItem
	CreateTime     time.Time
	UpdateTime     time.Time
	DeleteTime     *time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
	// ForecastCategory is set by hand, or ForecastCategoryUnspecified to
	// derive it from the stage.
	ForecastCategory ForecastCategory
	// CampaignID is the campaign credited with the opportunity.
	CampaignID *uuid.UUID
	// ReportingCurrency and Rate are what the store found for the expected
	// close date: the tenant's reporting currency, and units of it per unit
	// of the amount's currency (nil when no rate is known).
	ReportingCurrency string
	Rate              *big.Rat
}

// ReportingAmount is the amount in the reporting currency, rounded as
// orders' reporting totals are; ok is false when there is no reporting
// currency, no rate, or the result does not fit.
func (o Opportunity) ReportingAmount() (Money, bool) {
	switch {
	case o.ReportingCurrency == "":
		return Money{}, false
	case o.ReportingCurrency == o.Amount.CurrencyCode:
		return o.Amount, true
	case o.Rate == nil:
		return Money{}, false
	}
	minor, ok := order.Convert(o.Amount.AmountMinor, o.Amount.CurrencyCode, o.ReportingCurrency, o.Rate)
	return Money{CurrencyCode: o.ReportingCurrency, AmountMinor: minor}, ok
}

// LineItem is a quantity of a product on an opportunity.
type LineItem struct {
	ID        uuid.UUID
	ProductID uuid.UUID
	Quantity  int64
	// UnitPriceMinor is in the opportunity's currency: the price list's
	// price unless PriceOverridden.
	UnitPriceMinor  int64
	PriceOverridden bool
	// DiscountBps is a discount in basis points, 0 to 10000.
	DiscountBps int32
	TotalMinor  int64
}

// TimeInStage is how long an open opportunity has been in its stage at now;
// zero once closed.
func (o Opportunity) TimeInStage(now time.Time) time.Duration {
	if o.StageKind.Closed() || now.Before(o.StageEnterTime) {
		return 0
	}
	return now.Sub(o.StageEnterTime)
}

// CycleDays is the number of calendar days from the engage date to the
// (UTC) day it closed; ok is false while open.
func (o Opportunity) CycleDays() (days int32, ok bool) {
	if o.CloseTime == nil {
		return 0, false
	}
	engage, err := time.Parse(time.DateOnly, o.EngageDate)
	if err != nil {
		return 0, false
	}
	c := o.CloseTime.UTC()
	closeDay := time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, time.UTC)
	return int32(closeDay.Sub(engage) / (24 * time.Hour)), true
}

// Etag is the opaque concurrency token of the opportunity's current revision.
func (o Opportunity) Etag() string { return strconv.FormatInt(o.Revision, 10) }

// Resource is the opportunity's resource name.
func (o Opportunity) Resource() string { return "opportunities/" + o.ID.String() }

// Errors the use cases return.
var (
	ErrNotFound = errors.New("opportunity not found")
	// ErrEtagMismatch means the resource changed since the caller read it.
	ErrEtagMismatch = errors.New("the resource changed since it was read (etag mismatch)")
	// ErrDeleted means the resource is soft-deleted and must be undeleted first.
	ErrDeleted = errors.New("the resource is deleted")
	// ErrNotDeleted means an undelete found the resource live.
	ErrNotDeleted = errors.New("the resource is not deleted")
	// ErrCustomerLookup means the customer service could not say whether a
	// customer exists; the caller may retry.
	ErrCustomerLookup = errors.New("the customer could not be checked; retry later")
)

// Limits on field sizes.
const (
	maxName      = 300
	maxText      = 200
	maxRequestID = 64
	maxLineItems = 200
)

// normalize trims and canonicalises the record and fills defaults before validation.
func (o *Opportunity) normalize() {
	o.DisplayName = strings.TrimSpace(o.DisplayName)
	o.ExternalID = strings.TrimSpace(o.ExternalID)
	o.ExpectedCloseDate = strings.TrimSpace(o.ExpectedCloseDate)
	o.EngageDate = strings.TrimSpace(o.EngageDate)
	o.Amount.CurrencyCode = strings.ToUpper(strings.TrimSpace(o.Amount.CurrencyCode))
}

// validate checks every field, reporting paths under prefix ("opportunity.").
func (o Opportunity) validate(prefix string, v *validation.Error) {
	if o.CustomerID == uuid.Nil {
		v.Add(prefix+"customer_id", "is required")
	}
	switch {
	case o.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(o.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
	validateCurrency(o.Amount.CurrencyCode, prefix+"amount.currency_code", v)
	if o.Amount.AmountMinor < 0 {
		v.Add(prefix+"amount.amount_minor", "must not be negative")
	}
	if o.Stage < StageUnspecified || o.Stage > StageLost {
		v.Add(prefix+"stage", "is not a known stage")
	}
	closeOK := validDate(o.ExpectedCloseDate, prefix+"expected_close_date", v)
	engageOK := validDate(o.EngageDate, prefix+"engage_date", v)
	// ISO dates order as strings.
	if closeOK && engageOK && o.ExpectedCloseDate != "" && o.EngageDate != "" && o.ExpectedCloseDate < o.EngageDate {
		v.Add(prefix+"expected_close_date", "must not be before engage_date (%s)", o.EngageDate)
	}
	if o.ForecastCategory < ForecastCategoryUnspecified || o.ForecastCategory > ForecastCategoryOmitted {
		v.Add(prefix+"forecast_category", "is not a known forecast category")
	}
	if utf8.RuneCountInString(o.ExternalID) > maxText {
		v.Add(prefix+"external_id", "must be at most %d characters", maxText)
	}
	if len(o.LineItems) > maxLineItems {
		v.Add(prefix+"line_items", "must be at most %d", maxLineItems)
	}
	for i, l := range o.LineItems {
		p := fmt.Sprintf("%sline_items[%d].", prefix, i)
		if l.ProductID == uuid.Nil {
			v.Add(p+"product_id", "is required")
		}
		if l.Quantity < 1 {
			v.Add(p+"quantity", "must be at least 1")
		}
		if l.DiscountBps < 0 || l.DiscountBps > 10000 {
			v.Add(p+"discount_bps", "must be between 0 and 10000")
		}
		if l.PriceOverridden && l.UnitPriceMinor < 0 {
			v.Add(p+"unit_price_minor", "must not be negative")
		}
	}
}

// validDate checks an optional "YYYY-MM-DD" field, reporting whether it is
// empty or valid.
func validDate(s, field string, v *validation.Error) bool {
	if s == "" {
		return true
	}
	// Year 0 parses but PostgreSQL's date has no year 0.
	if d, err := time.Parse(time.DateOnly, s); err != nil || d.Year() < 1 {
		v.Add(field, "must be a calendar date such as 2026-03-31")
		return false
	}
	return true
}

// validateCurrency requires an active ISO 4217 code.
func validateCurrency(code, field string, v *validation.Error) {
	switch {
	case code == "":
		v.Add(field, "is required")
	case !isCurrency(code):
		v.Add(field, "must be an ISO 4217 currency code such as USD")
	}
}

// ListQuery selects a page of opportunities.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
	// OrderBy is one of OpportunityOrders.
	OrderBy     string
	ShowDeleted bool
}

// OpportunityOrders are the supported order_by values of opportunity lists;
// "" is newest first.
var OpportunityOrders = []string{"", "create_time desc", "create_time", "expected_close_date",
	"expected_close_date desc", "amount_minor", "amount_minor desc"}

// Page is one page of opportunities.
type Page struct {
	Opportunities []Opportunity
	NextPageToken string
}

// Catalog is what a change of an opportunity reads, inside the change's
// transaction: its pipeline, products and prices.
type Catalog interface {
	// Pipeline returns the pipeline id names, deleted or not, or ErrPipelineNotFound.
	Pipeline(ctx context.Context, id uuid.UUID) (Pipeline, error)
	// DefaultPipeline returns the tenant's default pipeline, creating
	// DefaultPipeline(currencyCode) when the tenant has none.
	DefaultPipeline(ctx context.Context, currencyCode string) (Pipeline, error)
	// Product returns a product, or ErrProductNotFound.
	Product(ctx context.Context, id uuid.UUID) (Product, error)
	// PriceList returns a price list without its prices, or ErrPriceListNotFound.
	PriceList(ctx context.Context, id uuid.UUID) (PriceList, error)
	// Price returns the price of product in list on date ("YYYY-MM-DD");
	// ok is false when the list has none from that date or earlier.
	Price(ctx context.Context, list, product uuid.UUID, date string) (unitMinor int64, ok bool, err error)
}

// Effect says what a mutation did, so the store writes what follows from it.
type Effect struct {
	// Event is the event type to record.
	Event string
	// StageMoved closes the current stage history entry and opens one for
	// the new stage, both at StageEnterTime.
	StageMoved bool
	// LinesChanged replaces the stored line items.
	LinesChanged bool
}

// Mutation changes a locked opportunity in place, reading what it needs
// through the catalog of the same transaction.
type Mutation func(ctx context.Context, cat Catalog, o *Opportunity) (Effect, error)

// StageHistoryEntry is one stay of an opportunity in a stage.
type StageHistoryEntry struct {
	ID          uuid.UUID
	PipelineID  uuid.UUID
	StageID     uuid.UUID
	StageName   string
	StageKind   StageKind
	PrincipalID string
	EnterTime   time.Time
	ExitTime    *time.Time
}

// Duration is the length of the stay, or of the stay so far at now.
func (e StageHistoryEntry) Duration(now time.Time) time.Duration {
	if e.ExitTime != nil {
		return e.ExitTime.Sub(e.EnterTime)
	}
	return max(now.Sub(e.EnterTime), 0)
}

// HistoryPage is one page of a stage history, oldest first.
type HistoryPage struct {
	Entries       []StageHistoryEntry
	NextPageToken string
}

// Store keeps opportunities. Every method is scoped to the tenant of the caller.
type Store interface {
	// Create stores the opportunity build returns, with its line items and
	// first stage history entry, or returns the opportunity an earlier
	// create with the same non-empty requestID made.
	Create(ctx context.Context, caller auth.Caller, requestID string, build func(ctx context.Context, cat Catalog) (Opportunity, error)) (Opportunity, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Opportunity, error)
	// ByRequestID returns the opportunity a create with requestID made, or ErrNotFound.
	ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (Opportunity, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Mutate applies m to the opportunity under a row lock and saves it with
	// what m's Effect asks for, all in one transaction.
	Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m Mutation) (Opportunity, error)
	// StageHistory lists the stage history of an opportunity, oldest first.
	StageHistory(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (HistoryPage, error)

	PipelineStore
	CatalogStore
}

// Customers answers whether a customer exists; it is implemented over gRPC
// by pkg/customerclient, given ErrCustomerLookup in main. A lookup that fails
// wraps ErrCustomerLookup.
type Customers interface {
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
}

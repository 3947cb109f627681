// Package order is the transaction-history domain of the sales pipeline:
// orders, returns and adjustments with their lines, dated exchange rates,
// and amounts in the tenant's reporting currency.
package order

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/currency"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Kind says what an order records; the values match rapport.pipeline.v1.OrderKind.
type Kind int16

// The kinds of order.
const (
	KindSale       Kind = 1
	KindReturn     Kind = 2
	KindAdjustment Kind = 3
)

// Status is where an order stands; the values match rapport.pipeline.v1.OrderStatus.
type Status int16

// The statuses of an order.
const (
	StatusPlaced    Status = 1
	StatusCancelled Status = 2
)

// Line is one product on an order.
type Line struct {
	ProductID      uuid.UUID
	Quantity       int64
	UnitPriceMinor int64
	// DiscountMinor is taken off quantity × UnitPriceMinor (a quote's discount).
	DiscountMinor int64
	TotalMinor    int64
	Description   string
}

// Order is one entry of a customer's transaction history.
type Order struct {
	ID     uuid.UUID
	Number string
	Kind   Kind
	Status Status
	// CustomerID is nil for a guest order.
	CustomerID      *uuid.UUID
	CurrencyCode    string
	Lines           []Line
	AdjustmentMinor int64
	// TotalMinor is signed: sales positive, returns negative, adjustments as given.
	TotalMinor      int64
	OrderTime       time.Time
	Country         string
	OriginalOrderID *uuid.UUID
	CancelTime      *time.Time
	CancelReason    string
	ExternalID      string
	// OpportunityID is the opportunity the order fulfils.
	OpportunityID *uuid.UUID
	// SourcePartnerID is the partner the revenue is attributed to; it
	// defaults to the opportunity's source partner.
	SourcePartnerID *uuid.UUID
	// QuoteID is the accepted quote the order was created from.
	QuoteID    *uuid.UUID
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
	// ReportingCurrency and Rate are what the store found for the order's
	// date: the tenant's reporting currency, and units of it per unit of
	// CurrencyCode (nil when no rate is known).
	ReportingCurrency string
	Rate              *big.Rat
}

// Etag is the opaque concurrency token of the order's current revision.
func (o Order) Etag() string { return strconv.FormatInt(o.Revision, 10) }

// Resource is the order's resource name.
func (o Order) Resource() string { return "orders/" + o.ID.String() }

// ReportingTotal is the total in the reporting currency, rounded half away
// from zero to that currency's minor unit; ok is false when there is no
// reporting currency, no rate, or the result does not fit.
func (o Order) ReportingTotal() (code string, minor int64, ok bool) {
	if o.ReportingCurrency == "" {
		return "", 0, false
	}
	if o.ReportingCurrency == o.CurrencyCode {
		return o.CurrencyCode, o.TotalMinor, true
	}
	if o.Rate == nil {
		return "", 0, false
	}
	minor, ok = Convert(o.TotalMinor, o.CurrencyCode, o.ReportingCurrency, o.Rate)
	return o.ReportingCurrency, minor, ok
}

// Convert converts an amount in minor units of from into minor units of to
// at rate (units of to per unit of from), minding that the currencies'
// minor units may differ (JPY has none, USD cents).
func Convert(amountMinor int64, from, to string, rate *big.Rat) (int64, bool) {
	v := new(big.Rat).Mul(new(big.Rat).SetInt64(amountMinor), rate)
	shift := scale(to) - scale(from)
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(shift))), nil))
	if shift >= 0 {
		v.Mul(v, p)
	} else {
		v.Quo(v, p)
	}
	// Half away from zero: add or subtract a half, then truncate.
	half := big.NewRat(1, 2)
	if v.Sign() < 0 {
		half.Neg(half)
	}
	v.Add(v, half)
	n := new(big.Int).Quo(v.Num(), v.Denom())
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// scale is the number of decimals of a currency's minor unit.
func scale(code string) int {
	u, err := currency.ParseISO(code)
	if err != nil {
		return 2
	}
	s, _ := currency.Standard.Rounding(u)
	return s
}

// Errors of orders.
var (
	ErrNotFound = errors.New("order not found")
	// ErrOpportunityNotFound means an opportunity an order names is not
	// there for the caller; it is reported as a field violation.
	ErrOpportunityNotFound = errors.New("opportunity not found")
	// ErrCancelled means the order is cancelled already.
	ErrCancelled = errors.New("the order is already cancelled")
	// ErrNumberTaken means another order of the tenant has the order number.
	ErrNumberTaken = errors.New("another order has this order number")
	// ErrEtagMismatch means the etag sent is not the current one.
	ErrEtagMismatch = errors.New("etag does not match the current revision")
)

// Events of orders, rates and settings.
const (
	EventCreated         = "order.created"
	EventCancelled       = "order.cancelled"
	EventRatesLoaded     = "exchange_rates.loaded"
	EventSettingsUpdated = "reporting_settings.updated"
)

// Who may do what. Orders are the customers' history: whoever serves or
// sells to customers reads them; those who sell record and cancel them.
// Rates and the reporting currency are the tenant's finance settings.
var (
	readers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RoleSupportAgent}
	writers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep}
	finances = []auth.Role{auth.RoleAdmin}
)

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

const (
	maxLines     = 10000
	maxShort     = 64
	maxText      = 500
	maxRequestID = 64
	maxRates     = 10000
)

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// validCurrency reports whether code is an ISO 4217 currency of real money.
func validCurrency(code string) bool {
	if !currencyRE.MatchString(code) || code == "XXX" || code == "XTS" {
		return false
	}
	_, err := currency.ParseISO(code)
	return err == nil
}

func length(v *validation.Error, field, s string, maxLen int) {
	if utf8.RuneCountInString(s) > maxLen {
		v.Add(field, "must be at most %d characters", maxLen)
	}
}

func (o *Order) normalize() {
	o.Number, o.Country, o.ExternalID = strings.TrimSpace(o.Number), strings.TrimSpace(o.Country), strings.TrimSpace(o.ExternalID)
	o.CurrencyCode = strings.ToUpper(strings.TrimSpace(o.CurrencyCode))
	for i := range o.Lines {
		o.Lines[i].Description = strings.TrimSpace(o.Lines[i].Description)
	}
}

// Prepare normalises o, checks it and computes its totals, as a create
// does; for orders made from other records, such as an accepted quote.
func (o *Order) Prepare() error {
	o.normalize()
	v := &validation.Error{}
	o.validate(v)
	return v.Err()
}

// validate checks o and computes its line totals and total.
func (o *Order) validate(v *validation.Error) {
	if o.Kind < KindSale || o.Kind > KindAdjustment {
		v.Add("order.kind", "must be sale, return or adjustment")
	}
	if !validCurrency(o.CurrencyCode) {
		v.Add("order.currency_code", "must be an ISO 4217 currency code such as EUR")
	}
	length(v, "order.order_number", o.Number, maxShort)
	length(v, "order.country", o.Country, maxShort*2)
	length(v, "order.external_id", o.ExternalID, maxShort*4)
	if o.OriginalOrderID != nil && o.Kind != KindReturn {
		v.Add("order.original_order_id", "is only for returns")
	}
	if o.Kind == KindAdjustment {
		if len(o.Lines) > 0 {
			v.Add("order.lines", "an adjustment moves money only and has no lines")
		}
		if o.AdjustmentMinor == 0 {
			v.Add("order.adjustment_minor", "is required for an adjustment and must not be 0")
		}
		o.TotalMinor = o.AdjustmentMinor
		return
	}
	if o.AdjustmentMinor != 0 {
		v.Add("order.adjustment_minor", "is only for adjustments")
	}
	switch {
	case len(o.Lines) == 0:
		v.Add("order.lines", "needs at least one line")
	case len(o.Lines) > maxLines:
		v.Add("order.lines", "must hold at most %d lines", maxLines)
	}
	var sum int64
	for i := range o.Lines {
		l := &o.Lines[i]
		f := fmt.Sprintf("order.lines[%d].", i)
		if l.ProductID == uuid.Nil {
			v.Add(f+"product_id", "is required: every line is of a product")
		}
		if l.Quantity <= 0 {
			v.Add(f+"quantity", "must be positive (a return states the quantity returned)")
		}
		if l.UnitPriceMinor < 0 {
			v.Add(f+"unit_price_minor", "must not be negative")
		}
		if l.DiscountMinor < 0 {
			v.Add(f+"discount_minor", "must not be negative")
		}
		length(v, f+"description", l.Description, maxText)
		if l.Quantity <= 0 || l.UnitPriceMinor < 0 || l.DiscountMinor < 0 {
			continue
		}
		if l.UnitPriceMinor != 0 && l.Quantity > math.MaxInt64/l.UnitPriceMinor {
			v.Add(f+"quantity", "makes the total too large")
			continue
		}
		if l.DiscountMinor > l.Quantity*l.UnitPriceMinor {
			v.Add(f+"discount_minor", "must not exceed quantity × unit_price_minor")
			continue
		}
		l.TotalMinor = l.Quantity*l.UnitPriceMinor - l.DiscountMinor
		if sum > math.MaxInt64-l.TotalMinor {
			v.Add(f+"quantity", "makes the total too large")
			continue
		}
		sum += l.TotalMinor
	}
	o.TotalMinor = sum
	if o.Kind == KindReturn {
		o.TotalMinor = -sum
	}
}

// ListQuery selects a page of orders.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of orders, latest first.
type Page struct {
	Orders        []Order
	NextPageToken string
}

// Lookup is what a create reads inside its transaction.
type Lookup interface {
	// MissingProducts returns those of ids that are no product of the tenant.
	MissingProducts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
	// Order returns an order, or ErrNotFound.
	Order(ctx context.Context, id uuid.UUID) (Order, error)
	// Opportunity returns the customer and source partner of a live
	// opportunity the caller may see, or ErrOpportunityNotFound.
	Opportunity(ctx context.Context, id uuid.UUID) (OpportunityRef, error)
}

// OpportunityRef is what an order takes from the opportunity it fulfils.
type OpportunityRef struct {
	CustomerID      uuid.UUID
	SourcePartnerID *uuid.UUID
}

// Store keeps orders, rates and settings. Every method is scoped to the
// tenant of the caller.
type Store interface {
	// CreateOrder stores the order check accepts (and may complete, such
	// as with the opportunity's partner), or returns the order an earlier
	// create with the same non-empty requestID made.
	CreateOrder(ctx context.Context, caller auth.Caller, requestID string, o Order, check func(context.Context, Lookup, *Order) error) (Order, error)
	// OrderByRequestID returns the order a create with requestID made, or ErrNotFound.
	OrderByRequestID(ctx context.Context, caller auth.Caller, requestID string) (Order, error)
	Order(ctx context.Context, caller auth.Caller, id uuid.UUID) (Order, error)
	ListOrders(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// MutateOrder applies m to the order under a row lock and saves it,
	// recording event.
	MutateOrder(ctx context.Context, caller auth.Caller, id uuid.UUID, event string, m func(*Order) error) (Order, error)

	// LoadRates stores rates, replacing those of the same pair and date.
	LoadRates(ctx context.Context, caller auth.Caller, rates []Rate) error
	ListRates(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (RatePage, error)
	// Settings returns the tenant's settings; zero ones when never set.
	Settings(ctx context.Context, caller auth.Caller) (Settings, error)
	// SaveSettings stores s if the stored revision still is revision (0: never set).
	SaveSettings(ctx context.Context, caller auth.Caller, s Settings, revision int64) (Settings, error)
}

// Customers answers whether a customer exists (pkg/customerclient over gRPC).
type Customers interface {
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
}

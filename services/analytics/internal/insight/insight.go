// Package insight is the customer-insight domain of the analytics service:
// the customer 360 view, value (RFM and lifetime value), churn risk, next
// best offers with their feedback, and the quarantine of events the read
// model could not project. It computes figures from facts the store reads;
// the definitions are documented on each figure (and in insight.proto).
package insight

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// ErrCustomerNotFound means the read model has never heard of the customer.
var ErrCustomerNotFound = analytics.ErrCustomerNotFound

// MaxWindow is the longest time range a value query may span: a wider one
// would scan more history than any figure here needs.
const MaxWindow = 5 * 366 * 24 * time.Hour

// DefaultWindow is the range a value query covers when it names no start.
const DefaultWindow = 365 * 24 * time.Hour

// Roles. Reading is for every internal role (partner users see no customer
// data); recording offer feedback is for the roles that talk to customers;
// the quarantine is for operators.
var (
	readers          = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	feedbackWriters  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	quarantineReader = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst}
)

// Window is the range [Start, End) of order times a value query covers;
// End is also the reference time recency is measured from.
type Window struct{ Start, End time.Time }

// ValueQuery selects the value figures to compute.
type ValueQuery struct {
	Window Window
	// CurrencyCode is the currency the figures are summed in; "" picks the
	// currency of most of the tenant's orders.
	CurrencyCode string
}

// PurchaseStats are one customer's order figures in one currency, from
// placed sales (purchases) and placed returns; adjustments and cancelled
// orders count for nothing.
type PurchaseStats struct {
	CustomerID uuid.UUID
	// Window figures: purchases in the window, their net value (sales plus
	// returns, returns being negative) and the time of the latest purchase.
	Frequency    int64
	Monetary     int64
	LastPurchase time.Time
	// Lifetime figures: everything before the window's end.
	LifetimeRevenue   int64
	LifetimePurchases int64
	FirstPurchaseEver time.Time
	LastPurchaseEver  time.Time
}

// Store is what insight needs of the read model. Every method is scoped to one tenant.
type Store interface {
	// Known reports whether any event mentioned the customer.
	Known(ctx context.Context, tenant, customer uuid.UUID) (bool, error)
	// MainCurrency is the currency of most of the tenant's orders ("" when it has none).
	MainCurrency(ctx context.Context, tenant uuid.UUID) (string, error)
	// PurchaseStats returns the stats of every customer with a placed order
	// in currency before w.End, sorted by customer id.
	PurchaseStats(ctx context.Context, tenant uuid.UUID, currency string, w Window) ([]PurchaseStats, error)
	// ChurnFacts reads what churn risk weighs for a customer at ref.
	ChurnFacts(ctx context.Context, tenant, customer uuid.UUID, ref time.Time) (ChurnFacts, error)
	// View reads the facts of a customer's 360 view, or ErrCustomerNotFound.
	View(ctx context.Context, tenant, customer uuid.UUID, recent int) (View, error)
	// OfferFacts reads the candidates for a customer's next best offers at ref.
	OfferFacts(ctx context.Context, tenant, customer uuid.UUID, ref time.Time) (OfferFacts, error)
	// RecordFeedback stores feedback with its event and audit row, once per
	// request id: a repeat returns the first (created false).
	RecordFeedback(ctx context.Context, caller auth.Caller, f Feedback, requestID string) (saved Feedback, created bool, err error)
	// Quarantined lists quarantined events newest first.
	Quarantined(ctx context.Context, tenant uuid.UUID, filter, pageToken string, pageSize int) ([]analytics.QuarantinedEvent, string, error)
}

// Service holds the insight use cases.
type Service struct {
	store     Store
	customers Customers
	now       func() time.Time
	// cache keeps each tenant's latest tenant-wide value figures for
	// ValueTTL: scores rank a customer among all the tenant's customers, and
	// recomputing them for every 360 view would cost every view a scan of
	// the tenant's orders.
	cache *valueCache
}

// ValueTTL is how long tenant-wide value figures are reused: a figure may
// miss the orders of its last minute.
const ValueTTL = time.Minute

type valueKey struct {
	tenant   uuid.UUID
	currency string
	w        Window
}

type valueEntry struct {
	key      valueKey
	currency string
	values   []Value
	expires  time.Time
}

type valueCache struct {
	mu      sync.Mutex
	entries map[uuid.UUID]valueEntry
}

// New returns a Service over store that acts through customers; now gives
// the time of a request.
func New(store Store, customers Customers, now func() time.Time) *Service {
	return &Service{store: store, customers: customers, now: now, cache: &valueCache{entries: map[uuid.UUID]valueEntry{}}}
}

func tenantOf(c auth.Caller, roles []auth.Role) (uuid.UUID, error) {
	if !c.HasAny(roles...) {
		return uuid.Nil, auth.ErrForbidden
	}
	tenant, err := uuid.Parse(c.TenantID)
	if err != nil {
		return uuid.Nil, auth.ErrUnauthenticated
	}
	return tenant, nil
}

// window validates a requested range: zero times take their defaults
// (End now, Start DefaultWindow before End); Start must precede End, and
// the range may span at most MaxWindow.
func (s *Service) window(start, end time.Time) (Window, error) {
	w := Window{Start: start, End: end}
	if w.End.IsZero() {
		// The start of the minute: requests within it share their figures.
		w.End = s.now().Truncate(time.Minute)
	}
	if w.Start.IsZero() {
		w.Start = w.End.Add(-DefaultWindow)
	}
	switch {
	case !w.Start.Before(w.End):
		return Window{}, validation.Field("start_time", "must be before end_time")
	case w.End.Sub(w.Start) > MaxWindow:
		return Window{}, validation.Field("start_time", "the range may span at most %d days", int(MaxWindow.Hours()/24))
	}
	return w, nil
}

func (s *Service) known(ctx context.Context, tenant, customer uuid.UUID) error {
	ok, err := s.store.Known(ctx, tenant, customer)
	if err != nil {
		return err
	}
	if !ok {
		return ErrCustomerNotFound
	}
	return nil
}

package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Service holds the order use cases.
type Service struct {
	store     Store
	customers Customers
	now       func() time.Time
}

// New returns a Service over store that checks customers with customers.
func New(store Store, customers Customers) *Service {
	return &Service{store: store, customers: customers, now: func() time.Time {
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
}

// Page sizes of lists.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func pageSizeOf(n int) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	}
	return min(n, maxPageSize), nil
}

func checkEtag(current, etag string) error {
	if etag != "" && etag != current {
		return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, current)
	}
	return nil
}

// Create validates and records an order. Guest orders (no customer) are
// kept: they are revenue, though of no known customer.
func (s *Service) Create(ctx context.Context, caller auth.Caller, o Order, requestID string) (Order, error) {
	if err := allow(caller, writers); err != nil {
		return Order{}, err
	}
	o.normalize()
	if o.OrderTime.IsZero() {
		o.OrderTime = s.now()
	}
	o.Status = StatusPlaced
	v := &validation.Error{}
	o.validate(v)
	length(v, "request_id", requestID, maxRequestID)
	if err := v.Err(); err != nil {
		return Order{}, err
	}
	if requestID != "" {
		earlier, err := s.store.OrderByRequestID(ctx, caller, requestID)
		if err == nil {
			return earlier, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Order{}, err
		}
	}
	if o.CustomerID != nil {
		ok, err := s.customers.Exists(ctx, *o.CustomerID)
		if err != nil {
			return Order{}, fmt.Errorf("check customer %s: %w", *o.CustomerID, err)
		}
		if !ok {
			return Order{}, validation.Field("order.customer_id", "no such customer")
		}
	}
	o.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateOrder(ctx, caller, requestID, o, func(ctx context.Context, look Lookup, o *Order) error {
		v := &validation.Error{}
		ids := make([]uuid.UUID, len(o.Lines))
		for i, l := range o.Lines {
			ids[i] = l.ProductID
		}
		missing, err := look.MissingProducts(ctx, ids)
		if err != nil {
			return err
		}
		for i, l := range o.Lines {
			if missing[l.ProductID] {
				v.Add(fmt.Sprintf("order.lines[%d].product_id", i), "no such product")
			}
		}
		if o.OpportunityID != nil {
			ref, err := look.Opportunity(ctx, *o.OpportunityID)
			switch {
			case errors.Is(err, ErrOpportunityNotFound):
				v.Add("order.opportunity_id", "no such opportunity")
			case err != nil:
				return err
			case o.CustomerID != nil && *o.CustomerID != ref.CustomerID:
				v.Add("order.opportunity_id", "is another customer's opportunity")
			case o.SourcePartnerID == nil:
				o.SourcePartnerID = ref.SourcePartnerID
			}
		}
		if o.OriginalOrderID != nil {
			orig, err := look.Order(ctx, *o.OriginalOrderID)
			switch {
			case errors.Is(err, ErrNotFound):
				v.Add("order.original_order_id", "no such order")
			case err != nil:
				return err
			case orig.Kind != KindSale:
				v.Add("order.original_order_id", "must be a sale")
			case !sameCustomer(orig.CustomerID, o.CustomerID):
				v.Add("order.original_order_id", "is another customer's order")
			case orig.CurrencyCode != o.CurrencyCode:
				v.Add("order.original_order_id", "is in %s, the return in %s", orig.CurrencyCode, o.CurrencyCode)
			}
		}
		return v.Err()
	})
}

func sameCustomer(a, b *uuid.UUID) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// Get returns an order.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Order, error) {
	if err := allow(caller, readers); err != nil {
		return Order{}, err
	}
	return s.store.Order(ctx, caller, id)
}

// List returns a page of orders, latest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	n, err := pageSizeOf(q.PageSize)
	if err != nil {
		return Page{}, err
	}
	q.PageSize = n
	return s.store.ListOrders(ctx, caller, q)
}

// Cancel voids a placed order, once.
func (s *Service) Cancel(ctx context.Context, caller auth.Caller, id uuid.UUID, reason, etag string) (Order, error) {
	if err := allow(caller, writers); err != nil {
		return Order{}, err
	}
	reason = strings.TrimSpace(reason)
	v := &validation.Error{}
	if reason == "" {
		v.Add("reason", "is required")
	}
	length(v, "reason", reason, maxText)
	if err := v.Err(); err != nil {
		return Order{}, err
	}
	now := s.now()
	return s.store.MutateOrder(ctx, caller, id, EventCancelled, func(o *Order) error {
		if o.Status == StatusCancelled {
			return ErrCancelled
		}
		if err := checkEtag(o.Etag(), etag); err != nil {
			return err
		}
		o.Status, o.CancelTime, o.CancelReason = StatusCancelled, &now, reason
		return nil
	})
}

// Settings returns the tenant's reporting settings.
func (s *Service) Settings(ctx context.Context, caller auth.Caller) (Settings, error) {
	if err := allow(caller, readers); err != nil {
		return Settings{}, err
	}
	return s.store.Settings(ctx, caller)
}

// UpdateSettings changes the fields of in named in mask.
func (s *Service) UpdateSettings(ctx context.Context, caller auth.Caller, in Settings, mask []string, etag string) (Settings, error) {
	if err := allow(caller, finances); err != nil {
		return Settings{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if f != "reporting_currency" {
			v.Add("update_mask", "%q cannot be updated; updatable fields: [reporting_currency]", f)
		}
	}
	in.ReportingCurrency = strings.ToUpper(strings.TrimSpace(in.ReportingCurrency))
	if slices.Contains(mask, "reporting_currency") && !validCurrency(in.ReportingCurrency) {
		v.Add("reporting_settings.reporting_currency", "must be an ISO 4217 currency code such as EUR")
	}
	if err := v.Err(); err != nil {
		return Settings{}, err
	}
	cur, err := s.store.Settings(ctx, caller)
	if err != nil {
		return Settings{}, err
	}
	if err := checkEtag(cur.Etag(), etag); err != nil {
		return Settings{}, err
	}
	return s.store.SaveSettings(ctx, caller, in, cur.Revision)
}

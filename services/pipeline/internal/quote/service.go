package quote

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// Service holds the quote use cases.
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

// Create validates, prices and stores a draft, version 1.
func (s *Service) Create(ctx context.Context, caller auth.Caller, q Quote, requestID string) (Quote, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, err
	}
	q.normalize()
	today := s.now().Format(time.DateOnly)
	v := &validation.Error{}
	if q.CustomerID == uuid.Nil && q.OpportunityID == nil {
		v.Add("quote.customer_id", "is required without an opportunity")
	}
	if q.PriceListID == uuid.Nil {
		v.Add("quote.price_list_id", "is required")
	}
	q.validate(today, v)
	rules.RequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Quote{}, err
	}
	if requestID != "" {
		earlier, err := s.store.ByRequestID(ctx, caller, requestID)
		if err == nil {
			return earlier, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Quote{}, err
		}
	}
	if q.CustomerID != uuid.Nil {
		ok, err := s.customers.Exists(ctx, q.CustomerID)
		if err != nil {
			return Quote{}, fmt.Errorf("check customer %s: %w", q.CustomerID, err)
		}
		if !ok {
			return Quote{}, validation.Field("quote.customer_id", "no such customer")
		}
	}
	q.ID = uuid.Must(uuid.NewV7())
	q.RootID, q.Version, q.Status = q.ID, 1, StatusDraft
	return s.store.Create(ctx, caller, requestID, q, func(ctx context.Context, look Lookup, q *Quote) error {
		if q.OpportunityID != nil {
			ref, err := look.Opportunity(ctx, *q.OpportunityID)
			switch {
			case errors.Is(err, order.ErrOpportunityNotFound):
				return validation.Field("quote.opportunity_id", "no such opportunity")
			case err != nil:
				return err
			case q.CustomerID == uuid.Nil:
				q.CustomerID = ref.CustomerID
			case q.CustomerID != ref.CustomerID:
				return validation.Field("quote.opportunity_id", "is another customer's opportunity")
			}
		}
		return price(ctx, look, q, today)
	})
}

// price sets the currency from the price list, the unit prices of lines
// not overridden from its prices on today, and the line totals and total.
func price(ctx context.Context, look Lookup, q *Quote, today string) error {
	v := &validation.Error{}
	currency, ok, err := look.PriceList(ctx, q.PriceListID)
	switch {
	case err != nil:
		return err
	case !ok:
		return validation.Field("quote.price_list_id", "no such price list")
	case q.CurrencyCode != "" && q.CurrencyCode != currency:
		return validation.Field("quote.currency_code", "must be the price list's currency, %s", currency)
	}
	q.CurrencyCode = currency
	var sum int64
	for i := range q.Lines {
		l := &q.Lines[i]
		f := fmt.Sprintf("quote.lines[%d].", i)
		exists, active, err := look.Product(ctx, l.ProductID)
		switch {
		case err != nil:
			return err
		case !exists:
			v.Add(f+"product_id", "no such product")
			continue
		case !active:
			v.Add(f+"product_id", "is an inactive product")
			continue
		}
		if !l.PriceOverridden {
			unit, ok, err := look.Price(ctx, q.PriceListID, l.ProductID, today)
			if err != nil {
				return err
			}
			if !ok {
				v.Add(f+"product_id", "has no price in the price list on %s", today)
				continue
			}
			l.UnitPriceMinor = unit
		}
		total, ok := pipeline.LineTotal(l.Quantity, l.UnitPriceMinor, l.DiscountBps)
		if !ok || sum > math.MaxInt64-total {
			v.Add(f+"quantity", "makes the total too large")
			continue
		}
		l.TotalMinor = total
		sum += total
	}
	q.TotalMinor = sum
	return v.Err()
}

// Get returns a quote.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Quote, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return Quote{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// List returns a page of quotes, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return Page{}, err
	}
	n, err := rules.PageSize(q.PageSize)
	if err != nil {
		return Page{}, err
	}
	q.PageSize = n
	return s.store.List(ctx, caller, q)
}

var updatable = []string{"lines", "valid_until", "notes"}

// live refuses a deleted quote and a stale etag.
func live(q *Quote, etag string) error {
	if q.DeleteTime != nil {
		return ErrDeleted
	}
	return rules.CheckEtag(q.Etag(), etag, ErrEtagMismatch)
}

// Update changes the fields of a draft named in mask; changed lines are repriced.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Quote, mask []string, etag string) (Quote, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, err
	}
	if err := rules.CheckMask(mask, updatable); err != nil {
		return Quote{}, err
	}
	today := s.now().Format(time.DateOnly)
	saved, _, err := s.store.Mutate(ctx, caller, in.ID, "", func(ctx context.Context, look Lookup, q *Quote, _ bool) (Effect, error) {
		if err := live(q, etag); err != nil {
			return Effect{}, err
		}
		if q.Status != StatusDraft {
			return Effect{}, ErrNotDraft
		}
		for _, f := range mask {
			switch f {
			case "lines":
				q.Lines = in.Lines
			case "valid_until":
				q.ValidUntil = in.ValidUntil
			case "notes":
				q.Notes = in.Notes
			}
		}
		q.normalize()
		v := &validation.Error{}
		q.validate(today, v)
		if err := v.Err(); err != nil {
			return Effect{}, err
		}
		lines := slices.Contains(mask, "lines")
		if lines {
			if err := price(ctx, look, q, today); err != nil {
				return Effect{}, err
			}
		}
		return Effect{Event: EventUpdated, LinesChanged: lines}, nil
	})
	return saved, err
}

// Delete soft-deletes a draft.
func (s *Service) Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Quote, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, err
	}
	now := s.now()
	saved, _, err := s.store.Mutate(ctx, caller, id, "", func(_ context.Context, _ Lookup, q *Quote, _ bool) (Effect, error) {
		if err := live(q, etag); err != nil {
			return Effect{}, err
		}
		if q.Status != StatusDraft {
			return Effect{}, ErrNotDraft
		}
		q.DeleteTime = &now
		return Effect{Event: EventDeleted}, nil
	})
	return saved, err
}

// Undelete restores a soft-deleted draft.
func (s *Service) Undelete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Quote, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, err
	}
	saved, _, err := s.store.Mutate(ctx, caller, id, "", func(_ context.Context, _ Lookup, q *Quote, _ bool) (Effect, error) {
		if q.DeleteTime == nil {
			return Effect{}, ErrNotDeleted
		}
		if err := rules.CheckEtag(q.Etag(), etag, ErrEtagMismatch); err != nil {
			return Effect{}, err
		}
		q.DeleteTime = nil
		return Effect{Event: EventUndeleted}, nil
	})
	return saved, err
}

// Revise makes a new draft version from the latest version of a quote,
// repriced today, valid until validUntil (or as long as the revised one).
func (s *Service) Revise(ctx context.Context, caller auth.Caller, id uuid.UUID, validUntil, requestID string) (Quote, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, err
	}
	validUntil = strings.TrimSpace(validUntil)
	today := s.now().Format(time.DateOnly)
	v := &validation.Error{}
	if validUntil != "" {
		if d, ok := rules.Date(validUntil, "valid_until", v); ok && d.Format(time.DateOnly) < today {
			v.Add("valid_until", "must not be in the past")
		}
	}
	rules.RequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Quote{}, err
	}
	if requestID != "" {
		earlier, err := s.store.ByRequestID(ctx, caller, requestID)
		if err == nil {
			return earlier, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Quote{}, err
		}
	}
	saved, _, err := s.store.Mutate(ctx, caller, id, requestID, func(ctx context.Context, look Lookup, q *Quote, latest bool) (Effect, error) {
		switch {
		case q.DeleteTime != nil:
			return Effect{}, ErrDeleted
		case q.Status == StatusAccepted:
			return Effect{}, ErrAccepted
		case !latest:
			return Effect{}, ErrNotLatest
		}
		next := Quote{ID: uuid.Must(uuid.NewV7()), RootID: q.RootID, CustomerID: q.CustomerID, OpportunityID: q.OpportunityID,
			PriceListID: q.PriceListID, CurrencyCode: q.CurrencyCode, Lines: slices.Clone(q.Lines), ValidUntil: q.ValidUntil,
			Status: StatusDraft, Notes: q.Notes}
		if validUntil != "" {
			next.ValidUntil = validUntil
		} else if next.ValidUntil < today {
			return Effect{}, validation.Field("valid_until", "is required: the revised quote's validity has passed")
		}
		if err := price(ctx, look, &next, today); err != nil {
			return Effect{}, err
		}
		return Effect{Event: EventRevised, NewVersion: &next}, nil
	})
	return saved, err
}

// Send offers the latest version of a draft to the customer.
func (s *Service) Send(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Quote, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, err
	}
	now := s.now()
	today := now.Format(time.DateOnly)
	saved, _, err := s.store.Mutate(ctx, caller, id, "", func(_ context.Context, _ Lookup, q *Quote, latest bool) (Effect, error) {
		if err := live(q, etag); err != nil {
			return Effect{}, err
		}
		switch {
		case q.Status != StatusDraft:
			return Effect{}, ErrNotDraft
		case !latest:
			return Effect{}, ErrNotLatest
		case q.ValidUntil < today:
			return Effect{}, validation.Field("quote.valid_until", "has passed; update it before sending")
		}
		q.Status, q.SendTime = StatusSent, &now
		return Effect{Event: EventSent}, nil
	})
	return saved, err
}

// decide checks that a sent quote can still be decided at now; a quote
// past its validity is marked expired instead.
func decide(q *Quote, etag string, now time.Time) (expired Effect, err error) {
	if q.Status != StatusSent {
		return Effect{}, ErrNotSent
	}
	if err := live(q, etag); err != nil {
		return Effect{}, err
	}
	if q.ValidUntil < now.Format(time.DateOnly) {
		q.Status, q.DecisionTime = StatusExpired, &now
		return Effect{Event: EventExpired, Then: ErrExpired}, nil
	}
	return Effect{}, nil
}

// Accept records the customer's acceptance of the latest version and
// creates its order (a sale of the quote's lines, for its opportunity and
// that opportunity's source partner) in the same transaction. Accepting
// an accepted quote again returns it and its order.
func (s *Service) Accept(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Quote, order.Order, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, order.Order{}, err
	}
	now := s.now()
	saved, o, err := s.store.Mutate(ctx, caller, id, "", func(ctx context.Context, look Lookup, q *Quote, latest bool) (Effect, error) {
		if q.Status == StatusAccepted {
			return Effect{}, nil
		}
		expired, err := decide(q, etag, now)
		if err != nil || expired.Event != "" {
			return expired, err
		}
		if !latest {
			return Effect{}, ErrNotLatest
		}
		o, err := s.orderOf(ctx, look, *q, now)
		if err != nil {
			return Effect{}, err
		}
		q.Status, q.DecisionTime, q.OrderID = StatusAccepted, &now, &o.ID
		return Effect{Event: EventAccepted, Order: &o}, nil
	})
	if err != nil {
		return Quote{}, order.Order{}, err
	}
	if o == nil {
		return Quote{}, order.Order{}, fmt.Errorf("accepted quote %s has no order", id)
	}
	return saved, *o, nil
}

// orderOf is the sale an accepted quote becomes.
func (s *Service) orderOf(ctx context.Context, look Lookup, q Quote, now time.Time) (order.Order, error) {
	customer, quoteID := q.CustomerID, q.ID
	o := order.Order{ID: uuid.Must(uuid.NewV7()), Kind: order.KindSale, Status: order.StatusPlaced, CustomerID: &customer,
		CurrencyCode: q.CurrencyCode, OrderTime: now, OpportunityID: q.OpportunityID, QuoteID: &quoteID}
	if q.OpportunityID != nil {
		ref, err := look.Opportunity(ctx, *q.OpportunityID)
		switch {
		case errors.Is(err, order.ErrOpportunityNotFound):
			// Deleted since it was quoted: the sale stands on its own.
			o.OpportunityID = nil
		case err != nil:
			return order.Order{}, err
		default:
			o.SourcePartnerID = ref.SourcePartnerID
		}
	}
	for _, l := range q.Lines {
		o.Lines = append(o.Lines, order.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPriceMinor: l.UnitPriceMinor,
			DiscountMinor: l.Quantity*l.UnitPriceMinor - l.TotalMinor, Description: l.Description})
	}
	if err := o.Prepare(); err != nil {
		return order.Order{}, fmt.Errorf("order of quote %s: %w", q.ID, err)
	}
	return o, nil
}

// Reject records that the customer declined a sent quote.
func (s *Service) Reject(ctx context.Context, caller auth.Caller, id uuid.UUID, reason, etag string) (Quote, error) {
	if err := rules.Allow(caller, writers...); err != nil {
		return Quote{}, err
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > maxText {
		return Quote{}, validation.Field("reason", "must be at most %d characters", maxText)
	}
	now := s.now()
	saved, _, err := s.store.Mutate(ctx, caller, id, "", func(_ context.Context, _ Lookup, q *Quote, _ bool) (Effect, error) {
		expired, err := decide(q, etag, now)
		if err != nil || expired.Event != "" {
			return expired, err
		}
		q.Status, q.DecisionTime, q.RejectReason = StatusRejected, &now, reason
		return Effect{Event: EventRejected}, nil
	})
	return saved, err
}

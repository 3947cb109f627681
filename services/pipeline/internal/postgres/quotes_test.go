package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
	"github.com/rapportcrm/rapport/services/pipeline/internal/quote"
)

// TestQuoteStore checks the store's own guarantees: a refused change or a
// failing order writes nothing, versions are numbered one at a time, and a
// repeated revision under one request id makes one version.
func TestQuoteStore(t *testing.T) {
	t.Parallel()
	store, db := newStore(t)
	s := postgres.NewQuoteStore(db.App)
	c := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	ctx := auth.WithCaller(t.Context(), c)
	p, err := store.CreateProduct(ctx, c, pipeline.Product{ID: uuid.Must(uuid.NewV7()), SKU: "MUG", DisplayName: "Mug", Active: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := store.CreatePriceList(ctx, c, pipeline.PriceList{ID: uuid.Must(uuid.NewV7()), DisplayName: "UK", CurrencyCode: "GBP",
		Prices: []pipeline.Price{{ProductID: p.ID, ValidFrom: "2020-01-01", UnitPriceMinor: 250}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7())
	in := quote.Quote{ID: id, RootID: id, Version: 1, CustomerID: uuid.New(), PriceListID: l.ID, CurrencyCode: "GBP", TotalMinor: 500,
		ValidUntil: "2999-12-31", Status: quote.StatusSent, Lines: []quote.Line{{ProductID: p.ID, Quantity: 2, UnitPriceMinor: 250, TotalMinor: 500}}}
	ok := func(context.Context, quote.Lookup, *quote.Quote) error { return nil }
	q, err := s.Create(ctx, c, "q-1", in, ok)
	if err != nil || len(q.Lines) != 1 || q.Revision != 1 {
		t.Fatalf("Create = %v, %v", q, err)
	}

	refused := errors.New("refused")
	if _, _, err := s.Mutate(ctx, c, id, "", func(_ context.Context, _ quote.Lookup, q *quote.Quote, _ bool) (quote.Effect, error) {
		q.Notes = "changed"
		return quote.Effect{}, refused
	}); !errors.Is(err, refused) {
		t.Errorf("Mutate(refused) = %v, want %v", err, refused)
	}
	// An order of an unknown product fails on its foreign key: the quote
	// stays sent and no order or event is left behind.
	bad := order.Order{ID: uuid.Must(uuid.NewV7()), Kind: order.KindSale, Status: order.StatusPlaced, CurrencyCode: "GBP", OrderTime: time.Now(),
		Lines: []order.Line{{ProductID: uuid.New(), Quantity: 1, UnitPriceMinor: 1, TotalMinor: 1}}, TotalMinor: 1, QuoteID: &id}
	if _, _, err := s.Mutate(ctx, c, id, "", func(_ context.Context, _ quote.Lookup, q *quote.Quote, _ bool) (quote.Effect, error) {
		q.Status, q.OrderID = quote.StatusAccepted, &bad.ID
		return quote.Effect{Event: quote.EventAccepted, Order: &bad}, nil
	}); err == nil {
		t.Error("Mutate(order of an unknown product) succeeded")
	}
	got, err := s.Get(ctx, c, id)
	if err != nil || got.Status != quote.StatusSent || got.Notes != "" || got.Revision != 1 {
		t.Errorf("Get after failed changes = %v, %v; want it unchanged", got, err)
	}
	if n := count(t, db, `SELECT count(*) FROM orders`) + count(t, db, `SELECT count(*) FROM outbox WHERE type <> 'quote.created' AND resource LIKE 'quotes/%'`); n != 0 {
		t.Errorf("%d orders and quote events after failed changes, want 0", n)
	}

	// Concurrent revisions under one request id make one version; under
	// distinct ids the later ones find a newer version.
	var wg sync.WaitGroup
	versions := make(chan int32, 6)
	for i := range 6 {
		wg.Go(func() {
			requestID := "rev-a"
			if i%2 == 1 {
				requestID = "rev-b"
			}
			v, _, err := s.Mutate(ctx, c, id, requestID, func(_ context.Context, _ quote.Lookup, q *quote.Quote, latest bool) (quote.Effect, error) {
				if !latest {
					return quote.Effect{}, quote.ErrNotLatest
				}
				next := *q
				next.ID, next.Status = uuid.Must(uuid.NewV7()), quote.StatusDraft
				return quote.Effect{Event: quote.EventRevised, NewVersion: &next}, nil
			})
			if errors.Is(err, quote.ErrNotLatest) {
				return
			}
			if err != nil {
				t.Errorf("Mutate(revise) = %v", err)
				return
			}
			versions <- v.Version
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int32]int{}
	for v := range versions {
		seen[v]++
	}
	if n := count(t, db, `SELECT count(*) FROM quotes WHERE root_quote_id = $1`, id); n != 2 || seen[2] == 0 {
		t.Errorf("versions = %d (returned %v), want 2: one revision, repeats answered with it", n, seen)
	}
	other := auth.Caller{TenantID: uuid.NewString(), PrincipalID: c.PrincipalID, Roles: c.Roles}
	if _, _, err := s.Mutate(auth.WithCaller(t.Context(), other), other, id, "", func(context.Context, quote.Lookup, *quote.Quote, bool) (quote.Effect, error) {
		return quote.Effect{}, nil
	}); !errors.Is(err, quote.ErrNotFound) {
		t.Errorf("Mutate(other tenant) = %v, want ErrNotFound", err)
	}
}

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
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
)

func adjustment(minor int64) order.Order {
	return order.Order{ID: uuid.Must(uuid.NewV7()), Kind: order.KindAdjustment, Status: order.StatusPlaced, CurrencyCode: "GBP",
		AdjustmentMinor: minor, TotalMinor: minor, OrderTime: time.Date(2011, 8, 12, 14, 50, 0, 0, time.UTC)}
}

func TestOrderStore(t *testing.T) {
	t.Parallel()
	_, db := newStore(t)
	s := postgres.NewOrderStore(db.App)
	c := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	ok := func(context.Context, order.Lookup, *order.Order) error { return nil }

	first, err := s.CreateOrder(t.Context(), c, "adj-1", adjustment(-500), ok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.CreateOrder(t.Context(), c, "adj-1", adjustment(-900), ok)
	if err != nil || again.ID != first.ID || again.TotalMinor != -500 {
		t.Errorf("CreateOrder(repeat) = %v, %v; want %v", again, err, first)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE type = 'order.created'`); n != 1 {
		t.Errorf("order.created events = %d, want 1", n)
	}
	refused := errors.New("refused")
	if _, err := s.CreateOrder(t.Context(), c, "adj-2", adjustment(1), func(context.Context, order.Lookup, *order.Order) error { return refused }); !errors.Is(err, refused) {
		t.Errorf("CreateOrder(check fails) = %v, want %v", err, refused)
	}
	if n := count(t, db, `SELECT count(*) FROM orders`); n != 1 {
		t.Errorf("orders = %d, want 1: a refused create writes nothing", n)
	}
	other := auth.Caller{TenantID: uuid.NewString(), PrincipalID: c.PrincipalID}
	if _, err := s.Order(t.Context(), other, first.ID); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("Order(other tenant) = %v, want ErrNotFound", err)
	}

	// Concurrent first saves of the settings: one wins, the others are told
	// the settings changed meanwhile.
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for _, code := range []string{"EUR", "USD", "GBP", "JPY", "CHF"} {
		wg.Go(func() {
			_, err := s.SaveSettings(t.Context(), c, order.Settings{ReportingCurrency: code}, 0)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, order.ErrEtagMismatch):
			t.Errorf("SaveSettings = %v", err)
		}
	}
	st, err := s.Settings(t.Context(), c)
	if won != 1 || err != nil || st.Revision != 1 {
		t.Errorf("%d first saves won, settings %v, %v; want 1 at revision 1", won, st, err)
	}
}

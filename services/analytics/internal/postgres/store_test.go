package postgres_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// stream hands out events of one tenant's source with consecutive cursors.
type stream struct {
	tenant uuid.UUID
	source string
	n      int
}

func (s *stream) next(typ string, at time.Duration) analytics.Event {
	s.n++
	return analytics.Event{ID: uuid.Must(uuid.NewV7()), TenantID: s.tenant, Source: s.source, Cursor: strconv.Itoa(s.n),
		Type: typ, Time: t0.Add(at)}
}

func (s *stream) opportunity(id, customer uuid.UUID, stage analytics.Stage, currency string, minor int64, at time.Duration) analytics.Event {
	e := s.next("opportunity.updated", at)
	e.Opportunity = &analytics.Opportunity{ID: id, CustomerID: customer, Stage: stage, Amount: analytics.Money{CurrencyCode: currency, AmountMinor: minor}}
	return e
}

func (s *stream) ticket(id, customer uuid.UUID, st analytics.TicketStatus, at time.Duration) analytics.Event {
	e := s.next("ticket.updated", at)
	e.Ticket = &analytics.Ticket{ID: id, CustomerID: customer, Status: st}
	return e
}

func (s *stream) customer(id uuid.UUID, deleted bool, at time.Duration) analytics.Event {
	e := s.next("customer.updated", at)
	e.Customer = &analytics.Customer{ID: id, Deleted: deleted}
	return e
}

func newStore(t *testing.T) (*postgres.Store, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	return postgres.New(db.App), db
}

func apply(t *testing.T, s *postgres.Store, events ...analytics.Event) {
	t.Helper()
	for _, e := range events {
		if ok, err := s.Apply(t.Context(), e); err != nil || !ok {
			t.Fatalf("Apply(%s %s) = %v, %v; want applied", e.Type, e.ID, ok, err)
		}
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant, customer := uuid.New(), uuid.New()
	pipeline := &stream{tenant: tenant, source: "pipeline"}
	e := pipeline.opportunity(uuid.New(), customer, analytics.StageProspecting, "USD", 1000, 0)
	apply(t, s, e)
	if ok, err := s.Apply(t.Context(), e); err != nil || ok {
		t.Fatalf("Apply(same event again) = %v, %v; want skipped", ok, err)
	}
	// A redelivery further down the stream is still the same event.
	later := e
	later.Cursor = "c9"
	if ok, err := s.Apply(t.Context(), later); err != nil || ok {
		t.Fatalf("Apply(same event, later cursor) = %v, %v; want skipped", ok, err)
	}
	feed, err := s.Feed(t.Context(), tenant, "pipeline")
	if err != nil {
		t.Fatal(err)
	}
	want := analytics.Feed{Source: "pipeline", Cursor: e.Cursor, LastEventTime: e.Time, AppliedEvents: 1}
	if diff := cmp.Diff(want, feed); diff != "" {
		t.Fatalf("Feed after a replay (-want +got):\n%s", diff)
	}
	sum, err := s.Summary(t.Context(), tenant, customer)
	if err != nil || sum.OpenOpportunities != 1 || len(sum.OpenAmounts) != 1 || sum.OpenAmounts[0].AmountMinor != 1000 {
		t.Fatalf("Summary after a replay = %+v, %v; want the opportunity counted once", sum, err)
	}
	var processed int
	if err := db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM processed_events").Scan(&processed); err != nil || processed != 1 {
		t.Fatalf("processed_events = %d (%v), want 1", processed, err)
	}
	// A source never consumed has an empty checkpoint: start at the beginning.
	if f, err := s.Feed(t.Context(), tenant, "ticket"); err != nil || f.Cursor != "" || f.AppliedEvents != 0 {
		t.Fatalf("Feed(ticket) = %+v, %v; want empty", f, err)
	}
}

func TestSummaryFigures(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant, ada, bob := uuid.New(), uuid.New(), uuid.New()
	customers := &stream{tenant: tenant, source: "customer"}
	pipeline := &stream{tenant: tenant, source: "pipeline"}
	tickets := &stream{tenant: tenant, source: "ticket"}
	o2, o5, t5 := uuid.New(), uuid.New(), uuid.New()
	h := time.Hour
	apply(t, s,
		customers.customer(ada, false, 0),
		pipeline.opportunity(uuid.New(), ada, analytics.StageProspecting, "USD", 1000, 1*h),
		pipeline.opportunity(o2, ada, analytics.StageNegotiation, "USD", 2500, 2*h),
		pipeline.opportunity(uuid.New(), ada, analytics.StageProposal, "EUR", 700, 3*h),
		pipeline.opportunity(uuid.New(), ada, analytics.StageWon, "USD", 9999, 4*h),
		pipeline.opportunity(o5, ada, analytics.StageQualification, "GBP", 500, 5*h),
		pipeline.opportunity(o5, ada, analytics.StageLost, "GBP", 500, 6*h),         // the latest state wins
		pipeline.opportunity(o2, ada, analytics.StageNegotiation, "USD", 3000, 7*h), // amount revised
		pipeline.opportunity(uuid.New(), bob, analytics.StageProspecting, "USD", 50, 20*h),
		tickets.ticket(uuid.New(), ada, analytics.TicketStatusNew, 1*h),
		tickets.ticket(uuid.New(), ada, analytics.TicketStatusOpen, 2*h),
		tickets.ticket(uuid.New(), ada, analytics.TicketStatusResolved, 3*h),
		tickets.ticket(uuid.New(), ada, analytics.TicketStatusClosed, 4*h),
		tickets.ticket(uuid.New(), ada, analytics.TicketStatusReopened, 5*h),
		tickets.ticket(t5, ada, analytics.TicketStatusNew, 8*h),
		tickets.ticket(t5, ada, analytics.TicketStatusResolved, 9*h),
		tickets.ticket(uuid.New(), bob, analytics.TicketStatusNew, 21*h),
	)
	got, err := s.Summary(t.Context(), tenant, ada)
	if err != nil {
		t.Fatalf("Summary: %v", err)
	}
	want := analytics.Summary{
		CustomerID:        ada,
		OpenOpportunities: 3,
		OpenAmounts:       []analytics.Money{{CurrencyCode: "EUR", AmountMinor: 700}, {CurrencyCode: "USD", AmountMinor: 4000}},
		OpenTickets:       3,
		UpdateTime:        t0.Add(9 * h),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Summary(ada) (-want +got):\n%s", diff)
	}
}

func TestSummaryOfKnownAndUnknownCustomers(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	customers := &stream{tenant: tenant, source: "customer"}
	tickets := &stream{tenant: tenant, source: "ticket"}
	quiet, gone, early := uuid.New(), uuid.New(), uuid.New()
	apply(t, s,
		customers.customer(quiet, false, 0),
		customers.customer(gone, false, time.Minute),
		customers.customer(gone, true, 2*time.Minute),
		// A ticket whose customer's own event has not arrived yet.
		tickets.ticket(uuid.New(), early, analytics.TicketStatusNew, 3*time.Minute),
	)
	tests := []struct {
		name    string
		id      uuid.UUID
		want    analytics.Summary
		wantErr error
	}{
		{"no data yet", quiet, analytics.Summary{CustomerID: quiet, UpdateTime: t0}, nil},
		{"deleted", gone, analytics.Summary{CustomerID: gone, UpdateTime: t0.Add(2 * time.Minute)}, nil},
		{"known from a ticket", early, analytics.Summary{CustomerID: early, OpenTickets: 1, UpdateTime: t0.Add(3 * time.Minute)}, nil},
		{"unknown", uuid.New(), analytics.Summary{}, analytics.ErrCustomerNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Summary(t.Context(), tenant, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Summary(%s) error = %v, want %v", tt.name, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Summary(%s) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	mine, theirs, customer := uuid.New(), uuid.New(), uuid.New()
	pipeline := &stream{tenant: mine, source: "pipeline"}
	customers := &stream{tenant: mine, source: "customer"}
	shared := pipeline.opportunity(uuid.New(), customer, analytics.StageProposal, "USD", 10, 0)
	apply(t, s, customers.customer(customer, false, 0), shared,
		(&stream{tenant: mine, source: "ticket"}).ticket(uuid.New(), customer, analytics.TicketStatusNew, 0))
	if _, err := s.Summary(t.Context(), theirs, customer); !errors.Is(err, analytics.ErrCustomerNotFound) {
		t.Fatalf("Summary from another tenant = %v, want ErrCustomerNotFound", err)
	}
	if feeds, err := s.Feeds(t.Context(), theirs); err != nil || len(feeds) != 0 {
		t.Fatalf("Feeds(other tenant) = %v, %v; want none", feeds, err)
	}
	if feeds, err := s.Feeds(t.Context(), mine); err != nil || len(feeds) != 3 || feeds[0].Source != "customer" || feeds[2].Source != "ticket" {
		t.Fatalf("Feeds(own tenant) = %v, %v; want customer, pipeline, ticket", feeds, err)
	}
	// An event id is unique per tenant only: another tenant's event with
	// the same id is its own.
	other := shared
	other.TenantID = theirs
	apply(t, s, other)
	// The rows exist, behind RLS: the service role sees none without a tenant.
	for _, table := range []string{"processed_events", "checkpoints", "customer_state", "opportunity_state", "ticket_state"} {
		var visible, total int
		if err := db.App.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&visible); err != nil {
			t.Fatal(err)
		}
		if err := db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&total); err != nil {
			t.Fatal(err)
		}
		if visible != 0 || total == 0 {
			t.Errorf("%s: service role without a tenant sees %d rows of %d, want 0 of some", table, visible, total)
		}
	}
	// And it cannot write into a tenant other than the transaction's.
	err := pgdb.InTx(t.Context(), db.App, mine.String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), `INSERT INTO customer_state (tenant_id, customer_id, deleted, update_time) VALUES ($1, $2, false, now())`, theirs, uuid.New())
		return err
	})
	if err == nil {
		t.Fatal("writing another tenant's row succeeded; RLS should refuse it")
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant, customer := uuid.New(), uuid.New()
	e := (&stream{tenant: tenant, source: "customer"}).customer(customer, false, 0)
	apply(t, s, e)
	if err := postgres.Reset(t.Context(), db.App); err == nil {
		t.Fatal("Reset as the service role succeeded; only the owner may empty the read model")
	}
	if err := postgres.Reset(t.Context(), db.Owner); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	for _, table := range []string{"processed_events", "checkpoints", "customer_state", "opportunity_state", "ticket_state"} {
		var n int
		if err := db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s after Reset: %d rows (%v), want 0", table, n, err)
		}
	}
	if f, err := s.Feed(t.Context(), tenant, "customer"); err != nil || f.Cursor != "" {
		t.Fatalf("Feed after Reset = %+v, %v; want to start from the beginning", f, err)
	}
	// The replay applies the event afresh.
	apply(t, s, e)
}

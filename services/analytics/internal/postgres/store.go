// Package postgres stores the analytics read model in PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the service's goose migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Role is the database role the service connects as.
const Role = "rapport_analytics"

// Store implements analytics.Store.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Upserts keep the latest state: a stream delivers a resource's events in
// order, so the last one applied wins. update_time keeps the latest event
// time even if commit order and clock disagree.
const upsertOpportunitySQL = `
INSERT INTO opportunity_state (tenant_id, opportunity_id, customer_id, stage, currency_code, amount_minor, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, opportunity_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, stage = EXCLUDED.stage, currency_code = EXCLUDED.currency_code,
    amount_minor = EXCLUDED.amount_minor, update_time = greatest(opportunity_state.update_time, EXCLUDED.update_time)`

const upsertTicketSQL = `
INSERT INTO ticket_state (tenant_id, ticket_id, customer_id, status, update_time)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, status = EXCLUDED.status,
    update_time = greatest(ticket_state.update_time, EXCLUDED.update_time)`

const upsertCustomerSQL = `
INSERT INTO customer_state (tenant_id, customer_id, deleted, update_time)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    deleted = EXCLUDED.deleted, update_time = greatest(customer_state.update_time, EXCLUDED.update_time)`

// Apply implements analytics.Store. Claiming the event id comes first: a
// concurrent apply of the same event (another replica) waits on the key and
// then skips, so each event changes the read model once.
func (s *Store) Apply(ctx context.Context, e analytics.Event) (bool, error) {
	n, err := s.ApplyBatch(ctx, []analytics.Event{e})
	if err != nil {
		return false, fmt.Errorf("apply event %s (%s): %w", e.ID, e.Type, err)
	}
	return n == 1, nil
}

// claimSQL claims a batch's event ids at once; those applied before (or
// repeated within the batch) are not returned.
const claimSQL = `
INSERT INTO processed_events (tenant_id, event_id, source) SELECT $1, unnest($2::uuid[]), $3
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id`

const upsertCheckpointBatchSQL = `
INSERT INTO checkpoints (tenant_id, source, last_cursor, last_event_time, applied_events)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, source) DO UPDATE SET
    last_cursor = EXCLUDED.last_cursor, last_event_time = EXCLUDED.last_event_time,
    applied_events = checkpoints.applied_events + EXCLUDED.applied_events, update_time = now()`

// ApplyBatch applies events of one tenant and source, in stream order, in
// one transaction of three round trips whatever their number: the ids are
// claimed together (a concurrent apply of one of them by another replica
// waits on its key and then skips it), every new event's projections go in
// one pipelined batch, and the checkpoint moves to the last new event. It
// returns how many events were new. Under load this is what keeps a feed
// from trailing its source: one transaction per event spent most of its
// time waiting for round trips.
func (s *Store) ApplyBatch(ctx context.Context, events []analytics.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	first := events[0]
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		if e.TenantID != first.TenantID || e.Source != first.Source {
			return 0, fmt.Errorf("apply a batch: event %s is of tenant %s and source %s, not %s and %s", e.ID, e.TenantID, e.Source, first.TenantID, first.Source)
		}
		ids[i] = e.ID
	}
	applied := 0
	err := pgdb.InTx(ctx, s.pool, first.TenantID.String(), func(tx pgx.Tx) error {
		applied = 0
		rows, err := tx.Query(ctx, claimSQL, first.TenantID, ids, first.Source)
		if err != nil {
			return err
		}
		claimed, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			return nil
		}
		fresh := make(map[uuid.UUID]bool, len(claimed))
		for _, id := range claimed {
			fresh[id] = true
		}
		b := &pgx.Batch{}
		var last analytics.Event
		for _, e := range events {
			if !fresh[e.ID] {
				continue
			}
			// A repeat within the batch is applied once.
			delete(fresh, e.ID)
			queueEvent(b, e)
			last = e
			applied++
		}
		b.Queue(upsertCheckpointBatchSQL, first.TenantID, first.Source, last.Cursor, last.Time, applied)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("apply %d events of %s: %w", len(events), first.Source, err)
	}
	return applied, nil
}

// queueEvent queues e's projections.
func queueEvent(b *pgx.Batch, e analytics.Event) {
	switch {
	case e.Opportunity != nil:
		o := e.Opportunity
		b.Queue(upsertOpportunitySQL, e.TenantID, o.ID, o.CustomerID, o.Stage, o.Amount.CurrencyCode, o.Amount.AmountMinor, e.Time)
	case e.Ticket != nil:
		t := e.Ticket
		b.Queue(upsertTicketSQL, e.TenantID, t.ID, t.CustomerID, t.Status, e.Time)
	case e.Customer != nil:
		b.Queue(upsertCustomerSQL, e.TenantID, e.Customer.ID, e.Customer.Deleted, e.Time)
	}
	queueInsight(b, e)
	queueFigures(b, e)
}

const feedColumns = `source, last_cursor, last_event_time, applied_events,
    (SELECT count(*) FROM quarantined_events q WHERE q.tenant_id = checkpoints.tenant_id AND q.source = checkpoints.source)`

func scanFeed(row pgx.CollectableRow) (analytics.Feed, error) {
	var f analytics.Feed
	err := row.Scan(&f.Source, &f.Cursor, &f.LastEventTime, &f.AppliedEvents, &f.Quarantined)
	return f, err
}

const feedSQL = `SELECT ` + feedColumns + ` FROM checkpoints WHERE tenant_id = $1 AND source = $2`

// Feed implements analytics.Store.
func (s *Store) Feed(ctx context.Context, tenant uuid.UUID, source string) (analytics.Feed, error) {
	f, err := pgdb.Row(ctx, s.pool, tenant.String(), feedSQL, []any{tenant, source}, scanFeed)
	if errors.Is(err, pgx.ErrNoRows) {
		return analytics.Feed{Source: source}, nil
	}
	if err != nil {
		return analytics.Feed{}, fmt.Errorf("read %s checkpoint: %w", source, err)
	}
	return f, nil
}

const feedsSQL = `SELECT ` + feedColumns + ` FROM checkpoints WHERE tenant_id = $1 ORDER BY source`

// Feeds implements analytics.Store.
func (s *Store) Feeds(ctx context.Context, tenant uuid.UUID) ([]analytics.Feed, error) {
	feeds, err := pgdb.Rows(ctx, s.pool, tenant.String(), feedsSQL, []any{tenant}, scanFeed)
	if err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	return feeds, nil
}

// summarySQL computes a summary in one statement, so its figures come from
// one snapshot. Each subquery is a range scan of a (tenant_id, customer_id) index.
const summarySQL = `
WITH open_opportunities AS (
    SELECT currency_code, count(*) AS n, sum(amount_minor)::bigint AS total
    FROM opportunity_state
    WHERE tenant_id = $1 AND customer_id = $2 AND stage <> ALL ($3::smallint[])
    GROUP BY currency_code
)
SELECT
    EXISTS (SELECT 1 FROM customer_state WHERE tenant_id = $1 AND customer_id = $2)
        OR EXISTS (SELECT 1 FROM opportunity_state WHERE tenant_id = $1 AND customer_id = $2)
        OR EXISTS (SELECT 1 FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2),
    coalesce((SELECT sum(n) FROM open_opportunities), 0)::bigint,
    coalesce((SELECT array_agg(currency_code ORDER BY currency_code) FROM open_opportunities), '{}'),
    coalesce((SELECT array_agg(total ORDER BY currency_code) FROM open_opportunities), '{}'),
    (SELECT count(*) FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2 AND status <> ALL ($4::smallint[])),
    greatest(
        (SELECT update_time FROM customer_state WHERE tenant_id = $1 AND customer_id = $2),
        (SELECT max(update_time) FROM opportunity_state WHERE tenant_id = $1 AND customer_id = $2),
        (SELECT max(update_time) FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2))`

type summaryRow struct {
	known         bool
	opportunities int64
	currencies    []string
	totals        []int64
	tickets       int64
	updateTime    *time.Time
}

func scanSummary(row pgx.CollectableRow) (summaryRow, error) {
	var r summaryRow
	err := row.Scan(&r.known, &r.opportunities, &r.currencies, &r.totals, &r.tickets, &r.updateTime)
	return r, err
}

// Summary implements analytics.Store. A customer is known once any event
// mentioned it: its own, or an opportunity's or ticket's that arrived first.
func (s *Store) Summary(ctx context.Context, tenant, customerID uuid.UUID) (analytics.Summary, error) {
	closedStages := make([]int16, len(analytics.ClosedStages))
	for i, st := range analytics.ClosedStages {
		closedStages[i] = int16(st)
	}
	closedStatuses := make([]int16, len(analytics.ClosedTicketStatuses))
	for i, st := range analytics.ClosedTicketStatuses {
		closedStatuses[i] = int16(st)
	}
	r, err := pgdb.Row(ctx, s.pool, tenant.String(), summarySQL, []any{tenant, customerID, closedStages, closedStatuses}, scanSummary)
	if err != nil {
		return analytics.Summary{}, fmt.Errorf("summarise customer %s: %w", customerID, err)
	}
	if !r.known {
		return analytics.Summary{}, analytics.ErrCustomerNotFound
	}
	sum := analytics.Summary{CustomerID: customerID, OpenOpportunities: r.opportunities, OpenTickets: r.tickets}
	for i, c := range r.currencies {
		sum.OpenAmounts = append(sum.OpenAmounts, analytics.Money{CurrencyCode: c, AmountMinor: r.totals[i]})
	}
	if r.updateTime != nil {
		sum.UpdateTime = *r.updateTime
	}
	return sum, nil
}

// resetSQL empties every table of the read model.
const resetSQL = `TRUNCATE processed_events, checkpoints, customer_state, opportunity_state, ticket_state, ` + insightTables

// Reset empties the read model of every tenant, checkpoints and processed
// events included, so the next consumer replays every stream from its
// beginning. It needs a pool connected as the tables' owner: TRUNCATE is not
// subject to row-level security, and the service role may not run it.
// Consumers must be stopped meanwhile, or they carry on from where they were.
func Reset(ctx context.Context, owner *pgxpool.Pool) error {
	if _, err := owner.Exec(ctx, resetSQL); err != nil {
		return fmt.Errorf("reset read model: %w", err)
	}
	if _, err := owner.Exec(ctx, resetFiguresSQL); err != nil {
		return fmt.Errorf("reset figures: %w", err)
	}
	return nil
}

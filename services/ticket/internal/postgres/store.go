// Package postgres stores the ticket service's data in PostgreSQL.
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

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the service's goose migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Role is the database role the service connects as.
const Role = "rapport_ticket"

// Store implements ticket.Store.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const ticketColumns = `ticket_id, customer_id, subject, description, priority, status, channel,
create_time, update_time, revision`

func scanTicket(row pgx.CollectableRow) (ticket.Ticket, error) {
	var t ticket.Ticket
	err := row.Scan(&t.ID, &t.CustomerID, &t.Subject, &t.Description, &t.Priority, &t.Status, &t.Channel,
		&t.CreateTime, &t.UpdateTime, &t.Revision)
	return t, err
}

const insertTicketSQL = `
INSERT INTO tickets (tenant_id, ticket_id, customer_id, subject, description, priority, status, channel, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + ticketColumns

const ticketByRequestSQL = `SELECT ` + ticketColumns + ` FROM tickets WHERE tenant_id = $1 AND request_id = $2`

// Create implements ticket.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, t ticket.Ticket, requestID string) (ticket.Ticket, error) {
	var saved ticket.Ticket
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx,
			insertTicketSQL, []any{caller.TenantID, t.ID, t.CustomerID, t.Subject, t.Description,
				t.Priority, t.Status, t.Channel, requestID},
			ticketByRequestSQL, []any{caller.TenantID, requestID},
			scanTicket)
		if err != nil || !inserted {
			// A repeated request_id gets the earlier ticket, whose event is already recorded.
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: ticket.EventCreated,
			Resource: saved.Resource(), After: protoconv.Ticket(saved),
		})
	})
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	return saved, nil
}

// ByRequestID implements ticket.Store.
func (s *Store) ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (ticket.Ticket, error) {
	t, err := pgdb.Row(ctx, s.pool, caller.TenantID, ticketByRequestSQL, []any{caller.TenantID, requestID}, scanTicket)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Ticket{}, ticket.ErrNotFound
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("find ticket by request id: %w", err)
	}
	return t, nil
}

const ticketByIDSQL = `SELECT ` + ticketColumns + ` FROM tickets WHERE tenant_id = $1 AND ticket_id = $2`

// Get implements ticket.Store.
func (s *Store) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (ticket.Ticket, error) {
	t, err := pgdb.Row(ctx, s.pool, caller.TenantID, ticketByIDSQL, []any{caller.TenantID, id}, scanTicket)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Ticket{}, ticket.ErrNotFound
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("get ticket %s: %w", id, err)
	}
	return t, nil
}

// filterFields are the fields ListTickets filters on, each backed by an index.
var filterFields = map[string]sqlfilter.Field{
	"customer_id": {Column: "customer_id", Kind: sqlfilter.UUID},
	"status":      {Column: "status", Kind: sqlfilter.Enum, Enum: ticketv1.Status_value},
	"priority":    {Column: "priority", Kind: sqlfilter.Enum, Enum: ticketv1.Priority_value},
	"channel":     {Column: "channel", Kind: sqlfilter.Enum, Enum: ticketv1.Channel_value},
}

// listTickets lists tickets newest first, with keyset pagination on
// (create_time, ticket_id).
var listTickets = keyset.Query[ticket.Ticket]{
	Table: "tickets", Columns: ticketColumns, IDColumn: "ticket_id", Fields: filterFields, Scan: scanTicket,
	Key: func(t ticket.Ticket) (time.Time, uuid.UUID) { return t.CreateTime, t.ID },
}

// List implements ticket.Store.
func (s *Store) List(ctx context.Context, caller auth.Caller, q ticket.ListQuery) (ticket.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listTickets, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return ticket.Page{}, err
	}
	return ticket.Page{Tickets: rows, NextPageToken: next}, nil
}

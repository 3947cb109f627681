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
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
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
		rows, err := tx.Query(ctx, insertTicketSQL, caller.TenantID, t.ID, t.CustomerID, t.Subject, t.Description,
			t.Priority, t.Status, t.Channel, requestID)
		if err != nil {
			return err
		}
		saved, err = pgx.CollectExactlyOneRow(rows, scanTicket)
		if errors.Is(err, pgx.ErrNoRows) {
			// An earlier request with this request_id won; return its result.
			rows, err := tx.Query(ctx, ticketByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			saved, err = pgx.CollectExactlyOneRow(rows, scanTicket)
			return err
		}
		if err != nil {
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

// cursor is the keyset position after the last row of a page.
type cursor struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// List implements ticket.Store: newest first, with keyset pagination on
// (create_time, ticket_id).
func (s *Store) List(ctx context.Context, caller auth.Caller, q ticket.ListQuery) (ticket.Page, error) {
	cond, err := sqlfilter.Translate(q.Filter, filterFields, 1)
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return ticket.Page{}, validation.Field("filter", "%s", fe.Reason)
		}
		return ticket.Page{}, err
	}
	args := append([]any{caller.TenantID}, cond.Args...)
	where := "tenant_id = $1 AND " + cond.SQL
	if q.PageToken != "" {
		var cur cursor
		if err := pagetoken.Decode(q.PageToken, q.Filter, &cur); err != nil {
			return ticket.Page{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		where += fmt.Sprintf(" AND (create_time, ticket_id) < ($%d, $%d)", len(args)-1, len(args))
	}
	args = append(args, q.PageSize+1)
	sql := fmt.Sprintf("SELECT %s FROM tickets WHERE %s ORDER BY create_time DESC, ticket_id DESC LIMIT $%d",
		ticketColumns, where, len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scanTicket)
	if err != nil {
		return ticket.Page{}, fmt.Errorf("list tickets: %w", err)
	}
	page := ticket.Page{Tickets: rows}
	if len(rows) > q.PageSize {
		page.Tickets = rows[:q.PageSize]
		last := page.Tickets[q.PageSize-1]
		if page.NextPageToken, err = pagetoken.Encode(q.Filter, cursor{Time: last.CreateTime, ID: last.ID}); err != nil {
			return ticket.Page{}, err
		}
	}
	return page, nil
}

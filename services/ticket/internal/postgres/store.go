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
create_time, update_time, revision, type, contact_id, order_id, product_id, tags, attributes, customer_tier,
resolution_note, first_response_time, resolve_time, close_time, escalation_level,
sla_policy_id, sla_calendar_id, sla_first_response_target, sla_resolution_target, sla_warning_percent,
sla_pause_on_hold, sla_escalation_level, sla_paused, sla_paused_since,
first_response_warning_time, first_response_due_time, resolution_warning_time, resolution_due_time,
first_response_warned_time, first_response_breached_time, resolution_warned_time, resolution_breached_time,
sla_next_due, queue_id, assignee_id, partner_id, required_skills, coalesce(external_id, ''), customer_partner_ids`

// Durations are stored as microseconds, the precision of timestamptz.
func micros(d time.Duration) int64 { return d.Microseconds() }

func fromMicros(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

// nullID stores uuid.Nil as NULL.
func nullID(id uuid.UUID) uuid.NullUUID { return uuid.NullUUID{UUID: id, Valid: id != uuid.Nil} }

func scanTicket(row pgx.CollectableRow) (ticket.Ticket, error) {
	var t ticket.Ticket
	var contact, order, product, policy, calendar, queue, assignee, partner uuid.NullUUID
	var frTarget, resTarget, paused int64
	c := &t.SLA
	err := row.Scan(&t.ID, &t.CustomerID, &t.Subject, &t.Description, &t.Priority, &t.Status, &t.Channel,
		&t.CreateTime, &t.UpdateTime, &t.Revision, &t.Type, &contact, &order, &product, &t.Tags, &t.Attributes, &t.CustomerTier,
		&t.ResolutionNote, &t.FirstResponseTime, &t.ResolveTime, &t.CloseTime, &t.EscalationLevel,
		&policy, &calendar, &frTarget, &resTarget, &c.WarningPercent,
		&c.PauseOnHold, &c.EscalationLevel, &paused, &c.PausedSince,
		&c.FirstResponseWarning, &c.FirstResponseDue, &c.ResolutionWarning, &c.ResolutionDue,
		&c.FirstResponseWarned, &c.FirstResponseBreached, &c.ResolutionWarned, &c.ResolutionBreached,
		&c.NextDue, &queue, &assignee, &partner, &t.RequiredSkills, &t.ExternalID, &t.CustomerPartnerIDs)
	t.QueueID, t.AssigneeID, t.PartnerID = queue.UUID, assignee.UUID, partner.UUID
	t.ContactID, t.OrderID, t.ProductID = contact.UUID, order.UUID, product.UUID
	c.PolicyID, c.CalendarID = policy.UUID, calendar.UUID
	c.FirstResponseTarget, c.ResolutionTarget, c.Paused = fromMicros(frTarget), fromMicros(resTarget), fromMicros(paused)
	return t, err
}

// ticketState is the columns every write sets, in the order of the $5…
// parameters of insertTicketSQL and saveTicketSQL.
func ticketState(t ticket.Ticket) []any {
	c := t.SLA
	if t.Tags == nil {
		t.Tags = []string{}
	}
	if t.Attributes == nil {
		t.Attributes = map[string]string{}
	}
	if t.RequiredSkills == nil {
		t.RequiredSkills = []string{}
	}
	return []any{t.Subject, t.Description, t.Priority, t.Status, t.Channel, t.Type, nullID(t.ContactID), nullID(t.OrderID),
		nullID(t.ProductID), t.Tags, t.Attributes, t.ResolutionNote, t.FirstResponseTime, t.ResolveTime, t.CloseTime,
		t.EscalationLevel, c.Paused.Microseconds(), c.PausedSince, c.FirstResponseWarning, c.FirstResponseDue,
		c.ResolutionWarning, c.ResolutionDue, c.FirstResponseWarned, c.FirstResponseBreached, c.ResolutionWarned,
		c.ResolutionBreached, c.NextDue, nullID(t.QueueID), nullID(t.AssigneeID)}
}

// createTime is the ticket's creation time as the domain set it, or NULL
// for the database's clock.
func createTime(t ticket.Ticket) *time.Time {
	if t.CreateTime.IsZero() {
		return nil
	}
	return &t.CreateTime
}

const insertTicketHead = `
INSERT INTO tickets (tenant_id, ticket_id, customer_id, request_id,
    subject, description, priority, status, channel, type, contact_id, order_id,
    product_id, tags, attributes, resolution_note, first_response_time, resolve_time, close_time,
    escalation_level, sla_paused, sla_paused_since, first_response_warning_time, first_response_due_time,
    resolution_warning_time, resolution_due_time, first_response_warned_time, first_response_breached_time, resolution_warned_time,
    resolution_breached_time, sla_next_due, queue_id, assignee_id,
    create_time, update_time, customer_tier, sla_policy_id, sla_calendar_id, sla_first_response_target,
    sla_resolution_target, sla_warning_percent, sla_pause_on_hold, sla_escalation_level,
    partner_id, required_skills, external_id, customer_partner_ids)
VALUES ($1, $2, $3, nullif($4, ''),
    $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
    $27, $28, $29, $30, $31, $32, $33,
    coalesce($34, now()), coalesce($34, now()), $35, $36, $37, $38, $39, $40, $41, $42,
    $43, $44, nullif($45, ''), $46)`

const insertTicketSQL = insertTicketHead + `
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + ticketColumns

// importTicketSQL inserts an imported ticket once per external id.
const importTicketSQL = insertTicketHead + `
ON CONFLICT (tenant_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
RETURNING ` + ticketColumns

const ticketByRequestSQL = `SELECT ` + ticketColumns + ` FROM tickets WHERE tenant_id = $1 AND request_id = $2`

// Create implements ticket.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, t ticket.Ticket, requestID string) (ticket.Ticket, error) {
	return s.CreateRouted(ctx, caller, t, requestID, nil)
}

// insertArgs are the parameters of insertTicketSQL.
func insertArgs(tenant string, t ticket.Ticket, requestID string) []any {
	skills := t.RequiredSkills
	if skills == nil {
		skills = []string{}
	}
	partners := t.CustomerPartnerIDs
	if partners == nil {
		partners = []uuid.UUID{}
	}
	return append(append([]any{tenant, t.ID, t.CustomerID, requestID}, ticketState(t)...),
		createTime(t), t.CustomerTier, nullID(t.SLA.PolicyID), nullID(t.SLA.CalendarID), micros(t.SLA.FirstResponseTarget),
		micros(t.SLA.ResolutionTarget), t.SLA.WarningPercent, t.SLA.PauseOnHold, t.SLA.EscalationLevel,
		nullID(t.PartnerID), skills, t.ExternalID, partners)
}

// CreateRouted implements ticket.Store. Routing runs before the insert so
// the ticket is written with its assignee; the assignment is logged only
// when the insert happened (a repeated request_id changes nothing).
func (s *Store) CreateRouted(ctx context.Context, caller auth.Caller, t ticket.Ticket, requestID string, route ticket.Route) (ticket.Ticket, error) {
	var saved ticket.Ticket
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		t := t
		var a *ticket.Assignment
		if route != nil && t.QueueID != uuid.Nil {
			if err := actForService(ctx, tx); err != nil {
				return err
			}
			r, err := routing(ctx, tx, caller.TenantID, t.QueueID)
			if errors.Is(err, ticket.ErrQueueNotFound) {
				return validation.Field("ticket.queue_id", "no such queue")
			}
			if err != nil {
				return err
			}
			assigned, err := route(&t, r)
			if err != nil {
				return err
			}
			a = &assigned
		}
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertTicketSQL, insertArgs(caller.TenantID, t, requestID),
			ticketByRequestSQL, []any{caller.TenantID, requestID}, scanTicket)
		if err != nil || !inserted {
			// A repeated request_id gets the earlier ticket, whose event is already recorded.
			return err
		}
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: ticket.EventCreated,
			Resource: saved.Resource(), After: protoconv.Ticket(saved),
		}); err != nil {
			return err
		}
		if a == nil {
			return nil
		}
		return logAssignment(ctx, tx, caller.TenantID, *a)
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
	"customer_id":   {Column: "customer_id", Kind: sqlfilter.UUID},
	"status":        {Column: "status", Kind: sqlfilter.Enum, Enum: ticketv1.Status_value},
	"priority":      {Column: "priority", Kind: sqlfilter.Enum, Enum: ticketv1.Priority_value},
	"channel":       {Column: "channel", Kind: sqlfilter.Enum, Enum: ticketv1.Channel_value},
	"type":          {Column: "type", Kind: sqlfilter.Enum, Enum: ticketv1.TicketType_value},
	"customer_tier": {Column: "customer_tier", Kind: sqlfilter.String},
	"queue_id":      {Column: "queue_id", Kind: sqlfilter.UUID},
	"assignee_id":   {Column: "assignee_id", Kind: sqlfilter.UUID},
	"partner_id":    {Column: "partner_id", Kind: sqlfilter.UUID},
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

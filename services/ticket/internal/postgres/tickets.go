package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

const lockTicketSQL = `SELECT ` + ticketColumns + ` FROM tickets WHERE tenant_id = $1 AND ticket_id = $2 FOR UPDATE`

const saveTicketSQL = `
UPDATE tickets SET subject = $3, description = $4, priority = $5, status = $6, channel = $7, type = $8,
    contact_id = $9, order_id = $10, product_id = $11, tags = $12, attributes = $13, resolution_note = $14,
    first_response_time = $15, resolve_time = $16, close_time = $17, escalation_level = $18, sla_paused = $19,
    sla_paused_since = $20, first_response_warning_time = $21, first_response_due_time = $22,
    resolution_warning_time = $23, resolution_due_time = $24, first_response_warned_time = $25,
    first_response_breached_time = $26, resolution_warned_time = $27, resolution_breached_time = $28,
    sla_next_due = $29, queue_id = $30, assignee_id = $31, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND ticket_id = $2
RETURNING ` + ticketColumns

func lockTicket(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (ticket.Ticket, error) {
	rows, err := tx.Query(ctx, lockTicketSQL, tenant, id)
	if err != nil {
		return ticket.Ticket{}, err
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTicket)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ticket.ErrNotFound
	}
	return t, err
}

// save writes t and records its events, each with the ticket before and after.
func save(ctx context.Context, tx pgx.Tx, tenant, principal string, before, t ticket.Ticket, events ...string) (ticket.Ticket, error) {
	rows, err := tx.Query(ctx, saveTicketSQL, append([]any{tenant, t.ID}, ticketState(t)...)...)
	if err != nil {
		return ticket.Ticket{}, err
	}
	saved, err := pgx.CollectExactlyOneRow(rows, scanTicket)
	if err != nil {
		return ticket.Ticket{}, err
	}
	for _, e := range events {
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: tenant, PrincipalID: principal, Type: e,
			Resource: saved.Resource(), Before: protoconv.Ticket(before), After: protoconv.Ticket(saved),
		}); err != nil {
			return ticket.Ticket{}, err
		}
	}
	return saved, nil
}

// copyTicket gives a mutation its own slices, maps and times, so the
// "before" of the audit row stays as read.
func copyTicket(t ticket.Ticket) ticket.Ticket {
	c := t
	c.Tags = append([]string{}, t.Tags...)
	c.Attributes = make(map[string]string, len(t.Attributes))
	for k, v := range t.Attributes {
		c.Attributes[k] = v
	}
	return c
}

// Mutate implements ticket.Store. The row lock is the transaction's first
// write, which keeps the ticket's events in order (see pkg/outbox).
func (s *Store) Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m ticket.Mutation) (ticket.Ticket, error) {
	var saved ticket.Ticket
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockTicket(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		t := copyTicket(before)
		event, err := m(&t)
		if err != nil || event == "" {
			saved = before
			return err
		}
		saved, err = save(ctx, tx, caller.TenantID, caller.PrincipalID, before, t, event)
		return err
	})
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("change ticket %s: %w", id, err)
	}
	return saved, nil
}

const transitionByRequestSQL = `
SELECT EXISTS (SELECT 1 FROM ticket_transitions WHERE tenant_id = $1 AND ticket_id = $2 AND request_id = $3)`

const insertTransitionSQL = `
INSERT INTO ticket_transitions (tenant_id, ticket_id, transition_id, from_status, to_status, note, principal_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))`

// Transition implements ticket.Store. The ticket's row lock serialises
// retries of one request_id, so the check before the insert is enough.
func (s *Store) Transition(ctx context.Context, caller auth.Caller, id uuid.UUID, tr ticket.Transition, m func(*ticket.Ticket) error) (ticket.Ticket, error) {
	var saved ticket.Ticket
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockTicket(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		if tr.RequestID != "" {
			var seen bool
			if err := tx.QueryRow(ctx, transitionByRequestSQL, caller.TenantID, id, tr.RequestID).Scan(&seen); err != nil {
				return err
			}
			if seen {
				saved = before
				return nil
			}
		}
		t := copyTicket(before)
		if err := m(&t); err != nil {
			return err
		}
		if saved, err = save(ctx, tx, caller.TenantID, caller.PrincipalID, before, t, ticket.EventTransitioned); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, insertTransitionSQL, caller.TenantID, id, tr.ID, before.Status, saved.Status, tr.Note, tr.PrincipalID, tr.RequestID); err != nil {
			return err
		}
		if tr.Survey == nil {
			return nil
		}
		return createSurvey(ctx, tx, caller.TenantID, caller.PrincipalID, *tr.Survey)
	})
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("transition ticket %s: %w", id, err)
	}
	return saved, nil
}

const transitionColumns = `transition_id, ticket_id, from_status, to_status, note, principal_id, coalesce(request_id, ''), create_time`

func scanTransition(row pgx.CollectableRow) (ticket.Transition, error) {
	var tr ticket.Transition
	err := row.Scan(&tr.ID, &tr.TicketID, &tr.From, &tr.To, &tr.Note, &tr.PrincipalID, &tr.RequestID, &tr.CreateTime)
	return tr, err
}

// listTransitionsSQL pages through a ticket's log along its primary key;
// the first row says whether the ticket exists (RLS hides other tenants').
const listTransitionsSQL = `
SELECT ` + transitionColumns + ` FROM ticket_transitions
WHERE tenant_id = $1 AND ticket_id = $2 AND transition_id > $3
ORDER BY transition_id LIMIT $4`

const ticketExistsSQL = `SELECT EXISTS (SELECT 1 FROM tickets WHERE tenant_id = $1 AND ticket_id = $2)`

type transitionCursor struct {
	ID uuid.UUID `json:"i"`
}

// Transitions implements ticket.Store.
func (s *Store) Transitions(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]ticket.Transition, string, error) {
	var cur transitionCursor
	if pageToken != "" {
		if err := pagetoken.Decode(pageToken, id.String(), &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	exists, err := pgdb.Row(ctx, s.pool, caller.TenantID, ticketExistsSQL, []any{caller.TenantID, id}, pgx.RowTo[bool])
	if err != nil {
		return nil, "", fmt.Errorf("find ticket %s: %w", id, err)
	}
	if !exists {
		return nil, "", ticket.ErrNotFound
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, listTransitionsSQL, []any{caller.TenantID, id, cur.ID, pageSize + 1}, scanTransition)
	if err != nil {
		return nil, "", fmt.Errorf("list transitions of ticket %s: %w", id, err)
	}
	if len(rows) <= pageSize {
		return rows, "", nil
	}
	rows = rows[:pageSize]
	next, err := pagetoken.Encode(id.String(), transitionCursor{ID: rows[pageSize-1].ID})
	return rows, next, err
}

// dueTicketsSQL finds due tickets of every tenant through the
// sla_due_tickets function (ids only; the tickets_sla_next_due index makes
// it a range scan however many tickets are open).
const dueTicketsSQL = `SELECT tenant_id::text, ticket_id FROM sla_due_tickets($1, $2)`

// DueTickets implements ticket.Store.
func (s *Store) DueTickets(ctx context.Context, now time.Time, limit int) ([]ticket.Ref, error) {
	refs, err := pgdb.Rows(ctx, s.pool, "", dueTicketsSQL, []any{now, limit}, func(row pgx.CollectableRow) (ticket.Ref, error) {
		var r ticket.Ref
		return r, row.Scan(&r.TenantID, &r.TicketID)
	})
	if err != nil {
		return nil, fmt.Errorf("find due tickets: %w", err)
	}
	return refs, nil
}

// lockDueSQL skips a ticket another replica is firing, and one that is no
// longer due because it was fired, answered or paused since it was found.
const lockDueSQL = `SELECT ` + ticketColumns + ` FROM tickets
WHERE tenant_id = $1 AND ticket_id = $2 AND sla_next_due <= $3
FOR UPDATE SKIP LOCKED`

// Fire implements ticket.Store.
func (s *Store) Fire(ctx context.Context, ref ticket.Ref, now time.Time, fire func(*ticket.Ticket) []string) (bool, error) {
	fired := false
	err := pgdb.InTx(ctx, s.pool, ref.TenantID, func(tx pgx.Tx) error {
		fired = false
		rows, err := tx.Query(ctx, lockDueSQL, ref.TenantID, ref.TicketID, now)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanTicket)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		t := copyTicket(before)
		events := fire(&t)
		if _, err := save(ctx, tx, ref.TenantID, ticket.WatcherPrincipal, before, t, events...); err != nil {
			return err
		}
		fired = len(events) > 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("fire SLA of ticket %s: %w", ref.TicketID, err)
	}
	return fired, nil
}

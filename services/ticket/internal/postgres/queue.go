package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

const queueColumns = `queue_id, display_name, strategy, calendar_id, escalation_queue_id, create_time, update_time, revision`

func scanQueue(row pgx.CollectableRow) (ticket.Queue, error) {
	var q ticket.Queue
	var cal, esc uuid.NullUUID
	err := row.Scan(&q.ID, &q.DisplayName, &q.Strategy, &cal, &esc, &q.CreateTime, &q.UpdateTime, &q.Revision)
	q.CalendarID, q.EscalationQueueID = cal.UUID, esc.UUID
	return q, err
}

// queueRefError turns a missing calendar or escalation queue into a field
// violation.
func queueRefError(err error) error {
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23503" {
		if constraint == "queues_tenant_id_calendar_id_fkey" {
			return validation.Field("queue.calendar_id", "no such business calendar")
		}
		return validation.Field("queue.escalation_queue_id", "no such queue")
	}
	return err
}

const insertQueueSQL = `
INSERT INTO queues (tenant_id, queue_id, display_name, strategy, calendar_id, escalation_queue_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + queueColumns

const queueByRequestSQL = `SELECT ` + queueColumns + ` FROM queues WHERE tenant_id = $1 AND request_id = $2`

// CreateQueue implements ticket.QueueStore.
func (s *Store) CreateQueue(ctx context.Context, caller auth.Caller, q ticket.Queue, requestID string) (ticket.Queue, error) {
	var saved ticket.Queue
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertQueueSQL,
			[]any{caller.TenantID, q.ID, q.DisplayName, q.Strategy, nullID(q.CalendarID), nullID(q.EscalationQueueID), requestID},
			queueByRequestSQL, []any{caller.TenantID, requestID}, scanQueue)
		if err != nil || !inserted {
			return err
		}
		return record(ctx, tx, caller, ticket.EventQueueCreated, saved.Resource(), nil, protoconv.Queue(saved))
	})
	if err != nil {
		return ticket.Queue{}, fmt.Errorf("create queue: %w", queueRefError(err))
	}
	return saved, nil
}

const queueByIDSQL = `SELECT ` + queueColumns + ` FROM queues WHERE tenant_id = $1 AND queue_id = $2`

// Queue implements ticket.QueueStore.
func (s *Store) Queue(ctx context.Context, caller auth.Caller, id uuid.UUID) (ticket.Queue, error) {
	q, err := pgdb.Row(ctx, s.pool, caller.TenantID, queueByIDSQL, []any{caller.TenantID, id}, scanQueue)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Queue{}, ticket.ErrQueueNotFound
	}
	if err != nil {
		return ticket.Queue{}, fmt.Errorf("get queue %s: %w", id, err)
	}
	return q, nil
}

var listQueues = keyset.Query[ticket.Queue]{
	Table: "queues", Columns: queueColumns, IDColumn: "queue_id", Scan: scanQueue,
	Key: func(q ticket.Queue) (time.Time, uuid.UUID) { return q.CreateTime, q.ID },
}

// ListQueues implements ticket.QueueStore.
func (s *Store) ListQueues(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]ticket.Queue, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, listQueues, "", pageToken, pageSize)
}

func lockQueue(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (ticket.Queue, error) {
	rows, err := tx.Query(ctx, queueByIDSQL+` FOR UPDATE`, tenant, id)
	if err != nil {
		return ticket.Queue{}, err
	}
	q, err := pgx.CollectExactlyOneRow(rows, scanQueue)
	if errors.Is(err, pgx.ErrNoRows) {
		return q, ticket.ErrQueueNotFound
	}
	return q, err
}

const saveQueueSQL = `
UPDATE queues SET display_name = $3, strategy = $4, calendar_id = $5, escalation_queue_id = $6,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND queue_id = $2
RETURNING ` + queueColumns

// MutateQueue implements ticket.QueueStore.
func (s *Store) MutateQueue(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*ticket.Queue) error) (ticket.Queue, error) {
	var saved ticket.Queue
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockQueue(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		q := before
		if err := m(&q); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, saveQueueSQL, caller.TenantID, id, q.DisplayName, q.Strategy, nullID(q.CalendarID), nullID(q.EscalationQueueID))
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanQueue); err != nil {
			return err
		}
		return record(ctx, tx, caller, ticket.EventQueueUpdated, saved.Resource(), protoconv.Queue(before), protoconv.Queue(saved))
	})
	if err != nil {
		return ticket.Queue{}, fmt.Errorf("change queue %s: %w", id, queueRefError(err))
	}
	return saved, nil
}

const memberColumns = `queue_id, principal_id, skills, capacity, calendar_id, level, last_assign_time, create_time`

func scanMember(row pgx.CollectableRow) (ticket.Member, error) {
	var m ticket.Member
	var cal uuid.NullUUID
	err := row.Scan(&m.QueueID, &m.PrincipalID, &m.Skills, &m.Capacity, &cal, &m.Level, &m.LastAssignTime, &m.CreateTime)
	m.CalendarID = cal.UUID
	return m, err
}

const memberSQL = `SELECT ` + memberColumns + ` FROM queue_members WHERE tenant_id = $1 AND queue_id = $2 AND principal_id = $3`

const upsertMemberSQL = `
INSERT INTO queue_members (tenant_id, queue_id, principal_id, skills, capacity, calendar_id, level)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, queue_id, principal_id) DO UPDATE
SET skills = excluded.skills, capacity = excluded.capacity, calendar_id = excluded.calendar_id, level = excluded.level
RETURNING ` + memberColumns

// SetMember implements ticket.QueueStore. The queue's lock orders member
// changes with the assignments that read them.
func (s *Store) SetMember(ctx context.Context, caller auth.Caller, m ticket.Member) (ticket.Member, error) {
	var saved ticket.Member
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := lockQueue(ctx, tx, caller.TenantID, m.QueueID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, memberSQL, caller.TenantID, m.QueueID, m.PrincipalID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanMember)
		existed := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if m.Skills == nil {
			m.Skills = []string{}
		}
		if rows, err = tx.Query(ctx, upsertMemberSQL, caller.TenantID, m.QueueID, m.PrincipalID, m.Skills, m.Capacity,
			nullID(m.CalendarID), m.Level); err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanMember); err != nil {
			return err
		}
		var prev = protoconv.Member(before)
		if !existed {
			prev = nil
		}
		return record(ctx, tx, caller, ticket.EventQueueMemberSet, saved.Resource(), prev, protoconv.Member(saved))
	})
	if code, _, ok := pgdb.Constraint(err); ok && code == "23503" {
		return ticket.Member{}, validation.Field("member.calendar_id", "no such business calendar")
	}
	if err != nil {
		return ticket.Member{}, fmt.Errorf("set member of queue %s: %w", m.QueueID, err)
	}
	return saved, nil
}

const deleteMemberSQL = `DELETE FROM queue_members WHERE tenant_id = $1 AND queue_id = $2 AND principal_id = $3
RETURNING ` + memberColumns

// RemoveMember implements ticket.QueueStore.
func (s *Store) RemoveMember(ctx context.Context, caller auth.Caller, queueID, principalID uuid.UUID) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := lockQueue(ctx, tx, caller.TenantID, queueID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, deleteMemberSQL, caller.TenantID, queueID, principalID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanMember)
		if errors.Is(err, pgx.ErrNoRows) {
			return ticket.ErrMemberNotFound
		}
		if err != nil {
			return err
		}
		return record(ctx, tx, caller, ticket.EventQueueMemberRemoved, before.Resource(), protoconv.Member(before), nil)
	})
	if err != nil {
		return fmt.Errorf("remove member of queue %s: %w", queueID, err)
	}
	return nil
}

const listMembersSQL = `SELECT ` + memberColumns + ` FROM queue_members
WHERE tenant_id = $1 AND queue_id = $2 AND principal_id > $3
ORDER BY principal_id LIMIT $4`

const queueExistsSQL = `SELECT EXISTS (SELECT 1 FROM queues WHERE tenant_id = $1 AND queue_id = $2)`

type idCursor struct {
	ID uuid.UUID `json:"i"`
}

// ListMembers implements ticket.QueueStore.
func (s *Store) ListMembers(ctx context.Context, caller auth.Caller, queueID uuid.UUID, pageSize int, pageToken string) ([]ticket.Member, string, error) {
	var cur idCursor
	if pageToken != "" {
		if err := pagetoken.Decode(pageToken, "members/"+queueID.String(), &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	exists, err := pgdb.Row(ctx, s.pool, caller.TenantID, queueExistsSQL, []any{caller.TenantID, queueID}, pgx.RowTo[bool])
	if err != nil {
		return nil, "", fmt.Errorf("find queue %s: %w", queueID, err)
	}
	if !exists {
		return nil, "", ticket.ErrQueueNotFound
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, listMembersSQL, []any{caller.TenantID, queueID, cur.ID, pageSize + 1}, scanMember)
	if err != nil {
		return nil, "", fmt.Errorf("list members of queue %s: %w", queueID, err)
	}
	if len(rows) <= pageSize {
		return rows, "", nil
	}
	rows = rows[:pageSize]
	next, err := pagetoken.Encode("members/"+queueID.String(), idCursor{ID: rows[pageSize-1].PrincipalID})
	return rows, next, err
}

// candidatesSQL loads a queue's members with their load: the open tickets
// assigned to them in this queue (capacity is per queue, and an agent
// reading them sees every ticket of its own queue).
const candidatesSQL = `
SELECT m.queue_id, m.principal_id, m.skills, m.capacity, m.calendar_id, m.level, m.last_assign_time, m.create_time,
    (SELECT count(*) FROM tickets t
     WHERE t.tenant_id = m.tenant_id AND t.queue_id = m.queue_id AND t.assignee_id = m.principal_id
       AND t.status NOT IN (5, 6))
FROM queue_members m
WHERE m.tenant_id = $1 AND m.queue_id = $2
ORDER BY m.principal_id`

const calendarsSQL = `SELECT ` + calendarColumns + ` FROM business_calendars WHERE tenant_id = $1 AND calendar_id = ANY($2)`

// actForService clears the caller's record-access settings for the rest of
// the transaction. Routing runs so once the caller was authorised (its role
// by the domain, its sight of the ticket by locking it): an agent hands a
// ticket to a queue it is not in, and the load of every candidate counts
// tickets the caller may not see.
const actForServiceSQL = `SELECT set_config('` + pgdb.PrincipalSetting + `', '', true), set_config('` + pgdb.RolesSetting + `', '', true),
set_config('` + pgdb.TeamsSetting + `', '', true), set_config('` + pgdb.PartnerSetting + `', '', true)`

func actForService(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, actForServiceSQL)
	return err
}

// routing locks queue id and loads its candidates with their calendars.
func routing(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (ticket.Routing, error) {
	q, err := lockQueue(ctx, tx, tenant, id)
	if err != nil {
		return ticket.Routing{}, err
	}
	rows, err := tx.Query(ctx, candidatesSQL, tenant, id)
	if err != nil {
		return ticket.Routing{}, err
	}
	cands, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ticket.Candidate, error) {
		var c ticket.Candidate
		var cal uuid.NullUUID
		err := row.Scan(&c.QueueID, &c.PrincipalID, &c.Skills, &c.Capacity, &cal, &c.Level, &c.LastAssignTime, &c.CreateTime, &c.OpenTickets)
		c.CalendarID = cal.UUID
		return c, err
	})
	if err != nil {
		return ticket.Routing{}, err
	}
	ids := []uuid.UUID{}
	if q.CalendarID != uuid.Nil {
		ids = append(ids, q.CalendarID)
	}
	for _, c := range cands {
		if c.CalendarID != uuid.Nil {
			ids = append(ids, c.CalendarID)
		}
	}
	if rows, err = tx.Query(ctx, calendarsSQL, tenant, ids); err != nil {
		return ticket.Routing{}, err
	}
	cals, err := pgx.CollectRows(rows, scanCalendar)
	if err != nil {
		return ticket.Routing{}, err
	}
	byID := map[uuid.UUID]*ticket.Calendar{}
	for i := range cals {
		byID[cals[i].ID] = &cals[i]
	}
	for i := range cands {
		cal := cands[i].CalendarID
		if cal == uuid.Nil {
			cal = q.CalendarID
		}
		cands[i].Calendar = byID[cal]
	}
	return ticket.Routing{Queue: q, Candidates: cands}, nil
}

const touchMemberSQL = `UPDATE queue_members SET last_assign_time = $4 WHERE tenant_id = $1 AND queue_id = $2 AND principal_id = $3`

const insertAssignmentSQL = `
INSERT INTO ticket_assignments (tenant_id, ticket_id, assignment_id, queue_id, assignee_id, previous_assignee_id,
    reason, escalation_level, note, principal_id, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// logAssignment records a, and marks the assignee's turn for round robin.
func logAssignment(ctx context.Context, tx pgx.Tx, tenant string, a ticket.Assignment) error {
	if a.AssigneeID != uuid.Nil {
		if _, err := tx.Exec(ctx, touchMemberSQL, tenant, a.QueueID, a.AssigneeID, a.CreateTime); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, insertAssignmentSQL, tenant, a.TicketID, a.ID, nullID(a.QueueID), nullID(a.AssigneeID),
		nullID(a.PreviousAssigneeID), a.Reason, a.EscalationLevel, a.Note, a.PrincipalID, a.CreateTime)
	return err
}

// Reassign implements ticket.QueueStore.
func (s *Store) Reassign(ctx context.Context, caller auth.Caller, id uuid.UUID, target func(*ticket.Ticket) (uuid.UUID, error), route ticket.Route, event string) (ticket.Ticket, error) {
	var saved ticket.Ticket
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockTicket(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		t := copyTicket(before)
		q, err := target(&t)
		if err != nil {
			return err
		}
		if err := actForService(ctx, tx); err != nil {
			return err
		}
		r, err := routing(ctx, tx, caller.TenantID, q)
		if errors.Is(err, ticket.ErrQueueNotFound) {
			return validation.Field("queue_id", "no such queue")
		}
		if err != nil {
			return err
		}
		a, err := route(&t, r)
		if err != nil {
			return err
		}
		if saved, err = save(ctx, tx, caller.TenantID, caller.PrincipalID, before, t, event); err != nil {
			return err
		}
		return logAssignment(ctx, tx, caller.TenantID, a)
	})
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("assign ticket %s: %w", id, err)
	}
	return saved, nil
}

const assignmentColumns = `assignment_id, ticket_id, queue_id, assignee_id, previous_assignee_id, reason, escalation_level,
note, principal_id, create_time`

func scanAssignment(row pgx.CollectableRow) (ticket.Assignment, error) {
	var a ticket.Assignment
	var q, to, from uuid.NullUUID
	err := row.Scan(&a.ID, &a.TicketID, &q, &to, &from, &a.Reason, &a.EscalationLevel, &a.Note, &a.PrincipalID, &a.CreateTime)
	a.QueueID, a.AssigneeID, a.PreviousAssigneeID = q.UUID, to.UUID, from.UUID
	return a, err
}

const listAssignmentsSQL = `SELECT ` + assignmentColumns + ` FROM ticket_assignments
WHERE tenant_id = $1 AND ticket_id = $2 AND assignment_id > $3
ORDER BY assignment_id LIMIT $4`

// Assignments implements ticket.QueueStore.
func (s *Store) Assignments(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]ticket.Assignment, string, error) {
	return childPage(ctx, s, caller, id, "assignments", listAssignmentsSQL, pageSize, pageToken, scanAssignment,
		func(a ticket.Assignment) uuid.UUID { return a.ID })
}

// childPage pages through rows a ticket owns along their UUIDv7 ids, after
// checking that the caller sees the ticket (RLS hides other tenants' and
// other queues').
func childPage[T any](ctx context.Context, s *Store, caller auth.Caller, id uuid.UUID, kind, sql string, pageSize int, pageToken string,
	scan pgx.RowToFunc[T], key func(T) uuid.UUID) ([]T, string, error) {
	var cur idCursor
	scope := kind + "/" + id.String()
	if pageToken != "" {
		if err := pagetoken.Decode(pageToken, scope, &cur); err != nil {
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
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, []any{caller.TenantID, id, cur.ID, pageSize + 1}, scan)
	if err != nil {
		return nil, "", fmt.Errorf("list %s of ticket %s: %w", kind, id, err)
	}
	if len(rows) <= pageSize {
		return rows, "", nil
	}
	rows = rows[:pageSize]
	next, err := pagetoken.Encode(scope, idCursor{ID: key(rows[pageSize-1])})
	return rows, next, err
}

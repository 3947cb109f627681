package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
)

// keysetQuery is one page of a list ordered by (a time column, a uuid key).
// Every string but the bound args is the store's constant, never caller input.
type keysetQuery[T any] struct {
	sql        string // SELECT … FROM … WHERE <conditions on args>
	args       []any
	timeColumn string
	idColumn   string
	desc       bool
	// binding is what the page token is bound to: the query's parameters.
	binding string
	scan    pgx.RowToFunc[T]
	key     func(T) (time.Time, uuid.UUID)
}

// keysetPage runs q after token and returns up to size rows and the next token.
func keysetPage[T any](ctx context.Context, pool *pgxpool.Pool, tenant string, q keysetQuery[T], token string, size int) ([]T, string, error) {
	cmp, dir := ">", "ASC"
	if q.desc {
		cmp, dir = "<", "DESC"
	}
	sql, args := q.sql, q.args
	if token != "" {
		var cur cursor
		if err := pagetoken.Decode(token, q.binding, &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		sql += fmt.Sprintf(" AND (%s, %s) %s ($%d, $%d)", q.timeColumn, q.idColumn, cmp, len(args)-1, len(args))
	}
	// One row more than the page shows whether another page follows.
	args = append(args, size+1)
	sql += fmt.Sprintf(" ORDER BY %s %s, %s %s LIMIT $%d", q.timeColumn, dir, q.idColumn, dir, len(args))
	rows, err := pgdb.Rows(ctx, pool, tenant, sql, args, q.scan)
	if err != nil || len(rows) <= size {
		return rows, "", err
	}
	rows = rows[:size]
	var cur cursor
	cur.Time, cur.ID = q.key(rows[size-1])
	next, err := pagetoken.Encode(q.binding, cur)
	return rows, next, err
}

// lockAndSave is the shape of every Mutate: lock the row (the transaction's
// first write, which keeps the resource's events in order), let m change
// it, save it and record the change.
func lockAndSave[T any](ctx context.Context, pool *pgxpool.Pool, caller auth.Caller, notFound error,
	lock func(pgx.Tx) (pgx.Rows, error), save func(pgx.Tx, T) (pgx.Rows, error), scan pgx.RowToFunc[T],
	check func(pgx.Tx, T) error, m func(*T) (string, error), change func(before, after T, eventType string) outbox.Change,
) (T, error) {
	var saved T
	err := pgdb.InTx(ctx, pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := lock(tx)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scan)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound
		}
		if err != nil {
			return err
		}
		after := before
		eventType, err := m(&after)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(tx, after); err != nil {
				return err
			}
		}
		if rows, err = save(tx, after); err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scan); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, change(before, saved, eventType))
	})
	return saved, err
}

// interactionVisible and followUpVisible restrict rows to those whose
// customer the caller may see: the customers table's record-level policy
// applies inside the subquery, so a sales rep reaches only the timeline and
// follow-ups of customers it or its team owns.
const (
	interactionVisible = `EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = interactions.tenant_id AND c.customer_id = interactions.customer_id)`
	followUpVisible    = `EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = follow_ups.tenant_id AND c.customer_id = follow_ups.customer_id)`
)

const customerVisibleSQL = `SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND customer_id = $2)`

// checkCustomer fails with ErrCustomerNotFound unless the caller may see the customer.
func checkCustomer(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) error {
	var ok bool
	if err := tx.QueryRow(ctx, customerVisibleSQL, tenant, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return relationship.ErrCustomerNotFound
	}
	return nil
}

// --- interactions

const interactionColumns = `interaction_id, customer_id, kind, direction, channel, occur_time, duration_ms, subject,
notes, outcome, participant_principal_ids, participant_customer_ids, participant_names, latitude, longitude, address,
author_id, create_time, update_time, delete_time, revision`

func scanInteraction(row pgx.CollectableRow) (relationship.Interaction, error) {
	var i relationship.Interaction
	var durationMS int64
	var lat, lon *float64
	var address string
	err := row.Scan(&i.ID, &i.CustomerID, &i.Kind, &i.Direction, &i.Channel, &i.OccurTime, &durationMS, &i.Subject,
		&i.Notes, &i.Outcome, &i.ParticipantPrincipalIDs, &i.ParticipantCustomerIDs, &i.ParticipantNames, &lat, &lon, &address,
		&i.AuthorID, &i.CreateTime, &i.UpdateTime, &i.DeleteTime, &i.Revision)
	i.Duration = time.Duration(durationMS) * time.Millisecond
	if lat != nil && lon != nil {
		i.Location = &relationship.Location{Latitude: *lat, Longitude: *lon, Address: address}
	}
	return i, err
}

// orEmpty keeps a nil slice from becoming NULL in a NOT NULL array column.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// location splits an interaction's location into its nullable columns.
func location(i relationship.Interaction) (lat, lon *float64, address string) {
	if l := i.Location; l != nil {
		return &l.Latitude, &l.Longitude, l.Address
	}
	return nil, nil, ""
}

const insertInteractionSQL = `
INSERT INTO interactions (tenant_id, interaction_id, customer_id, kind, direction, channel, occur_time, duration_ms,
    subject, notes, outcome, participant_principal_ids, participant_customer_ids, participant_names, latitude, longitude,
    address, author_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, nullif($19, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + interactionColumns

const interactionByRequestSQL = `SELECT ` + interactionColumns + ` FROM interactions WHERE tenant_id = $1 AND request_id = $2`

// CreateInteraction implements relationship.Store.
func (s *Store) CreateInteraction(ctx context.Context, caller auth.Caller, i relationship.Interaction, requestID string) (relationship.Interaction, error) {
	var saved relationship.Interaction
	lat, lon, address := location(i)
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if err := checkCustomer(ctx, tx, caller.TenantID, i.CustomerID); err != nil {
			return err
		}
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertInteractionSQL,
			[]any{caller.TenantID, i.ID, i.CustomerID, i.Kind, i.Direction, i.Channel, i.OccurTime, i.Duration.Milliseconds(),
				i.Subject, i.Notes, i.Outcome, orEmpty(i.ParticipantPrincipalIDs), orEmpty(i.ParticipantCustomerIDs), orEmpty(i.ParticipantNames),
				lat, lon, address, i.AuthorID, requestID},
			interactionByRequestSQL, []any{caller.TenantID, requestID}, scanInteraction)
		if code, _, ok := pgdb.Constraint(err); ok && code == "23503" {
			return relationship.ErrCustomerNotFound
		}
		if err != nil || !created {
			return err
		}
		if err := refreshLastInteraction(ctx, tx, caller.TenantID, saved); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: relationship.EventInteractionCreated,
			Resource: saved.Resource(), After: protoconv.Interaction(saved),
		})
	})
	if err != nil {
		return relationship.Interaction{}, fmt.Errorf("create interaction: %w", err)
	}
	return saved, nil
}

const interactionByIDSQL = `SELECT ` + interactionColumns + ` FROM interactions
WHERE tenant_id = $1 AND customer_id = $2 AND interaction_id = $3 AND ` + interactionVisible

// Interaction implements relationship.Store.
func (s *Store) Interaction(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (relationship.Interaction, error) {
	i, err := pgdb.Row(ctx, s.pool, caller.TenantID, interactionByIDSQL, []any{caller.TenantID, customerID, id}, scanInteraction)
	if errors.Is(err, pgx.ErrNoRows) {
		return relationship.Interaction{}, relationship.ErrInteractionNotFound
	}
	if err != nil {
		return relationship.Interaction{}, fmt.Errorf("get interaction %s: %w", id, err)
	}
	return i, nil
}

// Interactions implements relationship.Store: newest occur_time first, on
// the interactions_timeline (or, with a kind, interactions_kind) index.
func (s *Store) Interactions(ctx context.Context, caller auth.Caller, q relationship.InteractionQuery) (relationship.InteractionPage, error) {
	args := []any{caller.TenantID, q.CustomerID}
	sql := `SELECT ` + interactionColumns + ` FROM interactions WHERE tenant_id = $1 AND customer_id = $2 AND ` + interactionVisible
	if q.Kind != relationship.KindUnspecified {
		args = append(args, q.Kind)
		sql += fmt.Sprintf(" AND kind = $%d", len(args))
	}
	if q.Start != nil {
		args = append(args, *q.Start)
		sql += fmt.Sprintf(" AND occur_time >= $%d", len(args))
	}
	if q.End != nil {
		args = append(args, *q.End)
		sql += fmt.Sprintf(" AND occur_time < $%d", len(args))
	}
	if !q.ShowDeleted {
		sql += " AND delete_time IS NULL"
	}
	rows, next, err := keysetPage(ctx, s.pool, caller.TenantID, keysetQuery[relationship.Interaction]{
		sql: sql, args: args, timeColumn: "occur_time", idColumn: "interaction_id", desc: true,
		binding: fmt.Sprintf("interactions|%s|%d|%v|%v|%t", q.CustomerID, q.Kind, q.Start, q.End, q.ShowDeleted),
		scan:    scanInteraction,
		key:     func(i relationship.Interaction) (time.Time, uuid.UUID) { return i.OccurTime, i.ID },
	}, q.PageToken, q.PageSize)
	if err != nil {
		return relationship.InteractionPage{}, fmt.Errorf("list interactions: %w", err)
	}
	return relationship.InteractionPage{Interactions: rows, NextPageToken: next}, nil
}

const lockInteractionSQL = interactionByIDSQL + ` FOR UPDATE`

const saveInteractionSQL = `
UPDATE interactions SET kind = $3, direction = $4, channel = $5, occur_time = $6, duration_ms = $7, subject = $8,
    notes = $9, outcome = $10, participant_principal_ids = $11, participant_customer_ids = $12, participant_names = $13,
    latitude = $14, longitude = $15, address = $16, delete_time = $17, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND interaction_id = $2
RETURNING ` + interactionColumns

// refreshLastInteractionSQL sets the customer's last_interaction_time to
// the latest occur_time of its live interactions, taking interaction $3 as
// it is about to be saved ($4 its occur_time, $5 whether it is deleted):
// the mutation refreshes before its UPDATE runs.
const refreshLastInteractionSQL = `
UPDATE customers SET last_interaction_time = (
    SELECT max(t) FROM (
        SELECT occur_time FROM interactions
        WHERE tenant_id = $1 AND customer_id = $2 AND interaction_id <> $3 AND delete_time IS NULL
        UNION ALL SELECT $4::timestamptz WHERE NOT $5
    ) x(t))
WHERE tenant_id = $1 AND customer_id = $2`

// refreshLastInteraction keeps the customer's last_interaction_time in the
// transaction that writes i. It changes neither the customer's revision nor
// its update_time: the field is derived, and an etag read before the
// interaction must still update the customer.
func refreshLastInteraction(ctx context.Context, tx pgx.Tx, tenant string, i relationship.Interaction) error {
	if _, err := tx.Exec(ctx, refreshLastInteractionSQL, tenant, i.CustomerID, i.ID, i.OccurTime, i.DeleteTime != nil); err != nil {
		return fmt.Errorf("refresh last interaction: %w", err)
	}
	return nil
}

// MutateInteraction implements relationship.Store.
func (s *Store) MutateInteraction(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, m relationship.InteractionMutation) (relationship.Interaction, error) {
	saved, err := lockAndSave(ctx, s.pool, caller, relationship.ErrInteractionNotFound,
		func(tx pgx.Tx) (pgx.Rows, error) {
			return tx.Query(ctx, lockInteractionSQL, caller.TenantID, customerID, id)
		},
		func(tx pgx.Tx, i relationship.Interaction) (pgx.Rows, error) {
			lat, lon, address := location(i)
			return tx.Query(ctx, saveInteractionSQL, caller.TenantID, id, i.Kind, i.Direction, i.Channel, i.OccurTime,
				i.Duration.Milliseconds(), i.Subject, i.Notes, i.Outcome, orEmpty(i.ParticipantPrincipalIDs), orEmpty(i.ParticipantCustomerIDs),
				orEmpty(i.ParticipantNames), lat, lon, address, i.DeleteTime)
		},
		scanInteraction,
		func(tx pgx.Tx, i relationship.Interaction) error {
			return refreshLastInteraction(ctx, tx, caller.TenantID, i)
		},
		m,
		func(before, after relationship.Interaction, eventType string) outbox.Change {
			return outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: eventType,
				Resource: after.Resource(), Before: protoconv.Interaction(before), After: protoconv.Interaction(after)}
		})
	if err != nil {
		return relationship.Interaction{}, fmt.Errorf("change interaction %s: %w", id, err)
	}
	return saved, nil
}

// --- follow-ups

const followUpColumns = `follow_up_id, customer_id, title, notes, assignee_id, due_time, remind_time, status, outcome,
close_time, interaction_id, follow_up_plan_id, source_event_id, source_event_type, create_time, update_time, revision`

func scanFollowUp(row pgx.CollectableRow) (relationship.FollowUp, error) {
	var f relationship.FollowUp
	err := row.Scan(&f.ID, &f.CustomerID, &f.Title, &f.Notes, &f.AssigneeID, &f.DueTime, &f.RemindTime, &f.Status, &f.Outcome,
		&f.CloseTime, &f.InteractionID, &f.PlanID, &f.SourceEventID, &f.SourceEventType, &f.CreateTime, &f.UpdateTime, &f.Revision)
	return f, err
}

const insertFollowUpColumns = `INSERT INTO follow_ups (tenant_id, follow_up_id, customer_id, title, notes, assignee_id,
    due_time, remind_time, status, follow_up_plan_id, source_event_id, source_event_type, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, nullif($13, ''))`

const insertFollowUpSQL = insertFollowUpColumns + `
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + followUpColumns

// insertPlannedSQL skips a follow-up that its plan already made for its
// event: the runner may read an event more than once.
const insertPlannedSQL = insertFollowUpColumns + `
ON CONFLICT (tenant_id, follow_up_plan_id, source_event_id) WHERE follow_up_plan_id IS NOT NULL DO NOTHING
RETURNING ` + followUpColumns

const followUpByRequestSQL = `SELECT ` + followUpColumns + ` FROM follow_ups WHERE tenant_id = $1 AND request_id = $2`

func followUpArgs(tenant string, f relationship.FollowUp, requestID string) []any {
	return []any{tenant, f.ID, f.CustomerID, f.Title, f.Notes, f.AssigneeID, f.DueTime, f.RemindTime, f.Status,
		f.PlanID, f.SourceEventID, f.SourceEventType, requestID}
}

// CreateFollowUp implements relationship.Store.
func (s *Store) CreateFollowUp(ctx context.Context, caller auth.Caller, f relationship.FollowUp, requestID string) (relationship.FollowUp, error) {
	var saved relationship.FollowUp
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if err := checkCustomer(ctx, tx, caller.TenantID, f.CustomerID); err != nil {
			return err
		}
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertFollowUpSQL, followUpArgs(caller.TenantID, f, requestID),
			followUpByRequestSQL, []any{caller.TenantID, requestID}, scanFollowUp)
		if code, _, ok := pgdb.Constraint(err); ok && code == "23503" {
			return relationship.ErrCustomerNotFound
		}
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: relationship.EventFollowUpCreated,
			Resource: saved.Resource(), After: protoconv.FollowUp(saved),
		})
	})
	if err != nil {
		return relationship.FollowUp{}, fmt.Errorf("create follow-up: %w", err)
	}
	return saved, nil
}

const followUpByIDSQL = `SELECT ` + followUpColumns + ` FROM follow_ups WHERE tenant_id = $1 AND follow_up_id = $2 AND ` + followUpVisible

// FollowUp implements relationship.Store.
func (s *Store) FollowUp(ctx context.Context, caller auth.Caller, id uuid.UUID) (relationship.FollowUp, error) {
	f, err := pgdb.Row(ctx, s.pool, caller.TenantID, followUpByIDSQL, []any{caller.TenantID, id}, scanFollowUp)
	if errors.Is(err, pgx.ErrNoRows) {
		return relationship.FollowUp{}, relationship.ErrFollowUpNotFound
	}
	if err != nil {
		return relationship.FollowUp{}, fmt.Errorf("get follow-up %s: %w", id, err)
	}
	return f, nil
}

func followUpKey(f relationship.FollowUp) (time.Time, uuid.UUID) { return f.DueTime, f.ID }

// FollowUps implements relationship.Store: earliest due first, on the
// follow_ups_*_due index of the most selective filter.
func (s *Store) FollowUps(ctx context.Context, caller auth.Caller, q relationship.FollowUpQuery) (relationship.FollowUpPage, error) {
	args := []any{caller.TenantID}
	sql := `SELECT ` + followUpColumns + ` FROM follow_ups WHERE tenant_id = $1 AND ` + followUpVisible
	add := func(cond string, v any) {
		args = append(args, v)
		sql += fmt.Sprintf(" AND "+cond, len(args))
	}
	if q.CustomerID != nil {
		add("customer_id = $%d", *q.CustomerID)
	}
	if q.AssigneeID != nil {
		add("assignee_id = $%d", *q.AssigneeID)
	}
	if q.Status != relationship.StatusUnspecified {
		add("status = $%d", q.Status)
	}
	if q.DueStart != nil {
		add("due_time >= $%d", *q.DueStart)
	}
	if q.DueEnd != nil {
		add("due_time < $%d", *q.DueEnd)
	}
	rows, next, err := keysetPage(ctx, s.pool, caller.TenantID, keysetQuery[relationship.FollowUp]{
		sql: sql, args: args, timeColumn: "due_time", idColumn: "follow_up_id",
		binding: fmt.Sprintf("follow-ups|%v|%v|%d|%v|%v", q.CustomerID, q.AssigneeID, q.Status, q.DueStart, q.DueEnd),
		scan:    scanFollowUp, key: followUpKey,
	}, q.PageToken, q.PageSize)
	if err != nil {
		return relationship.FollowUpPage{}, fmt.Errorf("list follow-ups: %w", err)
	}
	return relationship.FollowUpPage{FollowUps: rows, NextPageToken: next}, nil
}

// OverdueFollowUps implements relationship.Store on the follow_ups_overdue index.
func (s *Store) OverdueFollowUps(ctx context.Context, caller auth.Caller, assignee uuid.UUID, now time.Time, size int, token string) (relationship.FollowUpPage, error) {
	rows, next, err := keysetPage(ctx, s.pool, caller.TenantID, keysetQuery[relationship.FollowUp]{
		sql: `SELECT ` + followUpColumns + ` FROM follow_ups
WHERE tenant_id = $1 AND assignee_id = $2 AND status = $3 AND due_time < $4 AND ` + followUpVisible,
		args:       []any{caller.TenantID, assignee, relationship.StatusOpen, now},
		timeColumn: "due_time", idColumn: "follow_up_id",
		binding: "overdue|" + assignee.String(),
		scan:    scanFollowUp, key: followUpKey,
	}, token, size)
	if err != nil {
		return relationship.FollowUpPage{}, fmt.Errorf("list overdue follow-ups: %w", err)
	}
	return relationship.FollowUpPage{FollowUps: rows, NextPageToken: next}, nil
}

const lockFollowUpSQL = followUpByIDSQL + ` FOR UPDATE`

const saveFollowUpSQL = `
UPDATE follow_ups SET title = $3, notes = $4, assignee_id = $5, due_time = $6, remind_time = $7, status = $8,
    outcome = $9, close_time = $10, interaction_id = $11, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND follow_up_id = $2
RETURNING ` + followUpColumns

const customerInteractionSQL = `SELECT EXISTS (SELECT 1 FROM interactions WHERE tenant_id = $1 AND interaction_id = $2 AND customer_id = $3)`

// MutateFollowUp implements relationship.Store.
func (s *Store) MutateFollowUp(ctx context.Context, caller auth.Caller, id uuid.UUID, m relationship.FollowUpMutation) (relationship.FollowUp, error) {
	saved, err := lockAndSave(ctx, s.pool, caller, relationship.ErrFollowUpNotFound,
		func(tx pgx.Tx) (pgx.Rows, error) { return tx.Query(ctx, lockFollowUpSQL, caller.TenantID, id) },
		func(tx pgx.Tx, f relationship.FollowUp) (pgx.Rows, error) {
			return tx.Query(ctx, saveFollowUpSQL, caller.TenantID, id, f.Title, f.Notes, f.AssigneeID, f.DueTime, f.RemindTime,
				f.Status, f.Outcome, f.CloseTime, f.InteractionID)
		},
		scanFollowUp,
		func(tx pgx.Tx, f relationship.FollowUp) error {
			if f.InteractionID == nil {
				return nil
			}
			var ok bool
			if err := tx.QueryRow(ctx, customerInteractionSQL, caller.TenantID, *f.InteractionID, f.CustomerID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return relationship.ErrInteractionNotFound
			}
			return nil
		},
		m,
		func(before, after relationship.FollowUp, eventType string) outbox.Change {
			return outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: eventType,
				Resource: after.Resource(), Before: protoconv.FollowUp(before), After: protoconv.FollowUp(after)}
		})
	if err != nil {
		return relationship.FollowUp{}, fmt.Errorf("change follow-up %s: %w", id, err)
	}
	return saved, nil
}

// --- plans

const planColumns = `follow_up_plan_id, display_name, event_source, event_type, delay_ms, remind_before_ms, title, notes,
assignee_rule, assignee_id, active, active_time, create_time, update_time, delete_time, revision`

func scanPlan(row pgx.CollectableRow) (relationship.Plan, error) {
	var p relationship.Plan
	var delay, remind int64
	err := row.Scan(&p.ID, &p.DisplayName, &p.Source, &p.EventType, &delay, &remind, &p.Title, &p.Notes,
		&p.AssigneeRule, &p.AssigneeID, &p.Active, &p.ActiveTime, &p.CreateTime, &p.UpdateTime, &p.DeleteTime, &p.Revision)
	p.Delay, p.RemindBefore = time.Duration(delay)*time.Millisecond, time.Duration(remind)*time.Millisecond
	return p, err
}

const insertPlanSQL = `
INSERT INTO follow_up_plans (tenant_id, follow_up_plan_id, display_name, event_source, event_type, delay_ms,
    remind_before_ms, title, notes, assignee_rule, assignee_id, active, active_time, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, nullif($14, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + planColumns

const planByRequestSQL = `SELECT ` + planColumns + ` FROM follow_up_plans WHERE tenant_id = $1 AND request_id = $2`

// CreatePlan implements relationship.Store.
func (s *Store) CreatePlan(ctx context.Context, caller auth.Caller, p relationship.Plan, requestID string) (relationship.Plan, error) {
	var saved relationship.Plan
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertPlanSQL,
			[]any{caller.TenantID, p.ID, p.DisplayName, p.Source, p.EventType, p.Delay.Milliseconds(), p.RemindBefore.Milliseconds(),
				p.Title, p.Notes, p.AssigneeRule, p.AssigneeID, p.Active, p.ActiveTime, requestID},
			planByRequestSQL, []any{caller.TenantID, requestID}, scanPlan)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: relationship.EventPlanCreated,
			Resource: saved.Resource(), After: protoconv.Plan(saved),
		})
	})
	if err != nil {
		return relationship.Plan{}, fmt.Errorf("create follow-up plan: %w", err)
	}
	return saved, nil
}

const planByIDSQL = `SELECT ` + planColumns + ` FROM follow_up_plans WHERE tenant_id = $1 AND follow_up_plan_id = $2`

// Plan implements relationship.Store.
func (s *Store) Plan(ctx context.Context, caller auth.Caller, id uuid.UUID) (relationship.Plan, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, planByIDSQL, []any{caller.TenantID, id}, scanPlan)
	if errors.Is(err, pgx.ErrNoRows) {
		return relationship.Plan{}, relationship.ErrPlanNotFound
	}
	if err != nil {
		return relationship.Plan{}, fmt.Errorf("get follow-up plan %s: %w", id, err)
	}
	return p, nil
}

// Plans implements relationship.Store: newest first.
func (s *Store) Plans(ctx context.Context, caller auth.Caller, q relationship.PlanQuery) (relationship.PlanPage, error) {
	sql := `SELECT ` + planColumns + ` FROM follow_up_plans WHERE tenant_id = $1`
	if !q.ShowDeleted {
		sql += " AND delete_time IS NULL"
	}
	rows, next, err := keysetPage(ctx, s.pool, caller.TenantID, keysetQuery[relationship.Plan]{
		sql: sql, args: []any{caller.TenantID}, timeColumn: "create_time", idColumn: "follow_up_plan_id", desc: true,
		binding: fmt.Sprintf("plans|%t", q.ShowDeleted),
		scan:    scanPlan,
		key:     func(p relationship.Plan) (time.Time, uuid.UUID) { return p.CreateTime, p.ID },
	}, q.PageToken, q.PageSize)
	if err != nil {
		return relationship.PlanPage{}, fmt.Errorf("list follow-up plans: %w", err)
	}
	return relationship.PlanPage{Plans: rows, NextPageToken: next}, nil
}

const savePlanSQL = `
UPDATE follow_up_plans SET display_name = $3, event_source = $4, event_type = $5, delay_ms = $6, remind_before_ms = $7,
    title = $8, notes = $9, assignee_rule = $10, assignee_id = $11, active = $12, active_time = $13, delete_time = $14,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND follow_up_plan_id = $2
RETURNING ` + planColumns

// MutatePlan implements relationship.Store.
func (s *Store) MutatePlan(ctx context.Context, caller auth.Caller, id uuid.UUID, m relationship.PlanMutation) (relationship.Plan, error) {
	saved, err := lockAndSave(ctx, s.pool, caller, relationship.ErrPlanNotFound,
		func(tx pgx.Tx) (pgx.Rows, error) {
			return tx.Query(ctx, planByIDSQL+` FOR UPDATE`, caller.TenantID, id)
		},
		func(tx pgx.Tx, p relationship.Plan) (pgx.Rows, error) {
			return tx.Query(ctx, savePlanSQL, caller.TenantID, id, p.DisplayName, p.Source, p.EventType, p.Delay.Milliseconds(),
				p.RemindBefore.Milliseconds(), p.Title, p.Notes, p.AssigneeRule, p.AssigneeID, p.Active, p.ActiveTime, p.DeleteTime)
		},
		scanPlan, nil, m,
		func(before, after relationship.Plan, eventType string) outbox.Change {
			return outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: eventType,
				Resource: after.Resource(), Before: protoconv.Plan(before), After: protoconv.Plan(after)}
		})
	if err != nil {
		return relationship.Plan{}, fmt.Errorf("change follow-up plan %s: %w", id, err)
	}
	return saved, nil
}

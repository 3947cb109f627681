package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
)

// PlanTenants implements relationship.PlanStore through the
// follow_up_plan_tenants function: the runner cannot see across tenants.
func (s *Store) PlanTenants(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT follow_up_plan_tenants()`)
	if err != nil {
		return nil, fmt.Errorf("list plan tenants: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list plan tenants: %w", err)
	}
	return tenants, nil
}

// tenantPage is how many tenants one call of operator_list_tenants returns.
const tenantPage = 1000

// Tenants implements relationship.PlanStore through operator_list_tenants,
// which sees every tenant (the table itself is isolated per tenant).
func (s *Store) Tenants(ctx context.Context) ([]uuid.UUID, error) {
	var out []uuid.UUID
	var after uuid.UUID
	for {
		page, err := pgdb.Rows(ctx, s.pool, "", `SELECT tenant_id FROM operator_list_tenants($1, $2)`,
			[]any{after, tenantPage}, pgx.RowTo[uuid.UUID])
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		out = append(out, page...)
		if len(page) < tenantPage {
			return out, nil
		}
		after = page[len(page)-1]
	}
}

const checkpointSQL = `SELECT cursor FROM plan_checkpoints WHERE tenant_id = $1 AND source = $2`

// Checkpoint implements relationship.PlanStore.
func (s *Store) Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error) {
	cursor, err := pgdb.Row(ctx, s.pool, tenant.String(), checkpointSQL, []any{tenant, source}, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s checkpoint: %w", source, err)
	}
	return cursor, nil
}

const triggeredPlansSQL = `SELECT ` + planColumns + ` FROM follow_up_plans
WHERE tenant_id = $1 AND event_source = $2 AND event_type = $3 AND active AND delete_time IS NULL`

// TriggeredPlans implements relationship.PlanStore on the follow_up_plans_trigger index.
func (s *Store) TriggeredPlans(ctx context.Context, tenant uuid.UUID, source relationship.Source, eventType string) ([]relationship.Plan, error) {
	plans, err := pgdb.Rows(ctx, s.pool, tenant.String(), triggeredPlansSQL, []any{tenant, source, eventType}, scanPlan)
	if err != nil {
		return nil, fmt.Errorf("plans for %s: %w", eventType, err)
	}
	return plans, nil
}

const customerOwnerSQL = `SELECT owner_id FROM customers WHERE tenant_id = $1 AND customer_id = $2 AND delete_time IS NULL`

// CustomerOwner implements relationship.PlanStore; a soft-deleted customer
// counts as not found, so it gets no new follow-ups.
func (s *Store) CustomerOwner(ctx context.Context, tenant, customer uuid.UUID) (*uuid.UUID, bool, error) {
	owner, err := pgdb.Row(ctx, s.pool, tenant.String(), customerOwnerSQL, []any{tenant, customer}, pgx.RowTo[*uuid.UUID])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("customer %s: %w", customer, err)
	}
	return owner, true, nil
}

const saveCheckpointSQL = `
INSERT INTO plan_checkpoints (tenant_id, source, cursor) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, source) DO UPDATE SET cursor = excluded.cursor, update_time = now()`

// SchedulePlanned implements relationship.PlanStore.
func (s *Store) SchedulePlanned(ctx context.Context, tenant uuid.UUID, source, cursor string, followUps []relationship.FollowUp) (int, error) {
	created := 0
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		created = 0
		for _, f := range followUps {
			// A plan's follow-up is unique per plan and event; one without
			// a plan (a detractor's) per request id.
			insert := insertPlannedSQL
			if f.PlanID == nil {
				insert = insertFollowUpSQL
			}
			rows, err := tx.Query(ctx, insert, followUpArgs(tenant.String(), f, f.RequestID)...)
			if err != nil {
				return err
			}
			saved, err := pgx.CollectExactlyOneRow(rows, scanFollowUp)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // made when this event (or answer) was read before
			}
			if err != nil {
				return err
			}
			created++
			if err := outbox.Record(ctx, tx, outbox.Change{
				TenantID: tenant.String(), PrincipalID: relationship.SystemPrincipal, Type: relationship.EventFollowUpCreated,
				Resource: saved.Resource(), After: protoconv.FollowUp(saved),
			}); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, saveCheckpointSQL, tenant, source, cursor)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("schedule planned follow-ups: %w", err)
	}
	return created, nil
}

// OutboxEvents is the customer service's own event stream as a plan
// source, read in-process from the outbox.
type OutboxEvents struct {
	store *Store
	poll  time.Duration
	log   *slog.Logger
}

// OutboxEvents returns the store's outbox as a source polled every poll.
func (s *Store) OutboxEvents(poll time.Duration, log *slog.Logger) OutboxEvents {
	return OutboxEvents{store: s, poll: poll, log: log}
}

// Source implements relationship.EventSource.
func (OutboxEvents) Source() relationship.Source { return relationship.SourceCustomer }

// Follow implements relationship.EventSource. A payload that cannot be
// decoded is logged and passed on without a customer: it triggers nothing,
// and stopping at it would stall every plan of the tenant.
func (o OutboxEvents) Follow(ctx context.Context, tenant uuid.UUID, cursor string, fn func(relationship.Event) error) error {
	return outbox.Watch(ctx, o.store.pool, tenant.String(), cursor, nil, o.poll, func(e outbox.Event) error {
		customer, err := protoconv.EventCustomerID(e.PayloadType, e.Payload)
		if err != nil {
			o.log.ErrorContext(ctx, "follow-up plans: undecodable event", "source", "customer", "event_id", e.EventID.String(), "error", err.Error())
		}
		return fn(relationship.Event{ID: e.EventID, Cursor: e.Cursor, Type: e.Type, Time: e.Time, PrincipalID: e.PrincipalID, CustomerID: customer})
	})
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/ruleaction"
)

const (
	dueActionTenantsSQL = `SELECT tenant_id FROM rule_action_due_tenants($1)`
	claimActionsSQL     = `
WITH claimed AS (
    UPDATE rule_actions a SET attempts = attempts + 1, next_time = now() + $3 * interval '1 millisecond'
    FROM (
        SELECT action_id FROM rule_actions
        WHERE tenant_id = $1 AND state = 1 AND next_time <= now()
        ORDER BY next_time LIMIT $2 FOR UPDATE SKIP LOCKED
    ) due
    WHERE a.tenant_id = $1 AND a.action_id = due.action_id
    RETURNING a.tenant_id, a.action_id, a.execution_id, a.rule_id, a.event_id, a.kind, a.request, a.request_id, a.attempts
)
SELECT c.tenant_id, c.action_id, c.execution_id, c.rule_id, c.event_id, c.kind, c.request, c.request_id, c.attempts,
    coalesce(e.trace_parent, '')
FROM claimed c LEFT JOIN webhook_events e ON e.tenant_id = c.tenant_id AND e.event_id = c.event_id`
	finishActionSQL = `
UPDATE rule_actions SET state = 2, result_resource = $3, last_error = '', finish_time = now()
WHERE tenant_id = $1 AND action_id = $2 AND state = 1`
	failActionSQL = `
UPDATE rule_actions SET state = 3, last_error = $3, finish_time = now()
WHERE tenant_id = $1 AND action_id = $2 AND state = 1`
	retryActionSQL = `
UPDATE rule_actions SET last_error = $3, next_time = $4 WHERE tenant_id = $1 AND action_id = $2 AND state = 1`
	// failExecutionSQL appends the failure to the execution's detail.
	failExecutionSQL = `
UPDATE rule_executions SET outcome = $3,
    detail = CASE WHEN detail = '' THEN $4 ELSE detail || '; ' || $4 END
WHERE tenant_id = $1 AND execution_id = $2`
	// settleExecutionSQL marks a pending execution SUCCEEDED once no action
	// of it is left to run.
	settleExecutionSQL = `
UPDATE rule_executions x SET outcome = $3
WHERE x.tenant_id = $1 AND x.execution_id = $2 AND x.outcome = $4
  AND NOT EXISTS (SELECT 1 FROM rule_actions a WHERE a.tenant_id = $1 AND a.execution_id = $2 AND a.state = 1)`
)

// DueActionTenants implements ruleaction.Store.
func (s *Store) DueActionTenants(ctx context.Context, limit int) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, dueActionTenantsSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("due action tenants: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// ClaimActions implements ruleaction.Store.
func (s *Store) ClaimActions(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]ruleaction.Job, error) {
	var jobs []ruleaction.Job
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, claimActionsSQL, tenant, limit, lease.Milliseconds())
		if err != nil {
			return err
		}
		jobs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ruleaction.Job, error) {
			var j ruleaction.Job
			return j, r.Scan(&j.TenantID, &j.ActionID, &j.ExecutionID, &j.RuleID, &j.EventID, &j.Kind, &j.Request, &j.RequestID, &j.Attempt,
				&j.TraceParent)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim rule actions: %w", err)
	}
	return jobs, nil
}

// FinishAction implements ruleaction.Store.
func (s *Store) FinishAction(ctx context.Context, j ruleaction.Job, resource string) error {
	err := pgdb.InTx(ctx, s.pool, j.TenantID.String(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, finishActionSQL, j.TenantID, j.ActionID, resource); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, settleExecutionSQL, j.TenantID, j.ExecutionID, rule.Succeeded, rule.Pending)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish rule action %s: %w", j.ActionID, err)
	}
	return nil
}

// FailAction implements ruleaction.Store.
func (s *Store) FailAction(ctx context.Context, j ruleaction.Job, detail string) error {
	err := pgdb.InTx(ctx, s.pool, j.TenantID.String(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, failActionSQL, j.TenantID, j.ActionID, detail)
		if err != nil || tag.RowsAffected() == 0 {
			return err // settled already by the worker that held it before
		}
		_, err = tx.Exec(ctx, failExecutionSQL, j.TenantID, j.ExecutionID, rule.Failed, detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("fail rule action %s: %w", j.ActionID, err)
	}
	return nil
}

// RetryAction implements ruleaction.Store.
func (s *Store) RetryAction(ctx context.Context, j ruleaction.Job, detail string, at time.Time) error {
	err := pgdb.InTx(ctx, s.pool, j.TenantID.String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, retryActionSQL, j.TenantID, j.ActionID, detail, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("retry rule action %s: %w", j.ActionID, err)
	}
	return nil
}

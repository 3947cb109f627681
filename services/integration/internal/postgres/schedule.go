package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/scheduler"
)

const runColumns = `run_id, rule_id, rule_version, trigger, state, selected, fired, detail, create_time, end_time`

func scanRun(row pgx.CollectableRow) (rule.Run, error) {
	var u rule.Run
	return u, row.Scan(&u.ID, &u.RuleID, &u.RuleVersion, &u.Trigger, &u.State, &u.Selected, &u.Fired, &u.Detail, &u.StartTime, &u.EndTime)
}

const (
	// insertRunSQL starts a run unless the rule has one in progress (the
	// partial unique index rule_runs_one_running). Its lease has run out
	// at once, so the next claim picks it up.
	insertRunSQL = `
INSERT INTO rule_runs (tenant_id, run_id, rule_id, rule_version, trigger, state, query, lease_until)
VALUES ($1, $2, $3, $4, $5, 1, $6, now())
ON CONFLICT (tenant_id, rule_id) WHERE state = 1 DO NOTHING
RETURNING ` + runColumns
	dueRulesSQL = `SELECT ` + ruleColumns + ` FROM rules
WHERE tenant_id = $1 AND enabled AND schedule IS NOT NULL AND next_run_time <= now()
ORDER BY next_run_time LIMIT $2 FOR UPDATE SKIP LOCKED`
	setNextRunSQL = `UPDATE rules SET next_run_time = $3 WHERE tenant_id = $1 AND rule_id = $2`
	// claimRunsSQL leases the runs whose lease ran out (new ones, and those
	// of a scheduler that died) to owner $3 for $4 seconds.
	claimRunsSQL = `
UPDATE rule_runs SET lease_until = now() + make_interval(secs => $4), lease_owner = $3
WHERE tenant_id = $1 AND run_id IN (
    SELECT run_id FROM rule_runs WHERE tenant_id = $1 AND state = 1 AND lease_until <= now()
    ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING run_id, rule_id, query, page_token, coalesce((
    SELECT (r.selection->>'collection')::integer FROM rules r
    WHERE r.tenant_id = rule_runs.tenant_id AND r.rule_id = rule_runs.rule_id), 0)`
	lockRunSQL = `SELECT run_id FROM rule_runs WHERE tenant_id = $1 AND run_id = $2 AND state = 1 AND lease_owner = $3 FOR UPDATE`
	firingsSQL = `SELECT resource, rule_version, episode FROM rule_firings WHERE tenant_id = $1 AND rule_id = $2 AND resource = ANY($3)`
	seenSQL    = `
INSERT INTO rule_firings (tenant_id, rule_id, resource, rule_version, episode, seen_run_id)
SELECT $1, $2, unnest($3::text[]), 0, '', $4
ON CONFLICT (tenant_id, rule_id, resource) DO UPDATE SET seen_run_id = excluded.seen_run_id`
	firedSQL = `
INSERT INTO rule_firings (tenant_id, rule_id, resource, rule_version, episode, seen_run_id) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, rule_id, resource) DO UPDATE
SET rule_version = excluded.rule_version, episode = excluded.episode, seen_run_id = excluded.seen_run_id, fire_time = now()`
	advanceRunSQL = `
UPDATE rule_runs SET page_token = $3, selected = selected + $4, fired = fired + $5, lease_until = now() + make_interval(secs => $6)
WHERE tenant_id = $1 AND run_id = $2`
	// sweepSQL ends the episodes of the resources a complete run did not
	// select: they fire again when they are selected again.
	sweepSQL  = `DELETE FROM rule_firings WHERE tenant_id = $1 AND rule_id = $2 AND seen_run_id <> $3`
	endRunSQL = `
UPDATE rule_runs SET state = $3, detail = $4, end_time = now(), lease_owner = NULL
WHERE tenant_id = $1 AND run_id = $2 AND state = 1
RETURNING ` + runColumns
	failRunSQL = `
UPDATE rule_runs SET state = $3, detail = $4, end_time = now(), lease_owner = NULL
WHERE tenant_id = $1 AND run_id = $2 AND state = 1 AND lease_owner = $5`
	ruleOfRunSQL = `SELECT ` + ruleColumns + ` FROM rules WHERE tenant_id = $1 AND rule_id = $2 FOR SHARE`
)

// QueueRun implements rule.Store.
func (s *Rules) QueueRun(ctx context.Context, caller auth.Caller, id uuid.UUID) (rule.Run, error) {
	var run rule.Run
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		r, err := lockRule(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		switch {
		case !r.Scheduled():
			return rule.ErrNotScheduled
		case !r.Enabled:
			return rule.ErrDisabled
		}
		rows, err := tx.Query(ctx, insertRunSQL, caller.TenantID, uuid.Must(uuid.NewV7()), id, r.Version, rule.Manually,
			r.Selection.Query(time.Now()))
		if err != nil {
			return err
		}
		run, err = pgx.CollectExactlyOneRow(rows, scanRun)
		if errors.Is(err, pgx.ErrNoRows) {
			return rule.ErrRunInProgress
		}
		if err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: rule.EventRunQueued, Resource: r.Resource() + "/runs/" + run.ID.String(), After: protoconv.Run(run)})
	})
	if err != nil {
		return rule.Run{}, fmt.Errorf("run rule %s: %w", id, err)
	}
	return run, nil
}

var listRuns = keyset.Query[rule.Run]{
	Table: "rule_runs", Columns: runColumns, IDColumn: "run_id",
	Fields: map[string]sqlfilter.Field{
		"rule_id": {Column: "rule_id", Kind: sqlfilter.UUID},
		"state":   {Column: "state", Kind: sqlfilter.Enum, Enum: integrationv1.RuleRunState_value},
		"trigger": {Column: "trigger", Kind: sqlfilter.Enum, Enum: integrationv1.RuleRunTrigger_value},
	},
	Scan: scanRun,
	Key:  func(u rule.Run) (time.Time, uuid.UUID) { return u.StartTime, u.ID },
}

// Runs implements rule.Store.
func (s *Rules) Runs(ctx context.Context, caller auth.Caller, id uuid.UUID, q rule.ListQuery) (rule.RunPage, error) {
	filter := fmt.Sprintf("rule_id = %q", id.String())
	if q.Filter != "" {
		filter += " AND (" + q.Filter + ")"
	}
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listRuns, filter, q.PageToken, q.PageSize)
	if err != nil {
		return rule.RunPage{}, err
	}
	return rule.RunPage{Runs: rows, NextPageToken: next}, nil
}

// DueTenants lists up to limit tenants with a scheduled rule due or a run
// to pick up.
func (s *Rules) DueTenants(ctx context.Context, limit int) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant_id FROM rule_due_tenants($1)`, limit)
	if err != nil {
		return nil, fmt.Errorf("due rule tenants: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("due rule tenants: %w", err)
	}
	return ids, nil
}

// Claim starts a run of each of up to limit of tenant's due rules (moving
// their next_run_time on; a rule whose previous run is still going skips
// that turn) and leases up to limit runs whose lease ran out
// to a new owner for lease. Row locks taken with SKIP LOCKED let schedulers
// share the work without running a rule twice.
func (s *Rules) Claim(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]scheduler.Claim, error) {
	var claims []scheduler.Claim
	owner := uuid.Must(uuid.NewV7())
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		claims = nil
		rows, err := tx.Query(ctx, dueRulesSQL, tenant, limit)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, scanRule)
		if err != nil {
			return fmt.Errorf("due rules: %w", err)
		}
		now := time.Now()
		for _, r := range due {
			if _, err := tx.Exec(ctx, setNextRunSQL, tenant, r.ID, r.Schedule.NextRun(now)); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, insertRunSQL, tenant, uuid.Must(uuid.NewV7()), r.ID, r.Version, rule.BySchedule, r.Selection.Query(now))
			if err != nil {
				return err
			}
			if _, err := pgx.CollectRows(rows, scanRun); err != nil {
				return fmt.Errorf("start run: %w", err)
			}
		}
		rows, err = tx.Query(ctx, claimRunsSQL, tenant, limit, owner, lease.Seconds())
		if err != nil {
			return err
		}
		claims, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (scheduler.Claim, error) {
			c := scheduler.Claim{Tenant: tenant, Owner: owner, Lease: lease}
			return c, row.Scan(&c.RunID, &c.RuleID, &c.Query, &c.Page, &c.Collection)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim rule runs of %s: %w", tenant, err)
	}
	return claims, nil
}

// Advance takes one page of c's selection in: under the run's lock it
// fires the rule for each item not already fired in its episode (through
// the event rules' action path: actions, rate guard, execution log),
// records what it saw, and moves the run to next; with next empty it
// sweeps ended episodes and ends the run. A rule disabled or deleted
// mid-run ends it as failed. It reports whether the run ended.
func (s *Rules) Advance(ctx context.Context, c scheduler.Claim, items []scheduler.Item, next string) (bool, error) {
	ended := false
	err := pgdb.InTx(ctx, s.pool, c.Tenant.String(), func(tx pgx.Tx) error {
		ended = false
		var runID uuid.UUID
		if err := tx.QueryRow(ctx, lockRunSQL, c.Tenant, c.RunID, c.Owner).Scan(&runID); errors.Is(err, pgx.ErrNoRows) {
			return scheduler.ErrLeaseLost
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, ruleOfRunSQL, c.Tenant, c.RuleID)
		if err != nil {
			return err
		}
		r, err := pgx.CollectExactlyOneRow(rows, scanRule)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && (!r.Enabled || !r.Scheduled()) {
			ended = true
			_, err := tx.Exec(ctx, endRunSQL, c.Tenant, c.RunID, rule.RunFailed, "the rule was disabled, deleted or unscheduled mid-run")
			return err
		}
		if err != nil {
			return err
		}
		fired, err := fireScheduled(ctx, tx, r, c.RunID, items)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, advanceRunSQL, c.Tenant, c.RunID, next, len(items), fired, c.Lease.Seconds()); err != nil {
			return err
		}
		if next != "" {
			return nil
		}
		ended = true
		if _, err := tx.Exec(ctx, sweepSQL, c.Tenant, c.RuleID, c.RunID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, endRunSQL, c.Tenant, c.RunID, rule.RunSucceeded, "")
		return err
	})
	if err != nil {
		return false, fmt.Errorf("advance run %s: %w", c.RunID, err)
	}
	return ended, nil
}

// Fail ends c's run as failed with detail, if c still holds it.
func (s *Rules) Fail(ctx context.Context, c scheduler.Claim, detail string) error {
	err := pgdb.InTx(ctx, s.pool, c.Tenant.String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, failRunSQL, c.Tenant, c.RunID, rule.RunFailed, detail, c.Owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("fail run %s: %w", c.RunID, err)
	}
	return nil
}

// fireScheduled runs r's actions for each item whose resource has not
// fired in its episode for r's version, and returns how many fired. Each
// firing records its synthetic event (which webhook actions deliver), an
// execution, and its episode; a rate-limited one logs the execution but
// records no episode, so the next run tries again.
func fireScheduled(ctx context.Context, tx pgx.Tx, r rule.Rule, runID uuid.UUID, items []scheduler.Item) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	tenant := items[0].Event.TenantID
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.Resource.Name
	}
	type firing struct {
		version int64
		episode string
	}
	seen := map[string]firing{}
	rows, err := tx.Query(ctx, firingsSQL, tenant, r.ID, names)
	if err != nil {
		return 0, err
	}
	var name string
	var f firing
	if _, err := pgx.ForEachRow(rows, []any{&name, &f.version, &f.episode}, func() error { seen[name] = f; return nil }); err != nil {
		return 0, fmt.Errorf("firings: %w", err)
	}
	if _, err := tx.Exec(ctx, seenSQL, tenant, r.ID, names, runID); err != nil {
		return 0, fmt.Errorf("mark seen: %w", err)
	}
	var due []scheduler.Item
	for _, it := range items {
		if prev, ok := seen[it.Resource.Name]; !ok || prev.version != r.Version || prev.episode != it.Resource.Episode {
			due = append(due, it)
		}
	}
	if len(due) == 0 {
		return 0, nil
	}
	var recent int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM rule_executions WHERE tenant_id = $1 AND rule_id = $2 AND create_time > now() - interval '1 minute'`,
		tenant, r.ID).Scan(&recent); err != nil {
		return 0, fmt.Errorf("rule rate: %w", err)
	}
	existing, purposes, err := actionTargets(ctx, tx, tenant, []rule.Rule{r})
	if err != nil {
		return 0, err
	}
	var now time.Time
	if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return 0, err
	}
	fired := 0
	b := &pgx.Batch{}
	for i, it := range due {
		e := it.Event
		b.Queue(insertEventSQL, e.TenantID, e.ID, e.Source, e.Type, e.Resource, e.PrincipalID, e.Time, e.Body, e.TraceParent, e.CausationID)
		// Inserted pending first, so that the actions' rows can refer to it.
		execID := uuid.Must(uuid.NewV7())
		b.Queue(executionSQL, e.TenantID, execID, r.ID, r.Version, e.ID, e.Type, e.Resource, rule.Pending, "")
		outcome, detail := rule.Succeeded, ""
		if recent+i >= r.RateLimit {
			outcome, detail = rule.RateLimited, fmt.Sprintf("over %d executions a minute", r.RateLimit)
		} else {
			ev := rule.Event{ID: e.ID, Source: e.Source, Type: e.Type, Resource: e.Resource, PrincipalID: e.PrincipalID, Time: e.Time}
			var pending bool
			// A schedule starts a chain: its actions are the first link.
			if detail, pending, err = act(b, r, ev, e.TenantID, now, existing, purposes, execID, 1); err != nil {
				return 0, err
			}
			switch {
			case detail != "":
				outcome = rule.Failed
			case pending:
				outcome = rule.Pending
			}
			b.Queue(firedSQL, tenant, r.ID, it.Resource.Name, r.Version, it.Resource.Episode, runID)
			fired++
		}
		b.Queue(setOutcomeSQL, e.TenantID, execID, outcome, detail)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("fire rule: %w", err)
	}
	return fired, nil
}

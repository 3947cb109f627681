package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

const (
	checkpointSQL    = `SELECT last_cursor FROM feed_checkpoints WHERE tenant_id = $1 AND source = $2`
	setCheckpointSQL = `
INSERT INTO feed_checkpoints (tenant_id, source, last_cursor) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, source) DO UPDATE SET last_cursor = excluded.last_cursor, update_time = now()`
	insertEventSQL = `
INSERT INTO webhook_events (tenant_id, event_id, source, type, resource, principal_id, event_time, body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING seq`
	subscribersSQL = `SELECT webhook_id, event_types, filter FROM webhooks WHERE tenant_id = $1 AND create_time <= $2`
	// fanOutSQL is completed with the subscription's filter as a condition
	// over the event's row, its arguments numbered from $4.
	fanOutSQL = `
INSERT INTO webhook_deliveries (tenant_id, delivery_id, webhook_id, event_id, seq, event_type, resource, principal_id, state)
SELECT tenant_id, $3, $4, event_id, seq, type, resource, principal_id, 1
FROM webhook_events WHERE tenant_id = $1 AND event_id = $2 AND `
)

// Checkpoint returns the cursor after which source's stream resumes for
// tenant ("" for its beginning).
func (s *Store) Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error) {
	c, err := pgdb.Row(ctx, s.pool, tenant.String(), checkpointSQL, []any{tenant, source}, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", source, err)
	}
	return c, nil
}

// Ingest takes one event in: it records it once, creates a delivery for
// every subscription it matches, runs the automation rules it matches, and
// moves the source's checkpoint past it, all in one transaction, so a crash anywhere repeats the whole step
// and a repeated event changes nothing but the checkpoint. It reports how
// many deliveries it created.
func (s *Store) Ingest(ctx context.Context, e delivery.Event) (int, error) {
	tenant := e.TenantID.String()
	created := 0
	err := pgdb.InTx(ctx, s.pool, tenant, func(tx pgx.Tx) error {
		created = 0
		var seq int64
		err := tx.QueryRow(ctx, insertEventSQL, e.TenantID, e.ID, e.Source, e.Type, e.Resource, e.PrincipalID, e.Time, e.Body).Scan(&seq)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record event: %w", err)
		}
		if err == nil {
			if created, err = fanOut(ctx, tx, e); err != nil {
				return err
			}
			if err := runRules(ctx, tx, e); err != nil {
				return err
			}
			if e.Type == webhook.CustomerErasedType {
				if err := erase(ctx, tx, e); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(ctx, setCheckpointSQL, e.TenantID, e.Source, e.Cursor)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ingest event %s: %w", e.ID, err)
	}
	return created, nil
}

type subscriber struct {
	ID     uuid.UUID
	Types  []string
	Filter string
}

// fanOut creates the deliveries of a newly recorded event for the
// subscriptions that existed when it happened: a new subscription does not
// receive the history a lagging stream is still catching up on. Paused and
// disabled subscriptions get theirs too: they wait, pending, and go out
// when the subscription is active again.
func fanOut(ctx context.Context, tx pgx.Tx, e delivery.Event) (int, error) {
	rows, err := tx.Query(ctx, subscribersSQL, e.TenantID, e.Time)
	if err != nil {
		return 0, err
	}
	subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (subscriber, error) {
		var s subscriber
		return s, row.Scan(&s.ID, &s.Types, &s.Filter)
	})
	if err != nil {
		return 0, fmt.Errorf("subscribers: %w", err)
	}
	created := 0
	for _, sub := range subs {
		if !webhook.Matches(sub.Types, e.Type) {
			continue
		}
		cond, err := sqlfilter.Translate(sub.Filter, webhook.EventFields, 4)
		if err != nil {
			// Filters are checked when saved; one that no longer parses
			// matches nothing rather than stopping every tenant's feed.
			continue
		}
		args := append([]any{e.TenantID, e.ID, uuid.Must(uuid.NewV7()), sub.ID}, cond.Args...)
		tag, err := tx.Exec(ctx, fanOutSQL+"("+cond.SQL+") ON CONFLICT (tenant_id, webhook_id, event_id) DO NOTHING", args...)
		if err != nil {
			return 0, fmt.Errorf("delivery for webhook %s: %w", sub.ID, err)
		}
		created += int(tag.RowsAffected())
	}
	return created, nil
}

const dueTenantsSQL = `SELECT tenant_id FROM webhook_due_tenants($1)`

// DueTenants lists up to limit tenants with deliveries due now.
func (s *Store) DueTenants(ctx context.Context, limit int) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, dueTenantsSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("due tenants: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("due tenants: %w", err)
	}
	return ids, nil
}

// Backlog counts the pending deliveries of every tenant.
func (s *Store) Backlog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT webhook_backlog()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("backlog: %w", err)
	}
	return n, nil
}

// claimSQL leases up to $2 due deliveries of tenant $1 for $3 seconds: a
// delivery whose worker dies is due again when its lease ends. Only the
// oldest pending delivery of each subscription and resource is eligible
// (order per resource), only of active subscriptions, and none of an
// endpoint whose breaker is open or whose half-open probe is under way;
// those of a half-open endpoint come back marked as probe candidates.
// SKIP LOCKED lets workers share the queue. The head of each resource's
// queue is asked for as "ORDER BY seq LIMIT 1", which only the ordering
// index answers: as a NOT EXISTS, a planner without statistics yet (a new
// or fast-growing queue) scanned every pending delivery of the tenant per
// candidate, and claims slowed as the backlog grew, until delivery fell
// further behind (0.6 → 12 ms a claim in the benchmark).
const (
	claimSQL = `
WITH claimed AS (
    UPDATE webhook_deliveries d
    SET attempt_count = d.attempt_count + 1, next_attempt_time = now() + make_interval(secs => $3), update_time = now()
    WHERE d.tenant_id = $1 AND d.delivery_id IN (
        SELECT c.delivery_id FROM webhook_deliveries c
        JOIN webhooks w ON w.tenant_id = c.tenant_id AND w.webhook_id = c.webhook_id
        LEFT JOIN endpoint_breakers b ON b.tenant_id = w.tenant_id AND b.endpoint = w.endpoint
        WHERE c.tenant_id = $1 AND c.state = 1 AND c.next_attempt_time <= now() AND w.state = 1
          AND (b.open_until IS NULL OR (b.open_until <= now() AND (b.probe_until IS NULL OR b.probe_until <= now())))
          AND c.seq = (SELECT e.seq FROM webhook_deliveries e
                       WHERE e.tenant_id = c.tenant_id AND e.webhook_id = c.webhook_id AND e.resource = c.resource
                         AND e.state = 1
                       ORDER BY e.seq LIMIT 1)
        ORDER BY c.next_attempt_time
        LIMIT $2
        FOR UPDATE OF c SKIP LOCKED)
    RETURNING d.tenant_id, d.delivery_id, d.webhook_id, d.event_id, d.event_type, d.resource, d.principal_id,
        d.attempt_count, d.attempt_count - d.budget_start AS used
)
SELECT c.delivery_id, c.webhook_id, c.event_id, c.event_type, c.resource, c.principal_id, c.attempt_count, c.used,
    w.endpoint, w.target_url, w.secret, ev.body, coalesce(p.allow_private_targets, false), b.open_until IS NOT NULL
FROM claimed c
JOIN webhooks w ON w.tenant_id = c.tenant_id AND w.webhook_id = c.webhook_id
JOIN webhook_events ev ON ev.tenant_id = c.tenant_id AND ev.event_id = c.event_id
LEFT JOIN webhook_policies p ON p.tenant_id = c.tenant_id
LEFT JOIN endpoint_breakers b ON b.tenant_id = w.tenant_id AND b.endpoint = w.endpoint`

	// probeSQL takes the probe of a half-open breaker for a lease; the row
	// lock makes exactly one claim of any replica win it.
	probeSQL = `
UPDATE endpoint_breakers SET probe_until = now() + make_interval(secs => $3), update_time = now()
WHERE tenant_id = $1 AND endpoint = $2 AND open_until <= now() AND (probe_until IS NULL OR probe_until <= now())`
	// releaseSQL hands back claimed deliveries that lost the probe, as if
	// never claimed.
	releaseSQL = `
UPDATE webhook_deliveries SET attempt_count = attempt_count - 1, next_attempt_time = now()
WHERE tenant_id = $1 AND delivery_id = ANY($2)`
)

// Claim leases up to limit of tenant's due deliveries for lease. Of the
// deliveries to a half-open endpoint it keeps one, the probe, if it wins
// the endpoint's probe lease, and hands the others back.
func (s *Store) Claim(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]delivery.Job, error) {
	var jobs []delivery.Job
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, claimSQL, tenant, limit, lease.Seconds())
		if err != nil {
			return err
		}
		claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (delivery.Job, error) {
			j := delivery.Job{TenantID: tenant}
			return j, row.Scan(&j.DeliveryID, &j.WebhookID, &j.EventID, &j.EventType, &j.Resource, &j.PrincipalID,
				&j.Attempt, &j.Used, &j.Endpoint, &j.TargetURL, &j.Secret, &j.Body, &j.AllowPrivate, &j.Probe)
		})
		if err != nil {
			return err
		}
		jobs = jobs[:0]
		var released []uuid.UUID
		tried := map[string]bool{}
		for _, j := range claimed {
			if !j.Probe {
				jobs = append(jobs, j)
				continue
			}
			if tried[j.Endpoint] {
				released = append(released, j.DeliveryID)
				continue
			}
			tried[j.Endpoint] = true
			tag, err := tx.Exec(ctx, probeSQL, tenant, j.Endpoint, lease.Seconds())
			if err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			if tag.RowsAffected() == 1 {
				jobs = append(jobs, j)
			} else {
				released = append(released, j.DeliveryID)
			}
		}
		if len(released) > 0 {
			if _, err := tx.Exec(ctx, releaseSQL, tenant, released); err != nil {
				return fmt.Errorf("release: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of %s: %w", tenant, err)
	}
	return jobs, nil
}

const (
	// finishSQL records an attempt and settles its delivery in one round
	// trip, only if no later claim superseded it (a lease that ran out
	// while the request was slow), and on a success closes the endpoint's
	// breaker if it is not closed already: a healthy endpoint's deliveries
	// write (and lock) no breaker row.
	finishSQL = `
WITH attempt AS (
    INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, request_time, target_url, signature_timestamp, response_code, latency_ms, error)
    VALUES ($1, $2, $3, $8, $9, $10, $6, $11, $7)
    ON CONFLICT DO NOTHING
), done AS (
    UPDATE webhook_deliveries SET state = $4, next_attempt_time = now() + make_interval(secs => $5),
        last_response_code = $6, last_error = $7, update_time = now()
    WHERE tenant_id = $1 AND delivery_id = $2 AND attempt_count = $3 AND state = 1
    RETURNING ` + deliveryColumns + `
), closed AS (
    UPDATE endpoint_breakers SET consecutive_failures = 0, trips = 0, open_until = NULL, probe_until = NULL, update_time = now()
    WHERE tenant_id = $1 AND endpoint = $12 AND $13 AND EXISTS (SELECT 1 FROM done)
      AND (consecutive_failures <> 0 OR open_until IS NOT NULL)
)
SELECT ` + deliveryColumns + ` FROM done`
	// breakerFailureSQL counts a failure. A closed breaker opens for the
	// cool-down ($4) at the threshold ($3); a failed probe ($5) opens it
	// again for the cool-down doubled per opening, up to $6; any other
	// failure while open changes only the count.
	breakerFailureSQL = `
INSERT INTO endpoint_breakers AS b (tenant_id, endpoint, consecutive_failures, open_until, trips)
VALUES ($1, $2, 1, CASE WHEN $3 <= 1 THEN now() + make_interval(secs => $4) END, CASE WHEN $3 <= 1 THEN 1 ELSE 0 END)
ON CONFLICT (tenant_id, endpoint) DO UPDATE SET consecutive_failures = b.consecutive_failures + 1,
    open_until = CASE
        WHEN $5 AND b.open_until IS NOT NULL THEN now() + make_interval(secs => least($4 * power(2, b.trips), $6))
        WHEN b.open_until IS NULL AND b.consecutive_failures + 1 >= $3 THEN now() + make_interval(secs => $4)
        ELSE b.open_until END,
    trips = CASE
        WHEN $5 AND b.open_until IS NOT NULL THEN b.trips + 1
        WHEN b.open_until IS NULL AND b.consecutive_failures + 1 >= $3 THEN 1
        ELSE b.trips END,
    probe_until = CASE WHEN $5 THEN NULL ELSE b.probe_until END,
    update_time = now()`
	disableSQL = `
UPDATE webhooks SET state = 3, state_reason = $3, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND webhook_id = $2 AND state = 1
RETURNING ` + webhookColumns
)

// goneReason is the state reason of a subscription disabled by a 410.
const goneReason = "the receiver answered 410 Gone"

// Finish records an attempt and what it led to: the delivery's new state,
// its endpoint's breaker, and for a dead letter or a 410 the event and
// audit row of that change. Any success closes the breaker, also one sent
// before it opened: the endpoint answered. Only the probe's failure opens
// a half-open breaker again; a failure of a request sent before it opened
// only counts.
func (s *Store) Finish(ctx context.Context, j delivery.Job, r delivery.Result, o webhook.Outcome, retryIn time.Duration, bp webhook.BreakerPolicy) error {
	tenant := j.TenantID.String()
	err := pgdb.InTx(ctx, s.pool, tenant, func(tx pgx.Tx) error {
		state, wait := webhook.DeliveryPending, retryIn
		switch o {
		case webhook.Delivered:
			state, wait = webhook.DeliverySucceeded, 0
		case webhook.DeadLetter:
			state, wait = webhook.DeliveryDeadLettered, 0
		case webhook.Gone:
			wait = 0
		}
		rows, err := tx.Query(ctx, finishSQL, j.TenantID, j.DeliveryID, j.Attempt, state, wait.Seconds(), r.ResponseCode, r.Error,
			r.RequestTime, j.TargetURL, r.SignatureTimestamp, r.Latency.Milliseconds(), j.Endpoint, o == webhook.Delivered)
		if err != nil {
			return err
		}
		d, err := pgx.CollectExactlyOneRow(rows, scanDelivery)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		switch o {
		case webhook.Retry, webhook.DeadLetter:
			_, err = tx.Exec(ctx, breakerFailureSQL, j.TenantID, j.Endpoint, bp.Threshold, bp.Cooldown.Seconds(), j.Probe, bp.MaxOrCooldown().Seconds())
		}
		if err != nil {
			return fmt.Errorf("breaker: %w", err)
		}
		switch o {
		case webhook.DeadLetter:
			return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: webhook.DeliveryPrincipal,
				Type: webhook.EventDeadLettered, Resource: d.ResourceName(), After: protoconv.Delivery(d)})
		case webhook.Gone:
			return disable(ctx, tx, j)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish delivery %s: %w", j.DeliveryID, err)
	}
	return nil
}

// disable turns off the subscription of a delivery the receiver refused
// with 410 Gone; its pending deliveries wait for it to be resumed.
func disable(ctx context.Context, tx pgx.Tx, j delivery.Job) error {
	before, err := lock(ctx, tx, j.TenantID.String(), j.WebhookID)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, disableSQL, j.TenantID, j.WebhookID, goneReason)
	if err != nil {
		return err
	}
	after, err := pgx.CollectExactlyOneRow(rows, scanWebhook)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // already paused or disabled
	}
	if err != nil {
		return err
	}
	return outbox.Record(ctx, tx, outbox.Change{TenantID: j.TenantID.String(), PrincipalID: webhook.DeliveryPrincipal,
		Type: webhook.EventDisabled, Resource: after.Resource(), Before: protoconv.Webhook(before), After: protoconv.Webhook(after)})
}

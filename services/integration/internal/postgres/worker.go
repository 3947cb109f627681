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
INSERT INTO webhook_events (tenant_id, event_id, source, type, resource, principal_id, event_time, body, trace_parent, causation_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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

// withHead completes an INSERT of pending deliveries so that each becomes
// the head of its resource's queue when the queue has none, and answers
// how many deliveries it added. When the queue has a head, the no-op
// update still locks it until commit: a worker settling that head waits,
// then sees the new delivery as the next one, instead of finding the queue
// empty, removing the head and stranding the delivery behind no head.
func withHead(insert string) string {
	return `WITH added AS (` + insert + `
RETURNING tenant_id, webhook_id, resource, delivery_id
), seated AS (
    INSERT INTO webhook_heads (tenant_id, webhook_id, resource, delivery_id)
    SELECT tenant_id, webhook_id, resource, delivery_id FROM added
    ` + onHeadSQL + `
)
SELECT count(*) FROM added`
}

// onHeadSQL keeps a queue's head when it has one, locking it (see withHead).
const onHeadSQL = `ON CONFLICT (tenant_id, webhook_id, resource) DO UPDATE SET lease_until = webhook_heads.lease_until`

// seatHeadsSQL is withHead for the deliveries a batch of events created,
// run once at the batch's end: the heads' locks are then held for the
// commit only, not while the rest of the batch is taken in (holding them
// from each fan-out made workers wait seconds on heads in the real suite).
const seatHeadsSQL = `
INSERT INTO webhook_heads (tenant_id, webhook_id, resource, delivery_id)
SELECT $1, k.webhook_id, k.resource, k.delivery_id
FROM unnest($2::uuid[], $3::text[], $4::uuid[]) AS k(webhook_id, resource, delivery_id)
ORDER BY k.webhook_id, k.resource
` + onHeadSQL

// seat is a delivery a fan-out created: its queue needs a head.
type seat struct {
	queue    queueKey
	delivery uuid.UUID
}

// seatHeads makes the first new delivery of each queue in seats its head
// when the queue has none, and locks the head when it has one.
func seatHeads(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, seats []seat) error {
	first := map[queueKey]bool{}
	var webhooks, deliveries []uuid.UUID
	var resources []string
	for _, st := range seats {
		if first[st.queue] {
			continue
		}
		first[st.queue] = true
		webhooks, resources, deliveries = append(webhooks, st.queue.WebhookID), append(resources, st.queue.Resource), append(deliveries, st.delivery)
	}
	if len(webhooks) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, seatHeadsSQL, tenant, webhooks, resources, deliveries); err != nil {
		return fmt.Errorf("queue heads: %w", err)
	}
	return nil
}

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

// Ingest takes one event in (IngestBatch of one).
func (s *Store) Ingest(ctx context.Context, e delivery.Event) (int, error) {
	return s.IngestBatch(ctx, []delivery.Event{e})
}

// IngestBatch takes events of one tenant's stream in, in order and in one
// transaction: it records each once, creates a delivery for every
// subscription it matches, runs the automation rules it matches, and moves
// the source's checkpoint past the last, so a crash anywhere repeats the
// whole batch and a repeated event changes nothing but the checkpoint. It
// reports how many deliveries it created.
func (s *Store) IngestBatch(ctx context.Context, events []delivery.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	last := events[len(events)-1]
	created := 0
	err := pgdb.InTx(ctx, s.pool, last.TenantID.String(), func(tx pgx.Tx) error {
		var seats []seat
		for _, e := range events {
			s, err := ingest(ctx, tx, e)
			if err != nil {
				return fmt.Errorf("event %s: %w", e.ID, err)
			}
			seats = append(seats, s...)
		}
		created = len(seats)
		if err := seatHeads(ctx, tx, last.TenantID, seats); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, setCheckpointSQL, last.TenantID, last.Source, last.Cursor)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ingest %d events: %w", len(events), err)
	}
	return created, nil
}

// ingest records e once and acts on it in tx, returning the deliveries it
// created; a repeated event does nothing.
func ingest(ctx context.Context, tx pgx.Tx, e delivery.Event) ([]seat, error) {
	var seq int64
	err := tx.QueryRow(ctx, insertEventSQL, e.TenantID, e.ID, e.Source, e.Type, e.Resource, e.PrincipalID, e.Time, e.Body,
		e.TraceParent, e.CausationID).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("record event: %w", err)
	}
	seats, err := fanOut(ctx, tx, e)
	if err != nil {
		return nil, err
	}
	if err := runRules(ctx, tx, e); err != nil {
		return nil, err
	}
	if e.Type == webhook.CustomerErasedType {
		if err := erase(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return seats, nil
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
func fanOut(ctx context.Context, tx pgx.Tx, e delivery.Event) ([]seat, error) {
	rows, err := tx.Query(ctx, subscribersSQL, e.TenantID, e.Time)
	if err != nil {
		return nil, err
	}
	subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (subscriber, error) {
		var s subscriber
		return s, row.Scan(&s.ID, &s.Types, &s.Filter)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribers: %w", err)
	}
	var seats []seat
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
		id := uuid.Must(uuid.NewV7())
		args := append([]any{e.TenantID, e.ID, id, sub.ID}, cond.Args...)
		tag, err := tx.Exec(ctx, fanOutSQL+"("+cond.SQL+") ON CONFLICT (tenant_id, webhook_id, event_id) DO NOTHING", args...)
		if err != nil {
			return nil, fmt.Errorf("delivery for webhook %s: %w", sub.ID, err)
		}
		if tag.RowsAffected() == 1 {
			seats = append(seats, seat{queue: queueKey{WebhookID: sub.ID, Resource: e.Resource}, delivery: id})
		}
	}
	return seats, nil
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
// delivery whose worker dies is due again when its lease ends. It claims
// from the queues' heads (webhook_heads), so only the oldest pending
// delivery of each subscription and resource is eligible (order per
// resource), only of active subscriptions, and none of an endpoint whose
// breaker is open or whose half-open probe is under way; those of a
// half-open endpoint come back marked as probe candidates. SKIP LOCKED
// lets workers share the queue. The lease is written on the head and on
// the delivery (its attempt count tells a superseded worker's result from
// the current one's); on the delivery it touches no indexed column. The
// subscriptions a claim may serve (active, breaker not open) are read first,
// as an array the heads are filtered by: one look-up of each subscription and
// its breaker, not one per head.
//
// A delivery is looked up by its key with "state IS NOT DISTINCT FROM 1"
// (state is never null) rather than "state = 1", here and in finishSQL:
// "= 1" matches the ordering index's predicate, and a planner without
// statistics yet (a new or fast-growing queue) read that index by tenant
// alone, filtering thousands of rows for each delivery (42,000 buffers,
// 23 ms a claim) where the primary key finds it in three.
const (
	claimSQL = `
WITH picked AS (
    SELECT h.tenant_id, h.webhook_id, h.resource, h.delivery_id FROM webhook_heads h
    WHERE h.tenant_id = $1 AND h.next_attempt_time <= now() AND (h.lease_until IS NULL OR h.lease_until <= now())
      AND h.webhook_id = ANY (ARRAY(
          SELECT w.webhook_id FROM webhooks w
          LEFT JOIN endpoint_breakers b ON b.tenant_id = w.tenant_id AND b.endpoint = w.endpoint
          WHERE w.tenant_id = $1 AND w.state = 1
            AND (b.open_until IS NULL OR (b.open_until <= now() AND (b.probe_until IS NULL OR b.probe_until <= now())))))
    ORDER BY h.next_attempt_time
    LIMIT $2
    FOR UPDATE OF h SKIP LOCKED
), leased AS (
    UPDATE webhook_heads h SET lease_until = now() + make_interval(secs => $3)
    FROM picked p WHERE h.tenant_id = p.tenant_id AND h.webhook_id = p.webhook_id AND h.resource = p.resource
), claimed AS (
    UPDATE webhook_deliveries d
    SET attempt_count = d.attempt_count + 1, next_attempt_time = now() + make_interval(secs => $3), update_time = now()
    FROM picked p WHERE d.tenant_id = p.tenant_id AND d.delivery_id = p.delivery_id AND d.state IS NOT DISTINCT FROM 1
    RETURNING d.tenant_id, d.delivery_id, d.webhook_id, d.event_id, d.event_type, d.resource, d.principal_id,
        d.attempt_count, d.attempt_count - d.budget_start AS used
)
SELECT c.delivery_id, c.webhook_id, c.event_id, c.event_type, c.resource, c.principal_id, c.attempt_count, c.used,
    w.endpoint, w.target_url, w.secret, ev.body, coalesce(p.allow_private_targets, false), b.open_until IS NOT NULL, ev.trace_parent
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
WITH heads AS (
    UPDATE webhook_heads SET lease_until = NULL
    WHERE tenant_id = $1 AND delivery_id = ANY($2)
)
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
				&j.Attempt, &j.Used, &j.Endpoint, &j.TargetURL, &j.Secret, &j.Body, &j.AllowPrivate, &j.Probe, &j.TraceParent)
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
	// write (and lock) no breaker row. When the delivery settled and its
	// queue ($14, $15) holds a later pending one, that one becomes the
	// head in the same statement (locked, so an erasure under way is
	// waited for and skipped); it answers whether it did. Otherwise
	// advanceSQL decides, after a lock on the head.
	finishSQL = `
WITH attempt AS (
    INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, request_time, target_url, signature_timestamp, response_code, latency_ms, error)
    VALUES ($1, $2, $3, $8, $9, $10, $6, $11, $7)
    ON CONFLICT DO NOTHING
), done AS (
    UPDATE webhook_deliveries SET state = $4, next_attempt_time = now() + make_interval(secs => $5),
        last_response_code = $6, last_error = $7, update_time = now()
    WHERE tenant_id = $1 AND delivery_id = $2 AND attempt_count = $3 AND state IS NOT DISTINCT FROM 1
    RETURNING ` + deliveryColumns + `
), closed AS (
    UPDATE endpoint_breakers SET consecutive_failures = 0, trips = 0, open_until = NULL, probe_until = NULL, update_time = now()
    WHERE tenant_id = $1 AND endpoint = $12 AND $13 AND EXISTS (SELECT 1 FROM done)
      AND (consecutive_failures <> 0 OR open_until IS NOT NULL)
), next AS (
    SELECT delivery_id, next_attempt_time FROM webhook_deliveries
    WHERE tenant_id = $1 AND webhook_id = $14 AND resource = $15 AND state = 1 AND delivery_id <> $2 AND $4 <> 1
    ORDER BY seq LIMIT 1
    FOR SHARE
), moved AS (
    UPDATE webhook_heads h SET delivery_id = n.delivery_id, next_attempt_time = greatest(n.next_attempt_time, now()), lease_until = NULL
    FROM next n, done
    WHERE h.tenant_id = $1 AND h.webhook_id = $14 AND h.resource = $15 AND h.delivery_id = $2
    RETURNING 1
)
SELECT ` + deliveryColumns + `, EXISTS (SELECT 1 FROM moved) FROM done`
	// lockHeadSQL locks a queue's head before advanceSQL looks at it.
	lockHeadSQL = `SELECT 1 FROM webhook_heads WHERE tenant_id = $1 AND webhook_id = $2 AND resource = $3 FOR UPDATE`
	// advanceSQL moves the head of a finished delivery's queue to the
	// queue's oldest pending delivery: the same one, due at its retry
	// time, after a failure (or an older one redelivered meanwhile); the
	// next one after a settlement, or none. Its snapshot is taken after
	// lockHeadSQL's lock, so a delivery added meanwhile, whose
	// transaction held that lock, is seen rather than stranded.
	advanceSQL = `
WITH next AS (
    SELECT delivery_id, next_attempt_time FROM webhook_deliveries
    WHERE tenant_id = $1 AND webhook_id = $3 AND resource = $4 AND state = 1
    ORDER BY seq LIMIT 1
), moved AS (
    UPDATE webhook_heads h SET delivery_id = n.delivery_id, lease_until = NULL,
        next_attempt_time = CASE WHEN n.delivery_id = $2 THEN n.next_attempt_time ELSE greatest(n.next_attempt_time, now()) END
    FROM next n WHERE h.tenant_id = $1 AND h.webhook_id = $3 AND h.resource = $4 AND h.delivery_id = $2
)
DELETE FROM webhook_heads
WHERE tenant_id = $1 AND webhook_id = $3 AND resource = $4 AND delivery_id = $2 AND NOT EXISTS (SELECT 1 FROM next)`
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
			r.RequestTime, j.TargetURL, r.SignatureTimestamp, r.Latency.Milliseconds(), j.Endpoint, o == webhook.Delivered,
			j.WebhookID, j.Resource)
		if err != nil {
			return err
		}
		var advanced bool
		d, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (webhook.Delivery, error) {
			var d webhook.Delivery
			return d, row.Scan(append(deliveryFields(&d), &advanced)...)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if !advanced {
			if _, err := tx.Exec(ctx, lockHeadSQL, j.TenantID, j.WebhookID, j.Resource); err != nil {
				return fmt.Errorf("lock queue head: %w", err)
			}
			if _, err := tx.Exec(ctx, advanceSQL, j.TenantID, j.DeliveryID, j.WebhookID, j.Resource); err != nil {
				return fmt.Errorf("advance queue: %w", err)
			}
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

const (
	// lockHeadsSQL locks the existing heads of the queues ($2, $3 pairs)
	// before reseatHeadsSQL looks at them, as finishSQL does for one.
	lockHeadsSQL = `
SELECT 1 FROM webhook_heads h
JOIN unnest($2::uuid[], $3::text[]) AS k(webhook_id, resource) ON h.webhook_id = k.webhook_id AND h.resource = k.resource
WHERE h.tenant_id = $1
FOR UPDATE OF h`
	// reseatHeadsSQL makes each queue's oldest pending delivery its head
	// after deliveries of it were requeued or erased, and removes the
	// heads of queues left empty. A head a worker holds stays while its
	// lease lasts: its settlement moves the head to the oldest pending
	// delivery then.
	reseatHeadsSQL = `
WITH k AS (
    SELECT DISTINCT webhook_id, resource FROM unnest($2::uuid[], $3::text[]) AS k(webhook_id, resource)
), want AS (
    SELECT k.webhook_id, k.resource, n.delivery_id, n.next_attempt_time FROM k
    CROSS JOIN LATERAL (
        SELECT d.delivery_id, d.next_attempt_time FROM webhook_deliveries d
        WHERE d.tenant_id = $1 AND d.webhook_id = k.webhook_id AND d.resource = k.resource AND d.state = 1
        ORDER BY d.seq LIMIT 1) n
), dropped AS (
    DELETE FROM webhook_heads h USING k
    WHERE h.tenant_id = $1 AND h.webhook_id = k.webhook_id AND h.resource = k.resource
      AND NOT EXISTS (SELECT 1 FROM want w WHERE w.webhook_id = h.webhook_id AND w.resource = h.resource)
)
INSERT INTO webhook_heads AS h (tenant_id, webhook_id, resource, delivery_id, next_attempt_time)
SELECT $1, webhook_id, resource, delivery_id, next_attempt_time FROM want
ON CONFLICT (tenant_id, webhook_id, resource) DO UPDATE
SET delivery_id = excluded.delivery_id, next_attempt_time = excluded.next_attempt_time, lease_until = NULL
WHERE h.delivery_id <> excluded.delivery_id AND NOT coalesce(h.lease_until > now(), false)`
)

// queueKey names one queue: a subscription's deliveries about a resource.
type queueKey struct {
	WebhookID uuid.UUID
	Resource  string
}

// queuesOf runs a statement answering (webhook_id, resource, count) rows
// and returns those queues and the counts' sum.
func queuesOf(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]queueKey, int, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, err
	}
	var (
		queues []queueKey
		q      queueKey
		count  int
		total  int
	)
	_, err = pgx.ForEachRow(rows, []any{&q.WebhookID, &q.Resource, &count}, func() error {
		queues = append(queues, q)
		total += count
		return nil
	})
	return queues, total, err
}

// reseat brings the heads of queues whose deliveries were requeued or
// erased in tx up to date, in two statements so that the second one's
// snapshot follows the first one's locks.
func reseat(ctx context.Context, tx pgx.Tx, tenant string, queues []queueKey) error {
	if len(queues) == 0 {
		return nil
	}
	webhooks, resources := make([]uuid.UUID, len(queues)), make([]string, len(queues))
	for i, q := range queues {
		webhooks[i], resources[i] = q.WebhookID, q.Resource
	}
	if _, err := tx.Exec(ctx, lockHeadsSQL, tenant, webhooks, resources); err != nil {
		return fmt.Errorf("lock queue heads: %w", err)
	}
	if _, err := tx.Exec(ctx, reseatHeadsSQL, tenant, webhooks, resources); err != nil {
		return fmt.Errorf("reseat queue heads: %w", err)
	}
	return nil
}

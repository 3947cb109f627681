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
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

const deliveryColumns = `delivery_id, webhook_id, event_id, event_type, resource, principal_id, state, attempt_count,
next_attempt_time, last_response_code, last_error, create_time, update_time`

func scanDelivery(row pgx.CollectableRow) (webhook.Delivery, error) {
	var d webhook.Delivery
	err := row.Scan(deliveryFields(&d)...)
	return d, err
}

// deliveryFields are the scan destinations of deliveryColumns in d.
func deliveryFields(d *webhook.Delivery) []any {
	return []any{&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &d.Resource, &d.PrincipalID, &d.State, &d.AttemptCount,
		&d.NextAttemptTime, &d.LastResponseCode, &d.LastError, &d.CreateTime, &d.UpdateTime}
}

const (
	deliverySQL = `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2 AND delivery_id = $3`
	bodySQL     = `SELECT body FROM webhook_events WHERE tenant_id = $1 AND event_id = $2`
	attemptsSQL = `
SELECT attempt, request_time, target_url, signature_timestamp, response_code, latency_ms, error
FROM webhook_attempts WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY attempt`
)

func scanAttempt(row pgx.CollectableRow) (webhook.Attempt, error) {
	var a webhook.Attempt
	var ms int64
	err := row.Scan(&a.Attempt, &a.RequestTime, &a.TargetURL, &a.SignatureTimestamp, &a.ResponseCode, &ms, &a.Error)
	a.Latency = time.Duration(ms) * time.Millisecond
	return a, err
}

// Delivery implements webhook.Store.
func (s *Store) Delivery(ctx context.Context, caller auth.Caller, webhookID, deliveryID uuid.UUID) (webhook.Delivery, error) {
	var d webhook.Delivery
	// One read-only transaction, so the attempts match the delivery.
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, deliverySQL, caller.TenantID, webhookID, deliveryID)
		if err != nil {
			return err
		}
		if d, err = pgx.CollectExactlyOneRow(rows, scanDelivery); errors.Is(err, pgx.ErrNoRows) {
			return webhook.ErrDeliveryNotFound
		} else if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, bodySQL, caller.TenantID, d.EventID).Scan(&d.RequestBody); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if rows, err = tx.Query(ctx, attemptsSQL, caller.TenantID, deliveryID); err != nil {
			return err
		}
		d.Attempts, err = pgx.CollectRows(rows, scanAttempt)
		return err
	})
	if err != nil {
		return webhook.Delivery{}, fmt.Errorf("get webhook delivery %s: %w", deliveryID, err)
	}
	return d, nil
}

var listDeliveries = keyset.Query[webhook.Delivery]{
	Table: "webhook_deliveries", Columns: deliveryColumns, IDColumn: "delivery_id",
	Fields: map[string]sqlfilter.Field{
		"webhook_id":  {Column: "webhook_id", Kind: sqlfilter.UUID},
		"state":       {Column: "state", Kind: sqlfilter.Enum, Enum: integrationv1.WebhookDeliveryState_value},
		"event_type":  {Column: "event_type", Kind: sqlfilter.String},
		"resource":    {Column: "resource", Kind: sqlfilter.String},
		"create_time": {Column: "create_time", Kind: sqlfilter.Timestamp},
	},
	Scan: scanDelivery,
	Key:  func(d webhook.Delivery) (time.Time, uuid.UUID) { return d.CreateTime, d.ID },
}

// Deliveries implements webhook.Store. The subscription is one more
// condition of the filter, so every list is a range of an index that
// leads with (tenant_id, webhook_id).
func (s *Store) Deliveries(ctx context.Context, caller auth.Caller, webhookID uuid.UUID, q webhook.ListQuery) (webhook.DeliveryPage, error) {
	filter := fmt.Sprintf("webhook_id = %q", webhookID.String())
	if q.Filter != "" {
		filter += " AND (" + q.Filter + ")"
	}
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listDeliveries, filter, q.PageToken, q.PageSize)
	if err != nil {
		return webhook.DeliveryPage{}, err
	}
	return webhook.DeliveryPage{Deliveries: rows, NextPageToken: next}, nil
}

const (
	lockDeliverySQL = deliverySQL + ` FOR UPDATE`
	// Requeue a finished delivery: a fresh budget from the attempts made so far.
	requeueSQL = `
UPDATE webhook_deliveries SET state = 1, budget_start = attempt_count, next_attempt_time = now(), update_time = now()
WHERE tenant_id = $1 AND delivery_id = $2
RETURNING ` + deliveryColumns
	// requeueRangeSQL answers the queues it requeued into, with how many
	// deliveries each.
	requeueRangeSQL = `
WITH requeued AS (
    UPDATE webhook_deliveries SET state = 1, budget_start = attempt_count, next_attempt_time = now(), update_time = now()
    WHERE tenant_id = $1 AND webhook_id = $2 AND create_time >= $3 AND create_time < $4 AND state IN (2, 3)
    RETURNING webhook_id, resource
)
SELECT webhook_id, resource, count(*) FROM requeued GROUP BY webhook_id, resource`
)

// Redeliver implements webhook.Store.
func (s *Store) Redeliver(ctx context.Context, caller auth.Caller, webhookID, deliveryID uuid.UUID) (webhook.Delivery, error) {
	var saved webhook.Delivery
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockDeliverySQL, caller.TenantID, webhookID, deliveryID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanDelivery)
		if errors.Is(err, pgx.ErrNoRows) {
			return webhook.ErrDeliveryNotFound
		}
		if err != nil {
			return err
		}
		switch before.State {
		case webhook.DeliveryPending:
			return webhook.ErrDeliveryPending
		case webhook.DeliveryErased:
			return webhook.ErrDeliveryErased
		}
		if rows, err = tx.Query(ctx, requeueSQL, caller.TenantID, deliveryID); err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanDelivery); err != nil {
			return err
		}
		if err := reseat(ctx, tx, caller.TenantID, []queueKey{{saved.WebhookID, saved.Resource}}); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: webhook.EventRedelivered, Resource: saved.ResourceName(), Before: protoconv.Delivery(before), After: protoconv.Delivery(saved)})
	})
	if err != nil {
		return webhook.Delivery{}, fmt.Errorf("redeliver %s: %w", deliveryID, err)
	}
	return saved, nil
}

// RedeliverRange implements webhook.Store.
func (s *Store) RedeliverRange(ctx context.Context, caller auth.Caller, webhookID uuid.UUID, start, end time.Time) (int, error) {
	n := 0
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		w, err := lock(ctx, tx, caller.TenantID, webhookID)
		if err != nil {
			return err
		}
		requeued, count, err := queuesOf(ctx, tx, requeueRangeSQL, caller.TenantID, webhookID, start, end)
		if err != nil {
			return err
		}
		n = count
		if err := reseat(ctx, tx, caller.TenantID, requeued); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: webhook.EventRangeRequeued, Resource: w.Resource(), After: protoconv.Redelivery(webhookID.String(), start, end, n)})
	})
	if err != nil {
		return 0, fmt.Errorf("redeliver range of %s: %w", webhookID, err)
	}
	return n, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// insightTables are the insight read model's tables, emptied by a rebuild.
const insightTables = `quarantined_events, customer_profile, segment_membership, interaction_fact, follow_up_fact, loyalty_fact, order_fact, order_line_fact`

const insertQuarantineSQL = `
INSERT INTO quarantined_events (tenant_id, event_id, source, cursor, type, reason, payload_type, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, event_id) DO NOTHING`

const upsertProfileSQL = `
INSERT INTO customer_profile (tenant_id, customer_id, kind, lifecycle_stage, country_code, contract, tenure_months,
    monthly_charges, create_time, deleted, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    kind = EXCLUDED.kind, lifecycle_stage = EXCLUDED.lifecycle_stage, country_code = EXCLUDED.country_code,
    contract = EXCLUDED.contract, tenure_months = EXCLUDED.tenure_months, monthly_charges = EXCLUDED.monthly_charges,
    create_time = coalesce(EXCLUDED.create_time, customer_profile.create_time), deleted = EXCLUDED.deleted,
    update_time = greatest(customer_profile.update_time, EXCLUDED.update_time)`

const upsertTierSQL = `
INSERT INTO customer_profile (tenant_id, customer_id, value_tier, update_time) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    value_tier = EXCLUDED.value_tier, update_time = greatest(customer_profile.update_time, EXCLUDED.update_time)`

const enterSegmentSQL = `
INSERT INTO segment_membership (tenant_id, customer_id, segment_id, enter_time) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, customer_id, segment_id) DO UPDATE SET enter_time = EXCLUDED.enter_time`

const leaveSegmentSQL = `DELETE FROM segment_membership WHERE tenant_id = $1 AND customer_id = $2 AND segment_id = $3`

const upsertInteractionSQL = `
INSERT INTO interaction_fact (tenant_id, interaction_id, customer_id, kind, direction, channel, occur_time, deleted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, interaction_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, kind = EXCLUDED.kind, direction = EXCLUDED.direction, channel = EXCLUDED.channel,
    occur_time = EXCLUDED.occur_time, deleted = EXCLUDED.deleted`

const upsertFollowUpSQL = `
INSERT INTO follow_up_fact (tenant_id, follow_up_id, customer_id, status, due_time) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, follow_up_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, due_time = EXCLUDED.due_time`

// upsertLoyaltySQL changes only what the event knows: a points event knows
// the balance, a tier change the tier.
const upsertLoyaltySQL = `
INSERT INTO loyalty_fact (tenant_id, customer_id, program_id, balance, tier_id, update_time)
VALUES ($1, $2, $3, coalesce($4::bigint, 0), coalesce($5::text, ''), $6)
ON CONFLICT (tenant_id, customer_id, program_id) DO UPDATE SET
    balance = coalesce($4::bigint, loyalty_fact.balance), tier_id = coalesce($5::text, loyalty_fact.tier_id),
    update_time = greatest(loyalty_fact.update_time, EXCLUDED.update_time)`

const upsertOrderSQL = `
INSERT INTO order_fact (tenant_id, order_id, customer_id, kind, status, order_number, value_currency, value_minor, order_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, kind = EXCLUDED.kind, status = EXCLUDED.status, order_number = EXCLUDED.order_number,
    value_currency = EXCLUDED.value_currency, value_minor = EXCLUDED.value_minor, order_time = EXCLUDED.order_time`

// Lines never change once an order is placed (a cancellation keeps them).
const insertOrderLinesSQL = `
INSERT INTO order_line_fact (tenant_id, order_id, line_no, product_id, quantity)
SELECT $1, $2, l.n, l.p, l.q FROM unnest($3::uuid[], $4::bigint[]) WITH ORDINALITY AS l(p, q, n)
ON CONFLICT (tenant_id, order_id, line_no) DO NOTHING`

// queueInsight adds the insight projection of e to b.
func queueInsight(b *pgx.Batch, e analytics.Event) {
	if q := e.Quarantine; q != nil {
		b.Queue(insertQuarantineSQL, e.TenantID, e.ID, e.Source, e.Cursor, e.Type, q.Reason, q.PayloadType, nonNil(q.Payload))
	}
	f := e.Fact
	if f == nil {
		return
	}
	switch {
	case f.Profile != nil:
		p := f.Profile
		b.Queue(upsertProfileSQL, e.TenantID, p.ID, p.Kind, p.Stage, p.CountryCode, p.Contract, p.TenureMonths, p.MonthlyCharges,
			nullTime(p.CreateTime), p.Deleted, e.Time)
	case f.Tier != nil:
		b.Queue(upsertTierSQL, e.TenantID, f.Tier.CustomerID, f.Tier.Tier, e.Time)
	case f.Segment != nil && f.Segment.Left:
		b.Queue(leaveSegmentSQL, e.TenantID, f.Segment.CustomerID, f.Segment.SegmentID)
	case f.Segment != nil:
		b.Queue(enterSegmentSQL, e.TenantID, f.Segment.CustomerID, f.Segment.SegmentID, f.Segment.EnterTime)
	case f.Interaction != nil:
		i := f.Interaction
		b.Queue(upsertInteractionSQL, e.TenantID, i.ID, i.CustomerID, i.Kind, i.Direction, i.Channel, i.OccurTime, i.Deleted)
	case f.FollowUp != nil:
		u := f.FollowUp
		b.Queue(upsertFollowUpSQL, e.TenantID, u.ID, u.CustomerID, u.Status, nullTime(u.DueTime))
	case f.Loyalty != nil:
		l := f.Loyalty
		b.Queue(upsertLoyaltySQL, e.TenantID, l.CustomerID, l.ProgramID, l.Balance, l.TierID, e.Time)
	case f.Order != nil:
		o := f.Order
		var customer *uuid.UUID
		if o.CustomerID != uuid.Nil {
			customer = &o.CustomerID
		}
		b.Queue(upsertOrderSQL, e.TenantID, o.ID, customer, o.Kind, o.Status, o.Number, o.Value.CurrencyCode, o.Value.AmountMinor, o.OrderTime)
		products, quantities := make([]uuid.UUID, len(o.Products)), make([]int64, len(o.Products))
		for i, l := range o.Products {
			products[i], quantities[i] = l.ProductID, l.Quantity
		}
		b.Queue(insertOrderLinesSQL, e.TenantID, o.ID, products, quantities)
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// The checkpoint moves past a quarantined envelope without counting it as
// applied; a feed that begins with one starts its event time now.
const quarantineCheckpointSQL = `
INSERT INTO checkpoints (tenant_id, source, last_cursor, last_event_time, applied_events)
VALUES ($1, $2, $3, now(), 0)
ON CONFLICT (tenant_id, source) DO UPDATE SET last_cursor = EXCLUDED.last_cursor, update_time = now()`

// Quarantine implements consumer.Store.
func (s *Store) Quarantine(ctx context.Context, q analytics.QuarantinedEvent) error {
	err := pgdb.InTx(ctx, s.pool, q.TenantID.String(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, insertQuarantineSQL, q.TenantID, q.EventID, q.Source, q.Cursor, q.Type, q.Reason, q.PayloadType, nonNil(q.Payload))
		if err != nil || tag.RowsAffected() == 0 || q.Cursor == "" {
			return err
		}
		_, err = tx.Exec(ctx, quarantineCheckpointSQL, q.TenantID, q.Source, q.Cursor)
		return err
	})
	if err != nil {
		return fmt.Errorf("quarantine event %s: %w", q.EventID, err)
	}
	return nil
}

var quarantineQuery = keyset.Query[analytics.QuarantinedEvent]{
	Table:    "quarantined_events",
	Columns:  "event_id, tenant_id, source, cursor, type, reason, payload_type, create_time",
	IDColumn: "event_id",
	Fields:   map[string]sqlfilter.Field{"source": {Column: "source", Kind: sqlfilter.String}, "type": {Column: "type", Kind: sqlfilter.String}},
	Scan: func(row pgx.CollectableRow) (analytics.QuarantinedEvent, error) {
		var q analytics.QuarantinedEvent
		err := row.Scan(&q.EventID, &q.TenantID, &q.Source, &q.Cursor, &q.Type, &q.Reason, &q.PayloadType, &q.CreateTime)
		return q, err
	},
	Key: func(q analytics.QuarantinedEvent) (time.Time, uuid.UUID) { return q.CreateTime, q.EventID },
}

// Quarantined implements insight.Store.
func (s *Store) Quarantined(ctx context.Context, tenant uuid.UUID, filter, pageToken string, pageSize int) ([]analytics.QuarantinedEvent, string, error) {
	return keyset.NewestFirst(ctx, s.pool, tenant.String(), quarantineQuery, filter, pageToken, pageSize)
}

const knownSQL = `
SELECT EXISTS (SELECT 1 FROM customer_state WHERE tenant_id = $1 AND customer_id = $2)
    OR EXISTS (SELECT 1 FROM customer_profile WHERE tenant_id = $1 AND customer_id = $2)
    OR EXISTS (SELECT 1 FROM order_fact WHERE tenant_id = $1 AND customer_id = $2)
    OR EXISTS (SELECT 1 FROM opportunity_state WHERE tenant_id = $1 AND customer_id = $2)
    OR EXISTS (SELECT 1 FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2)`

// Known implements insight.Store.
func (s *Store) Known(ctx context.Context, tenant, customer uuid.UUID) (bool, error) {
	ok, err := pgdb.Row(ctx, s.pool, tenant.String(), knownSQL, []any{tenant, customer}, pgx.RowTo[bool])
	if err != nil {
		return false, fmt.Errorf("look up customer %s: %w", customer, err)
	}
	return ok, nil
}

const mainCurrencySQL = `
SELECT value_currency FROM order_fact WHERE tenant_id = $1 GROUP BY value_currency ORDER BY count(*) DESC, value_currency LIMIT 1`

// MainCurrency implements insight.Store.
func (s *Store) MainCurrency(ctx context.Context, tenant uuid.UUID) (string, error) {
	c, err := pgdb.Row(ctx, s.pool, tenant.String(), mainCurrencySQL, []any{tenant}, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("main currency: %w", err)
	}
	return c, nil
}

// purchaseStatsSQL aggregates every placed order of a currency before the
// window's end per customer; kind 1 is a sale, 2 a return, status 1 placed.
const purchaseStatsSQL = `
SELECT customer_id,
    count(*) FILTER (WHERE kind = 1 AND order_time >= $3),
    coalesce(sum(value_minor) FILTER (WHERE kind IN (1, 2) AND order_time >= $3), 0)::bigint,
    max(order_time) FILTER (WHERE kind = 1 AND order_time >= $3),
    coalesce(sum(value_minor) FILTER (WHERE kind IN (1, 2)), 0)::bigint,
    count(*) FILTER (WHERE kind = 1),
    min(order_time) FILTER (WHERE kind = 1),
    max(order_time) FILTER (WHERE kind = 1)
FROM order_fact
WHERE tenant_id = $1 AND value_currency = $2 AND order_time < $4 AND customer_id IS NOT NULL AND status = 1
GROUP BY customer_id
ORDER BY customer_id`

func scanStats(row pgx.CollectableRow) (insight.PurchaseStats, error) {
	var p insight.PurchaseStats
	var last, first, lastEver *time.Time
	if err := row.Scan(&p.CustomerID, &p.Frequency, &p.Monetary, &last, &p.LifetimeRevenue, &p.LifetimePurchases, &first, &lastEver); err != nil {
		return p, err
	}
	for _, t := range []struct {
		from *time.Time
		to   *time.Time
	}{{last, &p.LastPurchase}, {first, &p.FirstPurchaseEver}, {lastEver, &p.LastPurchaseEver}} {
		if t.from != nil {
			*t.to = *t.from
		}
	}
	return p, nil
}

// PurchaseStats implements insight.Store.
func (s *Store) PurchaseStats(ctx context.Context, tenant uuid.UUID, currency string, w insight.Window) ([]insight.PurchaseStats, error) {
	stats, err := pgdb.Rows(ctx, s.pool, tenant.String(), purchaseStatsSQL, []any{tenant, currency, w.Start, w.End}, scanStats)
	if err != nil {
		return nil, fmt.Errorf("purchase stats: %w", err)
	}
	return stats, nil
}

// churnFactsSQL reads a customer's churn inputs in one snapshot.
const churnFactsSQL = `
WITH latest AS (
    SELECT value_currency FROM order_fact
    WHERE tenant_id = $1 AND customer_id = $2 AND status = 1 AND order_time < $3
    ORDER BY order_time DESC LIMIT 1
), spend AS (
    SELECT
        coalesce(sum(value_minor) FILTER (WHERE order_time >= $3 - interval '90 days'), 0)::bigint AS recent,
        coalesce(sum(value_minor) FILTER (WHERE order_time < $3 - interval '90 days'), 0)::bigint AS prior
    FROM order_fact
    WHERE tenant_id = $1 AND customer_id = $2 AND status = 1 AND kind IN (1, 2)
        AND value_currency = (SELECT value_currency FROM latest)
        AND order_time >= $3 - interval '180 days' AND order_time < $3
)
SELECT coalesce(p.lifecycle_stage, 0)::smallint, p.contract, p.tenure_months, p.monthly_charges,
    greatest(
        (SELECT max(order_time) FROM order_fact WHERE tenant_id = $1 AND customer_id = $2 AND status = 1 AND order_time < $3),
        (SELECT max(occur_time) FROM interaction_fact WHERE tenant_id = $1 AND customer_id = $2 AND NOT deleted AND occur_time < $3)),
    spend.recent, spend.prior,
    (SELECT count(*) FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2 AND status <> ALL ($4::smallint[]))
FROM spend LEFT JOIN customer_profile p ON p.tenant_id = $1 AND p.customer_id = $2`

func closedTicketStatuses() []int16 {
	out := make([]int16, len(analytics.ClosedTicketStatuses))
	for i, st := range analytics.ClosedTicketStatuses {
		out[i] = int16(st)
	}
	return out
}

// ChurnFacts implements insight.Store.
func (s *Store) ChurnFacts(ctx context.Context, tenant, customer uuid.UUID, ref time.Time) (insight.ChurnFacts, error) {
	f, err := pgdb.Row(ctx, s.pool, tenant.String(), churnFactsSQL, []any{tenant, customer, ref, closedTicketStatuses()},
		func(row pgx.CollectableRow) (insight.ChurnFacts, error) {
			var f insight.ChurnFacts
			var stage int16
			var last *time.Time
			err := row.Scan(&stage, &f.Contract, &f.TenureMonths, &f.MonthlyCharges, &last, &f.RecentSpend, &f.PriorSpend, &f.OpenTickets)
			f.Stage = analytics.LifecycleStage(stage)
			if last != nil {
				f.LastActivity = *last
			}
			return f, err
		})
	if err != nil {
		return insight.ChurnFacts{}, fmt.Errorf("churn facts of customer %s: %w", customer, err)
	}
	return f, nil
}

// readModelTables are every table a rebuild empties: the read model, its
// checkpoints and processed events. Offer feedback and behaviour events are
// not among them: they are recorded through the API, not derived from events.
var readModelTables = []string{"processed_events", "checkpoints", "customer_state", "opportunity_state", "ticket_state",
	"quarantined_events", "customer_profile", "segment_membership", "interaction_fact", "follow_up_fact", "loyalty_fact",
	"order_fact", "order_line_fact",
	"opportunity_stage_reached", "satisfaction_response", "campaign_state", "deal_registration_state", "quota_state", "pipeline_snapshot",
	"exchange_rate", "reporting_setting"}

// ResetTenant empties one tenant's read model, checkpoints and processed
// events in one transaction, so its consumer replays every stream from the
// beginning when it next opens them. Like Reset it needs the owner's pool
// (the service role may not delete), and the tenant's consumers must be
// stopped meanwhile.
func ResetTenant(ctx context.Context, owner *pgxpool.Pool, tenant uuid.UUID) error {
	err := pgdb.InTx(ctx, owner, tenant.String(), func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, t := range readModelTables {
			b.Queue("DELETE FROM "+t+" WHERE tenant_id = $1", tenant)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("reset read model of tenant %s: %w", tenant, err)
	}
	return nil
}

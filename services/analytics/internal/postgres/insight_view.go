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
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
	"github.com/rapportcrm/rapport/services/analytics/internal/protoconv"
)

// The 360 view's statements, sent as one batch in one transaction so the
// view is one snapshot. Each reads a (tenant_id, customer_id) index range.
const (
	viewProfileSQL = `
SELECT kind, lifecycle_stage, value_tier, country_code, contract, tenure_months, monthly_charges, create_time, deleted
FROM customer_profile WHERE tenant_id = $1 AND customer_id = $2`
	viewSegmentsSQL = `
SELECT segment_id, enter_time FROM segment_membership WHERE tenant_id = $1 AND customer_id = $2 ORDER BY enter_time, segment_id`
	// won is true for won opportunities and false for open ones.
	viewOpportunitiesSQL = `
SELECT stage = $3, currency_code, count(*), sum(amount_minor)::bigint
FROM opportunity_state
WHERE tenant_id = $1 AND customer_id = $2 AND (stage = $3 OR stage <> ALL ($4::smallint[]))
GROUP BY 1, 2 ORDER BY 1, 2`
	viewTicketsSQL = `
SELECT count(*) FILTER (WHERE status <> ALL ($3::smallint[])), count(*),
    count(*) FILTER (WHERE status <> ALL ($3::smallint[]) AND (first_response_breached OR resolution_breached))
FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2`
	// viewSatisfactionSQL: CSAT answers name their ticket (the customer is
	// the ticket's), NPS answers their customer.
	viewSatisfactionSQL = `
WITH csat AS (
    SELECT s.score FROM ticket_state t
    JOIN satisfaction_response s ON s.tenant_id = t.tenant_id AND s.ticket_id = t.ticket_id AND s.kind = 1
    WHERE t.tenant_id = $1 AND t.customer_id = $2
)
SELECT (SELECT count(*) FROM csat), coalesce((SELECT avg(score)::float8 FROM csat), 0),
    (SELECT count(*) FROM satisfaction_response WHERE tenant_id = $1 AND customer_id = $2 AND kind = 2),
    (SELECT score FROM satisfaction_response WHERE tenant_id = $1 AND customer_id = $2 AND kind = 2
     ORDER BY answer_time DESC LIMIT 1)`
	viewOrderCountsSQL = `
SELECT count(*) FILTER (WHERE kind = 1 AND status = 1), count(*) FILTER (WHERE kind = 2 AND status = 1), count(*) FILTER (WHERE status = 2)
FROM order_fact WHERE tenant_id = $1 AND customer_id = $2`
	viewRecentOrdersSQL = `
SELECT order_id, order_number, kind, status, value_currency, value_minor, order_time
FROM order_fact WHERE tenant_id = $1 AND customer_id = $2 ORDER BY order_time DESC, order_id DESC LIMIT $3`
	viewInteractionCountSQL = `
SELECT count(*) FROM interaction_fact
WHERE tenant_id = $1 AND customer_id = $2 AND NOT deleted AND occur_time >= now() - interval '90 days'`
	viewRecentInteractionsSQL = `
SELECT interaction_id, kind, direction, channel, occur_time FROM interaction_fact
WHERE tenant_id = $1 AND customer_id = $2 AND NOT deleted ORDER BY occur_time DESC, interaction_id DESC LIMIT $3`
	viewFollowUpsSQL = `
SELECT count(*), min(due_time) FROM follow_up_fact WHERE tenant_id = $1 AND customer_id = $2 AND status = $3`
	viewLoyaltySQL = `
SELECT program_id, balance, tier_id FROM loyalty_fact WHERE tenant_id = $1 AND customer_id = $2 ORDER BY program_id`
)

func closedStages() []int16 {
	out := make([]int16, len(analytics.ClosedStages))
	for i, st := range analytics.ClosedStages {
		out[i] = int16(st)
	}
	return out
}

// View implements insight.Store.
func (s *Store) View(ctx context.Context, tenant, customer uuid.UUID, recent int) (insight.View, error) {
	var v insight.View
	known := false
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		v = insight.View{CustomerID: customer}
		b := &pgx.Batch{}
		b.Queue(knownSQL, tenant, customer).QueryRow(func(row pgx.Row) error { return row.Scan(&known) })
		b.Queue(viewProfileSQL, tenant, customer).QueryRow(func(row pgx.Row) error {
			p := &analytics.CustomerProfile{ID: customer}
			var stage int16
			var created *time.Time
			err := row.Scan(&p.Kind, &stage, &v.ValueTier, &p.CountryCode, &p.Contract, &p.TenureMonths, &p.MonthlyCharges, &created, &p.Deleted)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			p.Stage = analytics.LifecycleStage(stage)
			if created != nil {
				p.CreateTime = *created
			}
			v.Profile = p
			return err
		})
		b.Queue(viewSegmentsSQL, tenant, customer).Query(func(rows pgx.Rows) error {
			var err error
			v.Segments, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (insight.Segment, error) {
				var s insight.Segment
				return s, row.Scan(&s.SegmentID, &s.EnterTime)
			})
			return err
		})
		b.Queue(viewOpportunitiesSQL, tenant, customer, int16(analytics.StageWon), closedStages()).Query(func(rows pgx.Rows) error {
			var won bool
			var m analytics.Money
			var n int64
			_, err := pgx.ForEachRow(rows, []any{&won, &m.CurrencyCode, &n, &m.AmountMinor}, func() error {
				if won {
					v.WonOpportunities += n
					v.WonAmounts = append(v.WonAmounts, m)
				} else {
					v.OpenOpportunities += n
					v.OpenAmounts = append(v.OpenAmounts, m)
				}
				return nil
			})
			return err
		})
		b.Queue(viewTicketsSQL, tenant, customer, closedTicketStatuses()).QueryRow(func(row pgx.Row) error {
			return row.Scan(&v.OpenTickets, &v.Tickets, &v.BreachedOpenTickets)
		})
		b.Queue(viewSatisfactionSQL, tenant, customer).QueryRow(func(row pgx.Row) error {
			return row.Scan(&v.CSATResponses, &v.CSATAverage, &v.NPSResponses, &v.LatestNPS)
		})
		b.Queue(viewOrderCountsSQL, tenant, customer).QueryRow(func(row pgx.Row) error {
			return row.Scan(&v.Purchases, &v.Returns, &v.CancelledOrders)
		})
		b.Queue(viewRecentOrdersSQL, tenant, customer, recent).Query(func(rows pgx.Rows) error {
			var err error
			v.RecentOrders, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (analytics.Order, error) {
				o := analytics.Order{CustomerID: customer}
				return o, row.Scan(&o.ID, &o.Number, &o.Kind, &o.Status, &o.Value.CurrencyCode, &o.Value.AmountMinor, &o.OrderTime)
			})
			return err
		})
		b.Queue(viewInteractionCountSQL, tenant, customer).QueryRow(func(row pgx.Row) error { return row.Scan(&v.Interactions90Days) })
		b.Queue(viewRecentInteractionsSQL, tenant, customer, recent).Query(func(rows pgx.Rows) error {
			var err error
			v.RecentInteractions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (analytics.Interaction, error) {
				i := analytics.Interaction{CustomerID: customer}
				return i, row.Scan(&i.ID, &i.Kind, &i.Direction, &i.Channel, &i.OccurTime)
			})
			return err
		})
		b.Queue(viewFollowUpsSQL, tenant, customer, int16(analytics.FollowUpOpen)).QueryRow(func(row pgx.Row) error {
			var due *time.Time
			err := row.Scan(&v.OpenFollowUps, &due)
			if due != nil {
				v.NextFollowUpDue = *due
			}
			return err
		})
		b.Queue(viewLoyaltySQL, tenant, customer).Query(func(rows pgx.Rows) error {
			var err error
			v.Loyalty, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (insight.LoyaltyMembership, error) {
				var l insight.LoyaltyMembership
				return l, row.Scan(&l.ProgramID, &l.Balance, &l.TierID)
			})
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return insight.View{}, fmt.Errorf("view customer %s: %w", customer, err)
	}
	if !known {
		return insight.View{}, insight.ErrCustomerNotFound
	}
	return v, nil
}

// offerCandidatesSQL gathers next-best-offer candidates and their evidence.
// Kind 1 is a sale, status 1 placed. The basket is the products of the
// customer's five latest purchases; basket orders are, per basket product,
// the latest 300 placed sales of others holding it. Peers are up to 200
// other members of the customer's segments (latest entered first) and up to
// 200 other customers of its value tier. Products the customer ever bought
// are no candidates; each source keeps its 100 strongest.
const offerCandidatesSQL = `
WITH basket AS (
    SELECT DISTINCT l.product_id
    FROM (SELECT order_id FROM order_fact
          WHERE tenant_id = $1 AND customer_id = $2 AND kind = 1 AND status = 1 AND order_time < $3
          ORDER BY order_time DESC LIMIT 5) o
    JOIN order_line_fact l ON l.tenant_id = $1 AND l.order_id = o.order_id
), owned AS (
    SELECT DISTINCT l.product_id
    FROM order_fact o JOIN order_line_fact l ON l.tenant_id = o.tenant_id AND l.order_id = o.order_id
    WHERE o.tenant_id = $1 AND o.customer_id = $2 AND o.kind = 1 AND o.status = 1
), basket_orders AS (
    SELECT DISTINCT bo.order_id FROM basket b CROSS JOIN LATERAL (
        SELECT l.order_id FROM order_line_fact l
        JOIN order_fact o ON o.tenant_id = l.tenant_id AND o.order_id = l.order_id
        WHERE l.tenant_id = $1 AND l.product_id = b.product_id AND o.kind = 1 AND o.status = 1
            AND o.order_time < $3 AND o.customer_id IS DISTINCT FROM $2
        ORDER BY l.order_id DESC LIMIT 300) bo
), together AS (
    SELECT l.product_id, count(DISTINCT l.order_id) AS n
    FROM basket_orders bo JOIN order_line_fact l ON l.tenant_id = $1 AND l.order_id = bo.order_id
    WHERE l.product_id NOT IN (SELECT product_id FROM owned)
    GROUP BY l.product_id ORDER BY n DESC, l.product_id LIMIT 100
), segment_peers AS (
    SELECT m.customer_id FROM (
        SELECT DISTINCT ON (m.customer_id) m.customer_id, m.enter_time
        FROM segment_membership s
        JOIN segment_membership m ON m.tenant_id = s.tenant_id AND m.segment_id = s.segment_id
        WHERE s.tenant_id = $1 AND s.customer_id = $2 AND m.customer_id <> $2
        ORDER BY m.customer_id, m.enter_time DESC) m
    ORDER BY m.enter_time DESC, m.customer_id LIMIT 200
), tier_peers AS (
    SELECT p.customer_id
    FROM customer_profile me
    JOIN customer_profile p ON p.tenant_id = me.tenant_id AND p.value_tier = me.value_tier
    WHERE me.tenant_id = $1 AND me.customer_id = $2 AND me.value_tier <> '' AND p.customer_id <> $2 AND NOT p.deleted
    ORDER BY p.update_time DESC, p.customer_id LIMIT 200
), segment_buys AS (
    SELECT l.product_id, count(DISTINCT o.customer_id) AS n
    FROM segment_peers pe
    JOIN order_fact o ON o.tenant_id = $1 AND o.customer_id = pe.customer_id AND o.kind = 1 AND o.status = 1
        AND o.order_time >= $3 - interval '365 days' AND o.order_time < $3
    JOIN order_line_fact l ON l.tenant_id = $1 AND l.order_id = o.order_id
    WHERE l.product_id NOT IN (SELECT product_id FROM owned)
    GROUP BY l.product_id ORDER BY n DESC, l.product_id LIMIT 100
), tier_buys AS (
    SELECT l.product_id, count(DISTINCT o.customer_id) AS n
    FROM tier_peers pe
    JOIN order_fact o ON o.tenant_id = $1 AND o.customer_id = pe.customer_id AND o.kind = 1 AND o.status = 1
        AND o.order_time >= $3 - interval '365 days' AND o.order_time < $3
    JOIN order_line_fact l ON l.tenant_id = $1 AND l.order_id = o.order_id
    WHERE l.product_id NOT IN (SELECT product_id FROM owned)
    GROUP BY l.product_id ORDER BY n DESC, l.product_id LIMIT 100
), candidates AS (
    SELECT product_id FROM together UNION SELECT product_id FROM segment_buys UNION SELECT product_id FROM tier_buys
)
SELECT c.product_id,
    coalesce(t.n, 0), (SELECT count(*) FROM basket_orders),
    coalesce(sb.n, 0), (SELECT count(*) FROM segment_peers),
    coalesce(tb.n, 0), (SELECT count(*) FROM tier_peers),
    (SELECT count(*) FROM offer_feedback f WHERE f.tenant_id = $1 AND f.product_id = c.product_id AND f.outcome = 1),
    (SELECT count(*) FROM offer_feedback f WHERE f.tenant_id = $1 AND f.product_id = c.product_id AND f.outcome = 2)
FROM candidates c
LEFT JOIN together t ON t.product_id = c.product_id
LEFT JOIN segment_buys sb ON sb.product_id = c.product_id
LEFT JOIN tier_buys tb ON tb.product_id = c.product_id
ORDER BY c.product_id`

const rejectedSQL = `
SELECT DISTINCT product_id FROM offer_feedback
WHERE tenant_id = $1 AND customer_id = $2 AND outcome = 2 AND create_time >= $3`

const openTicketsSQL = `
SELECT count(*) FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2 AND status <> ALL ($3::smallint[])`

// OfferFacts implements insight.Store.
func (s *Store) OfferFacts(ctx context.Context, tenant, customer uuid.UUID, ref time.Time) (insight.OfferFacts, error) {
	var f insight.OfferFacts
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		f = insight.OfferFacts{}
		b := &pgx.Batch{}
		b.Queue(openTicketsSQL, tenant, customer, closedTicketStatuses()).QueryRow(func(row pgx.Row) error { return row.Scan(&f.OpenTickets) })
		b.Queue(rejectedSQL, tenant, customer, ref.Add(-insight.RejectionMemory)).Query(func(rows pgx.Rows) error {
			var err error
			f.Rejected, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			return err
		})
		b.Queue(offerCandidatesSQL, tenant, customer, ref).Query(func(rows pgx.Rows) error {
			var err error
			f.Candidates, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (insight.OfferCandidate, error) {
				var c insight.OfferCandidate
				return c, row.Scan(&c.ProductID, &c.TogetherOrders, &c.BasketOrders, &c.SegmentBuyers, &c.SegmentSize,
					&c.TierBuyers, &c.TierSize, &c.Accepted, &c.Rejected)
			})
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return insight.OfferFacts{}, fmt.Errorf("offer facts of customer %s: %w", customer, err)
	}
	return f, nil
}

const feedbackColumns = `feedback_id, customer_id, product_id, outcome, principal_id, create_time`

const insertFeedbackSQL = `
INSERT INTO offer_feedback (tenant_id, feedback_id, customer_id, product_id, outcome, principal_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + feedbackColumns

const feedbackByRequestSQL = `SELECT ` + feedbackColumns + ` FROM offer_feedback WHERE tenant_id = $1 AND request_id = $2`

func scanFeedback(row pgx.CollectableRow) (insight.Feedback, error) {
	var f insight.Feedback
	err := row.Scan(&f.ID, &f.CustomerID, &f.ProductID, &f.Outcome, &f.PrincipalID, &f.CreateTime)
	return f, err
}

// FeedbackRecorded is the event type of recorded offer feedback.
const FeedbackRecorded = "analytics.offer_feedback.recorded"

// RecordFeedback implements insight.Store.
func (s *Store) RecordFeedback(ctx context.Context, caller auth.Caller, f insight.Feedback, requestID string) (insight.Feedback, bool, error) {
	var saved insight.Feedback
	var created bool
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertFeedbackSQL,
			[]any{caller.TenantID, f.ID, f.CustomerID, f.ProductID, f.Outcome, f.PrincipalID, requestID},
			feedbackByRequestSQL, []any{caller.TenantID, requestID}, scanFeedback)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: FeedbackRecorded,
			Resource: "customers/" + saved.CustomerID.String() + "/offerFeedback/" + saved.ID.String(), After: protoconv.Feedback(saved),
		})
	})
	if err != nil {
		return insight.Feedback{}, false, fmt.Errorf("record offer feedback: %w", err)
	}
	return saved, created, nil
}

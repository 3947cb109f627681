package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// EventBehaviourIngested is recorded once per ingest call that stored events.
const EventBehaviourIngested = "behaviour_events.ingested"

// knownCustomersSQL finds which of the named customers the tenant has.
const knownCustomersSQL = `
SELECT customer_id FROM customer_state WHERE tenant_id = $1 AND customer_id = ANY ($2::uuid[]) AND NOT deleted`

// insertBehaviourSQL stores the events not stored before and returns them.
const insertBehaviourSQL = `
INSERT INTO behaviour_event (tenant_id, event_id, anonymous_id, customer_id, kind, target, dwell_ms, occur_time)
SELECT $1, e.id, e.anonymous_id, nullif(e.customer_id, '00000000-0000-0000-0000-000000000000'::uuid), e.kind, e.target, e.dwell_ms, e.occur_time
FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::smallint[], $6::text[], $7::bigint[], $8::timestamptz[])
    AS e(id, anonymous_id, customer_id, kind, target, dwell_ms, occur_time)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id`

// stitchSQL points each anonymous id at the customer its latest naming
// event names; an older event arriving late does not move it back.
const stitchSQL = `
INSERT INTO behaviour_identity (tenant_id, anonymous_id, customer_id, stitch_time)
SELECT $1, s.anonymous_id, s.customer_id, s.occur_time
FROM unnest($2::text[], $3::uuid[], $4::timestamptz[]) AS s(anonymous_id, customer_id, occur_time)
ON CONFLICT (tenant_id, anonymous_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, stitch_time = EXCLUDED.stitch_time
WHERE EXCLUDED.stitch_time > behaviour_identity.stitch_time
   OR (EXCLUDED.stitch_time = behaviour_identity.stitch_time AND EXCLUDED.customer_id > behaviour_identity.customer_id)`

// IngestBehaviour implements analytics.BehaviourStore. Events are written in
// anonymous id order, so concurrent batches lock identities in one order.
func (s *Store) IngestBehaviour(ctx context.Context, tenant uuid.UUID, principal string, events []analytics.BehaviourEvent) (analytics.IngestResult, error) {
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b analytics.BehaviourEvent) int {
		if c := strings.Compare(a.AnonymousID, b.AnonymousID); c != 0 {
			return c
		}
		return a.OccurTime.Compare(b.OccurTime)
	})
	n := len(sorted)
	ids, anon, customers := make([]uuid.UUID, n), make([]string, n), make([]uuid.UUID, n)
	kinds, targets, dwell, times := make([]int16, n), make([]string, n), make([]int64, n), make([]time.Time, n)
	var named []uuid.UUID
	for i, e := range sorted {
		ids[i], anon[i], customers[i], kinds[i], targets[i], dwell[i], times[i] =
			e.ID, e.AnonymousID, e.CustomerID, int16(e.Kind), e.Target, e.Dwell.Milliseconds(), e.OccurTime
		if e.CustomerID != uuid.Nil && !slices.Contains(named, e.CustomerID) {
			named = append(named, e.CustomerID)
		}
	}
	var res analytics.IngestResult
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		res = analytics.IngestResult{}
		if len(named) > 0 {
			rows, err := tx.Query(ctx, knownCustomersSQL, tenant, named)
			if err != nil {
				return err
			}
			known, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return err
			}
			if unknown := slices.DeleteFunc(slices.Clone(named), func(id uuid.UUID) bool { return slices.Contains(known, id) }); len(unknown) > 0 {
				return &analytics.UnknownCustomersError{IDs: unknown}
			}
		}
		rows, err := tx.Query(ctx, insertBehaviourSQL, tenant, ids, anon, customers, kinds, targets, dwell, times)
		if err != nil {
			return err
		}
		created, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		res.Created, res.Duplicates = len(created), n-len(created)
		if len(created) == 0 {
			return nil
		}
		// The latest new event naming a customer, per anonymous id.
		var sAnon []string
		var sCustomer []uuid.UUID
		var sTime []time.Time
		for _, e := range sorted {
			if e.CustomerID == uuid.Nil || !slices.Contains(created, e.ID) {
				continue
			}
			if k := len(sAnon) - 1; k >= 0 && sAnon[k] == e.AnonymousID {
				sCustomer[k], sTime[k] = e.CustomerID, e.OccurTime
				continue
			}
			sAnon, sCustomer, sTime = append(sAnon, e.AnonymousID), append(sCustomer, e.CustomerID), append(sTime, e.OccurTime)
		}
		if len(sAnon) > 0 {
			tag, err := tx.Exec(ctx, stitchSQL, tenant, sAnon, sCustomer, sTime)
			if err != nil {
				return err
			}
			res.Stitched = int(tag.RowsAffected())
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant.String(), PrincipalID: principal, Type: EventBehaviourIngested,
			Resource: "behaviourEvents", After: &analyticsv1.BehaviourIngested{
				CreatedCount: int32(res.Created), DuplicateCount: int32(res.Duplicates), StitchedCount: int32(res.Stitched)}})
	})
	if err != nil {
		return analytics.IngestResult{}, fmt.Errorf("ingest %d behaviour events: %w", n, err)
	}
	return res, nil
}

// customerBehaviourSQL summarises a customer in one statement, so its
// figures come from one snapshot. The customer's events are those naming it
// and the unnamed events of the anonymous ids stitched to it.
const customerBehaviourSQL = `
WITH ev AS (
    SELECT e.* FROM behaviour_event e
    WHERE e.tenant_id = $1 AND e.customer_id = $2
    UNION ALL
    SELECT e.* FROM behaviour_identity i
    JOIN behaviour_event e ON e.tenant_id = i.tenant_id AND e.anonymous_id = i.anonymous_id AND e.customer_id IS NULL
    WHERE i.tenant_id = $1 AND i.customer_id = $2
), top AS (
    SELECT target, count(*) AS n FROM ev WHERE kind IN (1, 4)
    GROUP BY target ORDER BY n DESC, target LIMIT $3
), won AS (
    SELECT currency_code, count(*) AS n, sum(amount_minor)::bigint AS total FROM opportunity_state
    WHERE tenant_id = $1 AND customer_id = $2 AND stage_kind = 2 AND NOT deleted
    GROUP BY currency_code
)
SELECT
    EXISTS (SELECT 1 FROM customer_state WHERE tenant_id = $1 AND customer_id = $2 AND NOT deleted),
    count(*) FILTER (WHERE kind = 1), count(*) FILTER (WHERE kind = 4), count(*) FILTER (WHERE kind = 2),
    coalesce(sum(dwell_ms) FILTER (WHERE kind = 3), 0)::bigint,
    count(DISTINCT anonymous_id), count(DISTINCT (occur_time AT TIME ZONE 'UTC')::date),
    min(occur_time), max(occur_time),
    coalesce((SELECT array_agg(target ORDER BY n DESC, target) FROM top), '{}'),
    coalesce((SELECT array_agg(n ORDER BY n DESC, target) FROM top), '{}'),
    coalesce((SELECT sum(n) FROM won), 0)::bigint,
    coalesce((SELECT array_agg(currency_code ORDER BY currency_code) FROM won), '{}'),
    coalesce((SELECT array_agg(total ORDER BY currency_code) FROM won), '{}'),
    (SELECT count(*) FROM ticket_state WHERE tenant_id = $1 AND customer_id = $2),
    coalesce((SELECT avg(s.score)::float8 FROM satisfaction_response s
        JOIN ticket_state t ON t.tenant_id = s.tenant_id AND t.ticket_id = s.ticket_id
        WHERE s.tenant_id = $1 AND s.kind = 1 AND t.customer_id = $2), 0)
FROM ev`

// CustomerBehaviour implements analytics.BehaviourStore.
func (s *Store) CustomerBehaviour(ctx context.Context, tenant, customerID uuid.UUID) (analytics.CustomerBehaviour, error) {
	var (
		known        bool
		b            = analytics.CustomerBehaviour{CustomerID: customerID}
		dwellMS      int64
		first, last  *time.Time
		targets      []string
		targetCounts []int64
		currencies   []string
		totals       []int64
	)
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, customerBehaviourSQL, tenant, customerID, analytics.TopTargets).Scan(&known,
			&b.PageViews, &b.ScreenViews, &b.Clicks, &dwellMS, &b.Devices, &b.ActiveDays, &first, &last,
			&targets, &targetCounts, &b.WonOpportunities, &currencies, &totals, &b.Tickets, &b.CSATAverage)
	})
	if err != nil {
		return analytics.CustomerBehaviour{}, fmt.Errorf("summarise behaviour of customer %s: %w", customerID, err)
	}
	if !known {
		return analytics.CustomerBehaviour{}, analytics.ErrCustomerNotFound
	}
	b.TotalDwell = time.Duration(dwellMS) * time.Millisecond
	if first != nil {
		b.FirstSeen, b.LastSeen = *first, *last
	}
	for i, t := range targets {
		b.TopTargets = append(b.TopTargets, analytics.TargetCount{Target: t, Count: targetCounts[i]})
	}
	for i, c := range currencies {
		b.WonAmounts = append(b.WonAmounts, analytics.Money{CurrencyCode: c, AmountMinor: totals[i]})
	}
	return b, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

const reportingCurrencySQL = `SELECT reporting_currency FROM reporting_setting WHERE tenant_id = $1`

// ReportingCurrency implements analytics.FigureStore.
func (s *Store) ReportingCurrency(ctx context.Context, tenant uuid.UUID) (string, error) {
	c, err := pgdb.Row(ctx, s.pool, tenant.String(), reportingCurrencySQL, []any{tenant}, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reporting currency: %w", err)
	}
	return c, nil
}

// cohortFields are the customer attributes a cohort query filters on.
var cohortFields = map[string]sqlfilter.Field{
	"country_code": {Column: "coalesce(p.country_code, '')"},
	"value_tier":   {Column: "coalesce(p.value_tier, '')"},
}

// cohortSQL computes the cohorts of the API's Cohort definition: purchases
// are placed sales naming a customer before the end ($3); a customer's
// cohort is the UTC month of its first; month +k counts the cohort's
// customers with a purchase k calendar months later, for k in 1..$4.
// %s is the filter's condition over the customer's profile.
const cohortSQL = `
WITH purchase AS (
    SELECT o.customer_id, date_trunc('month', o.order_time AT TIME ZONE 'UTC') AS m, o.order_time
    FROM order_fact o
    WHERE o.tenant_id = $1 AND o.kind = 1 AND o.status = 1 AND o.customer_id IS NOT NULL AND o.order_time < $3
), cohort AS (
    SELECT f.customer_id, date_trunc('month', f.first_time AT TIME ZONE 'UTC') AS cm
    FROM (SELECT customer_id, min(order_time) AS first_time FROM purchase GROUP BY customer_id) f
    LEFT JOIN customer_profile p ON p.tenant_id = $1 AND p.customer_id = f.customer_id
    WHERE f.first_time >= $2 AND (%s)
), sizes AS (
    SELECT cm, count(*) AS n FROM cohort GROUP BY cm
), kept AS (
    SELECT a.cm, a.k, count(*) AS n
    FROM (SELECT DISTINCT c.cm, c.customer_id,
            ((extract(year FROM p.m) - extract(year FROM c.cm)) * 12 + extract(month FROM p.m) - extract(month FROM c.cm))::int AS k
        FROM cohort c JOIN purchase p ON p.customer_id = c.customer_id) a
    WHERE a.k BETWEEN 1 AND $4
    GROUP BY a.cm, a.k
)
SELECT to_char(s.cm, 'YYYY-MM'), s.n,
    ARRAY(SELECT coalesce(kept.n, 0) FROM generate_series(1, $4) AS g(k)
          LEFT JOIN kept ON kept.cm = s.cm AND kept.k = g.k ORDER BY g.k)
FROM sizes s
ORDER BY s.cm`

// CohortRetention implements analytics.FigureStore.
func (s *Store) CohortRetention(ctx context.Context, tenant uuid.UUID, q analytics.CohortQuery) ([]analytics.Cohort, error) {
	cond, err := sqlfilter.Translate(q.Filter, cohortFields, 4)
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return nil, validation.Field("filter", "%s", fe.Reason)
		}
		return nil, err
	}
	args := append([]any{tenant, q.Start, q.End, q.Months}, cond.Args...)
	cohorts, err := pgdb.Rows(ctx, s.pool, tenant.String(), fmt.Sprintf(cohortSQL, cond.SQL), args,
		func(row pgx.CollectableRow) (analytics.Cohort, error) {
			var c analytics.Cohort
			err := row.Scan(&c.Month, &c.Customers, &c.Retained)
			return c, err
		})
	if err != nil {
		return nil, fmt.Errorf("cohort retention: %w", err)
	}
	return cohorts, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// ForecastStore implements forecast.Store.
type ForecastStore struct{ *Store }

// Forecast returns the forecast store over the same pool.
func (s *Store) Forecast() ForecastStore { return ForecastStore{s} }

// forecastSQL rates every live opportunity of the tenant (o joined to its
// stage s) in one pass: its forecast category, effective probability and
// forecast day. Won counts in full and lost not at all, whatever the stage says.
const forecastSQL = `
SELECT o.opportunity_id, o.pipeline_id, o.stage_id, o.stage_kind, o.currency_code, o.amount_minor, o.owner_id,
    CASE o.stage_kind WHEN 2 THEN 4 WHEN 3 THEN 5 ELSE
        CASE WHEN o.forecast_category <> 0 THEN o.forecast_category
             WHEN s.probability >= 90 THEN 3 WHEN s.probability >= 60 THEN 2 ELSE 1 END END AS category,
    CASE o.stage_kind WHEN 2 THEN 100 WHEN 3 THEN 0 ELSE s.probability END AS probability,
    CASE WHEN o.stage_kind IN (2, 3) THEN (o.close_time AT TIME ZONE $2)::date ELSE o.expected_close_date END AS day,
    o.tenant_id, o.expected_close_date
FROM opportunities o JOIN pipeline_stages s USING (tenant_id, pipeline_id, stage_id)
WHERE o.tenant_id = $1 AND o.delete_time IS NULL`

// weightedSQL is Σ amount × probability, each rounded half up.
const weightedSQL = `sum(round(amount_minor * probability / 100.0))::bigint`

const forecastRowsSQL = `
WITH rated AS (` + forecastSQL + `
    AND ($5::uuid IS NULL OR o.pipeline_id = $5) AND ($6::uuid IS NULL OR o.owner_id = $6))
SELECT to_char(date_trunc($7, day), 'YYYY-MM-DD'), currency_code, category, count(*), sum(amount_minor)::bigint, ` + weightedSQL + `
FROM rated
WHERE day BETWEEN $3::text::date AND $4::text::date
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3`

// reportingGroupsSQL groups the forecast's opportunities by the rate into
// the reporting currency of their expected close date (today while none is
// expected), the latest of the pair on or before it, quoted either way
// round. The rate is looked up once per currency and day, not per row.
const reportingGroupsSQL = `
WITH rated AS (` + forecastSQL + `
    AND ($5::uuid IS NULL OR o.pipeline_id = $5) AND ($6::uuid IS NULL OR o.owner_id = $6)),
keyed AS (
    SELECT rated.*, coalesce(expected_close_date, (now() AT TIME ZONE 'UTC')::date) AS rate_day FROM rated
    WHERE day BETWEEN $3::text::date AND $4::text::date
        -- Evaluated once: without a reporting currency nothing is scanned.
        AND EXISTS (SELECT 1 FROM reporting_settings WHERE tenant_id = $1)),
rates AS (
    SELECT k.currency_code, k.rate_day, st.reporting_currency, (SELECT x.rate::text FROM (
        (SELECT r.rate, r.rate_date FROM exchange_rates r
         WHERE r.tenant_id = $1 AND r.base_currency = k.currency_code AND r.quote_currency = st.reporting_currency
           AND r.rate_date <= k.rate_day
         ORDER BY r.rate_date DESC LIMIT 1)
        UNION ALL
        (SELECT 1 / r.rate, r.rate_date FROM exchange_rates r
         WHERE r.tenant_id = $1 AND r.base_currency = st.reporting_currency AND r.quote_currency = k.currency_code
           AND r.rate_date <= k.rate_day
         ORDER BY r.rate_date DESC LIMIT 1)
      ) x ORDER BY x.rate_date DESC LIMIT 1) AS rate
    FROM (SELECT DISTINCT currency_code, rate_day FROM keyed) k JOIN reporting_settings st ON st.tenant_id = $1)
SELECT to_char(date_trunc($7, keyed.day), 'YYYY-MM-DD'), keyed.category, keyed.currency_code, rates.reporting_currency, rates.rate,
    count(*), sum(keyed.amount_minor)::bigint, sum(round(keyed.amount_minor * keyed.probability / 100.0))::bigint
FROM keyed JOIN rates USING (currency_code, rate_day)
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3`

// ReportingGroups implements forecast.Store.
func (s ForecastStore) ReportingGroups(ctx context.Context, caller auth.Caller, q forecast.Query) ([]forecast.RateGroup, error) {
	groups, err := pgdb.Rows(ctx, s.pool, caller.TenantID, reportingGroupsSQL,
		[]any{caller.TenantID, q.TimeZone, q.Start, q.End, q.PipelineID, q.OwnerID, q.PeriodKind.Unit()},
		func(row pgx.CollectableRow) (forecast.RateGroup, error) {
			var g forecast.RateGroup
			var rate *string
			if err := row.Scan(&g.PeriodStart, &g.Category, &g.CurrencyCode, &g.ReportingCurrency, &rate, &g.Count, &g.AmountMinor, &g.WeightedMinor); err != nil {
				return g, err
			}
			if rate != nil {
				r, ok := new(big.Rat).SetString(*rate)
				if !ok {
					return g, fmt.Errorf("read exchange rate %q", *rate)
				}
				g.Rate = r
			}
			return g, nil
		})
	if err != nil {
		return nil, fmt.Errorf("reporting forecast: %w", err)
	}
	return groups, nil
}

func scanForecastRow(row pgx.CollectableRow) (forecast.Row, error) {
	var r forecast.Row
	err := row.Scan(&r.PeriodStart, &r.Amount.CurrencyCode, &r.Category, &r.Count, &r.Amount.AmountMinor, &r.Weighted.AmountMinor)
	r.Weighted.CurrencyCode = r.Amount.CurrencyCode
	return r, err
}

// Forecast implements forecast.Store.
func (s ForecastStore) Forecast(ctx context.Context, caller auth.Caller, q forecast.Query) ([]forecast.Row, error) {
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, forecastRowsSQL,
		[]any{caller.TenantID, q.TimeZone, q.Start, q.End, q.PipelineID, q.OwnerID, q.PeriodKind.Unit()}, scanForecastRow)
	if err != nil {
		return nil, fmt.Errorf("forecast: %w", err)
	}
	return rows, nil
}

const snapshotColumns = `to_char(snapshot_date, 'YYYY-MM-DD'), time_zone, take_time, opportunity_count`

func scanSnapshot(row pgx.CollectableRow) (forecast.Snapshot, error) {
	var s forecast.Snapshot
	err := row.Scan(&s.Date, &s.TimeZone, &s.TakeTime, &s.OpportunityCount)
	return s, err
}

const insertSnapshotSQL = `
INSERT INTO pipeline_snapshots (tenant_id, snapshot_date, time_zone, opportunity_count)
VALUES ($1, $2::text::date, $3, 0)
ON CONFLICT (tenant_id, snapshot_date) DO NOTHING
RETURNING ` + snapshotColumns

const snapshotByDateSQL = `SELECT ` + snapshotColumns + ` FROM pipeline_snapshots WHERE tenant_id = $1 AND snapshot_date = $2::text::date`

const insertSnapshotRowsSQL = `
INSERT INTO pipeline_snapshot_rows (tenant_id, snapshot_date, opportunity_id, pipeline_id, stage_id, stage_kind,
    probability, forecast_category, currency_code, amount_minor, close_date, owner_id)
SELECT $1, $3::text::date, opportunity_id, pipeline_id, stage_id, stage_kind, probability, category, currency_code,
    amount_minor, day, owner_id
FROM (` + forecastSQL + `) rated`

const countSnapshotSQL = `
UPDATE pipeline_snapshots SET opportunity_count = $3
WHERE tenant_id = $1 AND snapshot_date = $2::text::date
RETURNING ` + snapshotColumns

// TakeSnapshot implements forecast.Store: one INSERT … SELECT copies every
// live opportunity. A concurrent take of the same day waits on the
// snapshot's key and then returns the winner's snapshot.
func (s ForecastStore) TakeSnapshot(ctx context.Context, caller auth.Caller, date, timeZone string) (forecast.Snapshot, bool, error) {
	var snap forecast.Snapshot
	var created bool
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		snap, created, err = pgdb.InsertOnce(ctx, tx, insertSnapshotSQL, []any{caller.TenantID, date, timeZone},
			snapshotByDateSQL, []any{caller.TenantID, date}, scanSnapshot)
		if err != nil || !created {
			return err
		}
		tag, err := tx.Exec(ctx, insertSnapshotRowsSQL, caller.TenantID, timeZone, date)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, countSnapshotSQL, caller.TenantID, date, tag.RowsAffected())
		if err != nil {
			return err
		}
		if snap, err = pgx.CollectExactlyOneRow(rows, scanSnapshot); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: forecast.EventSnapshotTaken,
			Resource: "pipelineSnapshots/" + snap.Date, After: protoconv.PipelineSnapshot(snap),
		})
	})
	if err != nil {
		return forecast.Snapshot{}, false, fmt.Errorf("take pipeline snapshot %s: %w", date, err)
	}
	return snap, created, nil
}

// snapshotCursor is the position after a page's last snapshot.
type snapshotCursor struct {
	Date string `json:"d"`
}

const snapshotsSQL = `SELECT ` + snapshotColumns + ` FROM pipeline_snapshots
WHERE tenant_id = $1 AND ($2 = '' OR snapshot_date < nullif($2, '')::date)
ORDER BY snapshot_date DESC LIMIT $3`

// Snapshots implements forecast.Store, newest first on the primary key.
func (s ForecastStore) Snapshots(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (forecast.SnapshotPage, error) {
	var cur snapshotCursor
	if pageToken != "" {
		if err := pagetoken.Decode(pageToken, "snapshots", &cur); err != nil {
			return forecast.SnapshotPage{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, snapshotsSQL, []any{caller.TenantID, cur.Date, pageSize + 1}, scanSnapshot)
	if err != nil {
		return forecast.SnapshotPage{}, fmt.Errorf("list pipeline snapshots: %w", err)
	}
	if len(rows) <= pageSize {
		return forecast.SnapshotPage{Snapshots: rows}, nil
	}
	rows = rows[:pageSize]
	next, err := pagetoken.Encode("snapshots", snapshotCursor{Date: rows[pageSize-1].Date})
	if err != nil {
		return forecast.SnapshotPage{}, err
	}
	return forecast.SnapshotPage{Snapshots: rows, NextPageToken: next}, nil
}

const trendSQL = `
SELECT to_char(snapshot_date, 'YYYY-MM-DD'), currency_code, forecast_category, count(*), sum(amount_minor)::bigint, ` + weightedSQL + `
FROM pipeline_snapshot_rows
WHERE tenant_id = $1 AND snapshot_date BETWEEN $2::text::date AND $3::text::date
    AND ($4 = '' OR close_date >= nullif($4, '')::date) AND ($5 = '' OR close_date <= nullif($5, '')::date)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3`

func scanTrendPoint(row pgx.CollectableRow) (forecast.TrendPoint, error) {
	var p forecast.TrendPoint
	err := row.Scan(&p.SnapshotDate, &p.Amount.CurrencyCode, &p.Category, &p.Count, &p.Amount.AmountMinor, &p.Weighted.AmountMinor)
	p.Weighted.CurrencyCode = p.Amount.CurrencyCode
	return p, err
}

// Trend implements forecast.Store.
func (s ForecastStore) Trend(ctx context.Context, caller auth.Caller, q forecast.TrendQuery) ([]forecast.TrendPoint, error) {
	points, err := pgdb.Rows(ctx, s.pool, caller.TenantID, trendSQL, []any{caller.TenantID, q.Start, q.End, q.CloseStart, q.CloseEnd}, scanTrendPoint)
	if err != nil {
		return nil, fmt.Errorf("forecast trend: %w", err)
	}
	return points, nil
}

// accuracySQL sets what the snapshot expected to close in the period (not
// omitted) against what has been won with a close time in it.
const accuracySQL = `
WITH f AS (
    SELECT currency_code, ` + weightedSQL + ` AS weighted,
        coalesce(sum(amount_minor) FILTER (WHERE forecast_category IN (3, 4)), 0)::bigint AS commit
    FROM pipeline_snapshot_rows
    WHERE tenant_id = $1 AND snapshot_date = $2::text::date AND forecast_category <> 5
        AND close_date BETWEEN $3::text::date AND $4::text::date
    GROUP BY 1),
w AS (
    SELECT currency_code, sum(amount_minor)::bigint AS won
    FROM opportunities
    WHERE tenant_id = $1 AND stage_kind = 2 AND delete_time IS NULL
        AND close_time >= ($3::text::date)::timestamp AT TIME ZONE $5
        AND close_time < ($4::text::date + 1)::timestamp AT TIME ZONE $5
    GROUP BY 1)
SELECT currency_code, coalesce(f.weighted, 0), coalesce(f.commit, 0), coalesce(w.won, 0)
FROM f FULL JOIN w USING (currency_code)
ORDER BY 1`

func scanAccuracy(row pgx.CollectableRow) (forecast.Accuracy, error) {
	var a forecast.Accuracy
	err := row.Scan(&a.CurrencyCode, &a.WeightedForecast, &a.CommitForecast, &a.Won)
	return a, err
}

// Accuracy implements forecast.Store.
func (s ForecastStore) Accuracy(ctx context.Context, caller auth.Caller, q forecast.AccuracyQuery) ([]forecast.Accuracy, error) {
	snaps, err := pgdb.Rows(ctx, s.pool, caller.TenantID, snapshotByDateSQL, []any{caller.TenantID, q.SnapshotDate}, scanSnapshot)
	if err != nil {
		return nil, fmt.Errorf("find snapshot %s: %w", q.SnapshotDate, err)
	}
	if len(snaps) == 0 {
		return nil, forecast.ErrSnapshotNotFound
	}
	out, err := pgdb.Rows(ctx, s.pool, caller.TenantID, accuracySQL,
		[]any{caller.TenantID, q.SnapshotDate, q.PeriodStart, q.PeriodEnd, q.TimeZone}, scanAccuracy)
	if err != nil {
		return nil, fmt.Errorf("forecast accuracy: %w", err)
	}
	return out, nil
}

// SnapshotTenants implements forecast.Store through the
// pipeline_snapshot_tenants function: the service cannot see across tenants.
func (s ForecastStore) SnapshotTenants(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT pipeline_snapshot_tenants()`)
	if err != nil {
		return nil, fmt.Errorf("list snapshot tenants: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list snapshot tenants: %w", err)
	}
	return tenants, nil
}

// The attainment rides along every quota read: the won amount in the
// target's currency owned by the assignee (or the members) with a close
// time in the period, one probe of opportunities_won per owner.
const quotaColumns = `quota_id, assignee_kind, assignee, member_ids, to_char(period_start, 'YYYY-MM-DD'),
to_char(period_end, 'YYYY-MM-DD'), time_zone, currency_code, target_minor, create_time, update_time, revision,
coalesce((SELECT sum(o.amount_minor) FROM opportunities o
    WHERE o.tenant_id = quotas.tenant_id AND o.stage_kind = 2 AND o.delete_time IS NULL
      AND o.currency_code = quotas.currency_code
      AND o.owner_id = ANY (CASE WHEN quotas.assignee_kind = 1 THEN ARRAY[quotas.assignee::uuid] ELSE quotas.member_ids END)
      AND o.close_time >= quotas.period_start::timestamp AT TIME ZONE quotas.time_zone
      AND o.close_time < (quotas.period_end + 1)::timestamp AT TIME ZONE quotas.time_zone), 0)::bigint`

func scanQuota(row pgx.CollectableRow) (forecast.Quota, error) {
	var q forecast.Quota
	err := row.Scan(&q.ID, &q.AssigneeKind, &q.Assignee, &q.MemberIDs, &q.PeriodStart, &q.PeriodEnd, &q.TimeZone,
		&q.Target.CurrencyCode, &q.Target.AmountMinor, &q.CreateTime, &q.UpdateTime, &q.Revision, &q.AttainedMinor)
	return q, err
}

const insertQuotaSQL = `
INSERT INTO quotas (tenant_id, quota_id, assignee_kind, assignee, member_ids, period_start, period_end, time_zone,
    currency_code, target_minor, request_id)
VALUES ($1, $2, $3, $4, $5, $6::text::date, $7::text::date, $8, $9, $10, nullif($11, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + quotaColumns

const quotaByRequestSQL = `SELECT ` + quotaColumns + ` FROM quotas WHERE tenant_id = $1 AND request_id = $2`

const quotaByIDSQL = `SELECT ` + quotaColumns + ` FROM quotas WHERE tenant_id = $1 AND quota_id = $2`

// mapQuotaErr turns the one-quota-per-period rule into its domain error.
func mapQuotaErr(err error) error {
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "quotas_assignee_period" {
		return fmt.Errorf("%w: %w", forecast.ErrQuotaExists, err)
	}
	return err
}

// CreateQuota implements forecast.Store.
func (s ForecastStore) CreateQuota(ctx context.Context, caller auth.Caller, q forecast.Quota, requestID string) (forecast.Quota, error) {
	var saved forecast.Quota
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertQuotaSQL,
			[]any{caller.TenantID, q.ID, q.AssigneeKind, q.Assignee, memberIDs(q.MemberIDs), q.PeriodStart, q.PeriodEnd, q.TimeZone,
				q.Target.CurrencyCode, q.Target.AmountMinor, requestID},
			quotaByRequestSQL, []any{caller.TenantID, requestID}, scanQuota)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: forecast.EventQuotaCreated,
			Resource: saved.Resource(), After: protoconv.Quota(saved),
		})
	})
	if err != nil {
		return forecast.Quota{}, fmt.Errorf("create quota: %w", mapQuotaErr(err))
	}
	return saved, nil
}

// memberIDs is never nil: the column is NOT NULL.
func memberIDs(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}

// Quota implements forecast.Store.
func (s ForecastStore) Quota(ctx context.Context, caller auth.Caller, id uuid.UUID) (forecast.Quota, error) {
	q, err := pgdb.Row(ctx, s.pool, caller.TenantID, quotaByIDSQL, []any{caller.TenantID, id}, scanQuota)
	if errors.Is(err, pgx.ErrNoRows) {
		return forecast.Quota{}, forecast.ErrQuotaNotFound
	}
	if err != nil {
		return forecast.Quota{}, fmt.Errorf("get quota %s: %w", id, err)
	}
	return q, nil
}

var quotas = listing[forecast.Quota]{
	table: "quotas", columns: quotaColumns, idColumn: "quota_id", scan: scanQuota,
	id: func(q forecast.Quota) uuid.UUID { return q.ID },
	fields: map[string]sqlfilter.Field{
		"assignee_kind": {Column: "assignee_kind", Kind: sqlfilter.Enum, Enum: pipelinev1.AssigneeKind_value},
		"assignee":      {Column: "assignee", Kind: sqlfilter.String},
		"period_start":  {Column: "period_start", Kind: sqlfilter.Date},
	},
}

var quotaOrder = sortKey[forecast.Quota]{expr: "period_start", sqlType: "date", key: func(q forecast.Quota) string { return q.PeriodStart }}

// Quotas implements forecast.Store, by period start.
func (s ForecastStore) Quotas(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (forecast.QuotaPage, error) {
	rows, next, err := quotas.page(ctx, s.pool, caller.TenantID, quotaOrder, listRequest{
		filter: filter, pageToken: pageToken, pageSize: pageSize, query: filter,
	})
	if err != nil {
		return forecast.QuotaPage{}, err
	}
	return forecast.QuotaPage{Quotas: rows, NextPageToken: next}, nil
}

const lockQuotaSQL = `SELECT ` + quotaColumns + ` FROM quotas WHERE tenant_id = $1 AND quota_id = $2 FOR UPDATE`

const saveQuotaSQL = `
UPDATE quotas SET member_ids = $3, period_start = $4::text::date, period_end = $5::text::date, time_zone = $6,
    currency_code = $7, target_minor = $8, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND quota_id = $2
RETURNING ` + quotaColumns

// MutateQuota implements forecast.Store.
func (s ForecastStore) MutateQuota(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*forecast.Quota) error) (forecast.Quota, error) {
	var saved forecast.Quota
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockQuotaSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanQuota)
		if errors.Is(err, pgx.ErrNoRows) {
			return forecast.ErrQuotaNotFound
		}
		if err != nil {
			return err
		}
		q := before
		if err := m(&q); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, saveQuotaSQL, caller.TenantID, id, memberIDs(q.MemberIDs), q.PeriodStart, q.PeriodEnd, q.TimeZone,
			q.Target.CurrencyCode, q.Target.AmountMinor)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanQuota); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: forecast.EventQuotaUpdated,
			Resource: saved.Resource(), Before: protoconv.Quota(before), After: protoconv.Quota(saved),
		})
	})
	if err != nil {
		return forecast.Quota{}, fmt.Errorf("update quota %s: %w", id, mapQuotaErr(err))
	}
	return saved, nil
}

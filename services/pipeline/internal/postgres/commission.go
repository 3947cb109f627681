package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/pipeline/internal/commission"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// CommissionStore implements commission.Store.
type CommissionStore struct{ *Store }

// Commission returns the commission store over the same pool.
func (s *Store) Commission() CommissionStore { return CommissionStore{s} }

type tierJSON struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	Rate int64 `json:"rate"`
}

func tiersJSON(ts []commission.Tier) ([]byte, error) {
	out := make([]tierJSON, len(ts))
	for i, t := range ts {
		out[i] = tierJSON{From: t.FromBps, To: t.ToBps, Rate: t.RateBps}
	}
	return json.Marshal(out)
}

const planColumns = `plan_id, display_name, currency_code, tiers, clawback_days, time_zone, create_time, update_time, revision,
ARRAY(SELECT m.principal_id FROM commission_plan_members m
      WHERE m.tenant_id = commission_plans.tenant_id AND m.plan_id = commission_plans.plan_id ORDER BY m.principal_id)`

func scanPlan(row pgx.CollectableRow) (commission.Plan, error) {
	var p commission.Plan
	var tiers []byte
	err := row.Scan(&p.ID, &p.DisplayName, &p.CurrencyCode, &tiers, &p.ClawbackDays, &p.TimeZone, &p.CreateTime, &p.UpdateTime,
		&p.Revision, &p.MemberIDs)
	if err != nil {
		return p, err
	}
	var ts []tierJSON
	if err := json.Unmarshal(tiers, &ts); err != nil {
		return p, fmt.Errorf("read tiers: %w", err)
	}
	for _, t := range ts {
		p.Tiers = append(p.Tiers, commission.Tier{FromBps: t.From, ToBps: t.To, RateBps: t.Rate})
	}
	return p, nil
}

const insertPlanSQL = `
INSERT INTO commission_plans (tenant_id, plan_id, display_name, currency_code, tiers, clawback_days, time_zone, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + planColumns

const planByRequestSQL = `SELECT ` + planColumns + ` FROM commission_plans WHERE tenant_id = $1 AND request_id = $2`

const planByIDSQL = `SELECT ` + planColumns + ` FROM commission_plans WHERE tenant_id = $1 AND plan_id = $2`

const deletePlanMembersSQL = `DELETE FROM commission_plan_members WHERE tenant_id = $1 AND plan_id = $2`

const insertPlanMembersSQL = `
INSERT INTO commission_plan_members (tenant_id, principal_id, plan_id) SELECT $1, m, $2 FROM unnest($3::uuid[]) m`

// savePlanMembers makes the plan's members p's; a member of another plan
// breaks the primary key.
func savePlanMembers(ctx context.Context, tx pgx.Tx, tenant string, p commission.Plan) error {
	if _, err := tx.Exec(ctx, deletePlanMembersSQL, tenant, p.ID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertPlanMembersSQL, tenant, p.ID, memberIDs(p.MemberIDs)); err != nil {
		if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "commission_plan_members_pkey" {
			return fmt.Errorf("%w: %w", commission.ErrPrincipalHasPlan, err)
		}
		return err
	}
	return nil
}

// CreatePlan implements commission.Store.
func (s CommissionStore) CreatePlan(ctx context.Context, caller auth.Caller, p commission.Plan, requestID string) (commission.Plan, error) {
	tiers, err := tiersJSON(p.Tiers)
	if err != nil {
		return commission.Plan{}, err
	}
	var saved commission.Plan
	err = pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertPlanSQL,
			[]any{caller.TenantID, p.ID, p.DisplayName, p.CurrencyCode, tiers, p.ClawbackDays, p.TimeZone, requestID},
			planByRequestSQL, []any{caller.TenantID, requestID}, scanPlan)
		if err != nil || !created {
			return err
		}
		if err := savePlanMembers(ctx, tx, caller.TenantID, p); err != nil {
			return err
		}
		if saved, err = planByID(ctx, tx, caller.TenantID, p.ID); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: commission.EventPlanCreated,
			Resource: saved.Resource(), After: protoconv.CommissionPlan(saved),
		})
	})
	if err != nil {
		return commission.Plan{}, fmt.Errorf("create commission plan: %w", err)
	}
	return saved, nil
}

func planByID(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (commission.Plan, error) {
	rows, err := tx.Query(ctx, planByIDSQL, tenant, id)
	if err != nil {
		return commission.Plan{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanPlan)
}

// Plan implements commission.Store.
func (s CommissionStore) Plan(ctx context.Context, caller auth.Caller, id uuid.UUID) (commission.Plan, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, planByIDSQL, []any{caller.TenantID, id}, scanPlan)
	if errors.Is(err, pgx.ErrNoRows) {
		return commission.Plan{}, commission.ErrPlanNotFound
	}
	if err != nil {
		return commission.Plan{}, fmt.Errorf("get commission plan %s: %w", id, err)
	}
	return p, nil
}

var plans = listing[commission.Plan]{
	table: "commission_plans", columns: planColumns, idColumn: "plan_id", scan: scanPlan,
	id: func(p commission.Plan) uuid.UUID { return p.ID },
}

var planOrder = sortKey[commission.Plan]{expr: "create_time", sqlType: "timestamptz", key: func(p commission.Plan) string { return p.CreateTime.Format(time.RFC3339Nano) }}

// Plans implements commission.Store.
func (s CommissionStore) Plans(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (commission.PlanPage, error) {
	rows, next, err := plans.page(ctx, s.pool, caller.TenantID, planOrder, listRequest{pageToken: pageToken, pageSize: pageSize, query: "plans"})
	if err != nil {
		return commission.PlanPage{}, err
	}
	return commission.PlanPage{Plans: rows, NextPageToken: next}, nil
}

const lockPlanSQL = `SELECT ` + planColumns + ` FROM commission_plans WHERE tenant_id = $1 AND plan_id = $2 FOR UPDATE`

const savePlanSQL = `
UPDATE commission_plans SET display_name = $3, tiers = $4, clawback_days = $5, time_zone = $6,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND plan_id = $2`

// MutatePlan implements commission.Store.
func (s CommissionStore) MutatePlan(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*commission.Plan) error) (commission.Plan, error) {
	var saved commission.Plan
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockPlanSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanPlan)
		if errors.Is(err, pgx.ErrNoRows) {
			return commission.ErrPlanNotFound
		}
		if err != nil {
			return err
		}
		p := before
		p.Tiers = append([]commission.Tier(nil), before.Tiers...)
		if err := m(&p); err != nil {
			return err
		}
		tiers, err := tiersJSON(p.Tiers)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, savePlanSQL, caller.TenantID, id, p.DisplayName, tiers, p.ClawbackDays, p.TimeZone); err != nil {
			return err
		}
		if err := savePlanMembers(ctx, tx, caller.TenantID, p); err != nil {
			return err
		}
		if saved, err = planByID(ctx, tx, caller.TenantID, id); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: commission.EventPlanUpdated,
			Resource: saved.Resource(), Before: protoconv.CommissionPlan(before), After: protoconv.CommissionPlan(saved),
		})
	})
	if err != nil {
		return commission.Plan{}, fmt.Errorf("update commission plan %s: %w", id, err)
	}
	return saved, nil
}

const splitsSQL = `SELECT principal_id, share_bps FROM commission_splits WHERE tenant_id = $1 AND opportunity_id = $2 ORDER BY principal_id`

func scanSplit(row pgx.CollectableRow) (commission.Split, error) {
	var sp commission.Split
	err := row.Scan(&sp.PrincipalID, &sp.ShareBps)
	return sp, err
}

// Splits implements commission.Store.
func (s CommissionStore) Splits(ctx context.Context, caller auth.Caller, opportunity uuid.UUID) ([]commission.Split, error) {
	var out []commission.Split
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, opportunityExistsSQL, caller.TenantID, opportunity).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return pipeline.ErrNotFound
		}
		rows, err := tx.Query(ctx, splitsSQL, caller.TenantID, opportunity)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanSplit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get commission splits of %s: %w", opportunity, err)
	}
	return out, nil
}

const lockOpportunityIDSQL = `SELECT opportunity_id FROM opportunities WHERE tenant_id = $1 AND opportunity_id = $2 FOR UPDATE`

const deleteSplitsSQL = `DELETE FROM commission_splits WHERE tenant_id = $1 AND opportunity_id = $2`

const insertSplitsSQL = `
INSERT INTO commission_splits (tenant_id, opportunity_id, principal_id, share_bps)
SELECT $1, $2, p, s FROM unnest($3::uuid[], $4::integer[]) AS x (p, s)`

// SetSplits implements commission.Store. The opportunity's row lock orders
// concurrent replacements and their events.
func (s CommissionStore) SetSplits(ctx context.Context, caller auth.Caller, opportunity uuid.UUID, splits []commission.Split) ([]commission.Split, error) {
	var out []commission.Split
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockOpportunityIDSQL, caller.TenantID, opportunity)
		if err != nil {
			return err
		}
		if _, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[uuid.UUID]); errors.Is(err, pgx.ErrNoRows) {
			return pipeline.ErrNotFound
		} else if err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, splitsSQL, caller.TenantID, opportunity); err != nil {
			return err
		}
		before, err := pgx.CollectRows(rows, scanSplit)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteSplitsSQL, caller.TenantID, opportunity); err != nil {
			return err
		}
		ids, shares := make([]uuid.UUID, len(splits)), make([]int32, len(splits))
		for i, sp := range splits {
			ids[i], shares[i] = sp.PrincipalID, int32(sp.ShareBps)
		}
		if _, err := tx.Exec(ctx, insertSplitsSQL, caller.TenantID, opportunity, ids, shares); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, splitsSQL, caller.TenantID, opportunity); err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, scanSplit); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: commission.EventSplitsUpdated,
			Resource: "opportunities/" + opportunity.String() + "/commissionSplits",
			Before:   protoconv.CommissionSplits(opportunity, before), After: protoconv.CommissionSplits(opportunity, out),
		})
	})
	if err != nil {
		return nil, fmt.Errorf("set commission splits of %s: %w", opportunity, err)
	}
	return out, nil
}

const repPlanSQL = `
SELECT ` + planColumns + ` FROM commission_plans
WHERE tenant_id = $1 AND plan_id = (SELECT plan_id FROM commission_plan_members WHERE tenant_id = $1 AND principal_id = $2)`

const repQuotaSQL = `
SELECT target_minor FROM quotas
WHERE tenant_id = $1 AND assignee_kind = 1 AND assignee = $2::uuid::text AND period_start = $3::text::date
    AND period_end = $4::text::date AND currency_code = $5`

// upsertStatementSQL creates the statement or, on a recompute, bumps it;
// the unique period key serialises concurrent computes of one statement.
const upsertStatementSQL = `
INSERT INTO commission_statements (tenant_id, statement_id, principal_id, plan_id, period_start, period_end,
    currency_code, total_minor, quota_minor)
VALUES ($1, $2, $3, $4, $5::text::date, $6::text::date, $7, 0, $8)
ON CONFLICT (tenant_id, principal_id, period_start, period_end) DO UPDATE
SET plan_id = excluded.plan_id, currency_code = excluded.currency_code, quota_minor = excluded.quota_minor,
    total_minor = 0, compute_time = now(), revision = commission_statements.revision + 1
RETURNING statement_id`

const deleteStatementLinesSQL = `DELETE FROM commission_statement_lines WHERE tenant_id = $1 AND statement_id = $2`

// computeLinesSQL writes every line of a statement in one statement.
//
// Earnings: the won, live opportunities closed in the period (in the plan's
// time zone) that credit the rep: by their splits, or wholly to the owner
// when they have none. Credit is the rep's share of the amount, rounded half
// up. Credits accumulate in close order; each tier covers the band of
// cumulative credit between its attainment bounds × quota, and the part of
// an opportunity's credit inside a band earns that tier's rate (so an
// opportunity that crosses a bound gets one line per tier). A flat plan's
// one tier covers everything.
//
// Exclusions: credited opportunities in another currency earn nothing.
//
// Clawbacks: opportunities whose won stay ended (moved out of won) or that
// were deleted while won, in the period and within clawback_days of being
// won, reverse what other statements of this rep paid on them net of
// earlier clawbacks, when that is still positive.
const computeLinesSQL = `
WITH b AS (
    SELECT $1::uuid AS tenant, $2::uuid AS rep, $3::uuid AS stmt, $4::text AS cur, $5::bigint AS quota,
        $6::jsonb AS tiers, $7::integer AS claw_days,
        ($8::text::date)::timestamp AT TIME ZONE $10 AS t0, ($9::text::date + 1)::timestamp AT TIME ZONE $10 AS t1, $10::text AS tz),
credited AS (
    SELECT o.opportunity_id, o.currency_code, o.amount_minor, o.close_time, 10000 AS share_bps
    FROM b JOIN opportunities o ON o.tenant_id = b.tenant AND o.owner_id = b.rep AND o.stage_kind = 2
        AND o.delete_time IS NULL AND o.close_time >= b.t0 AND o.close_time < b.t1
    WHERE NOT EXISTS (SELECT 1 FROM commission_splits x WHERE x.tenant_id = o.tenant_id AND x.opportunity_id = o.opportunity_id)
    UNION ALL
    SELECT o.opportunity_id, o.currency_code, o.amount_minor, o.close_time, sp.share_bps
    FROM b JOIN commission_splits sp ON sp.tenant_id = b.tenant AND sp.principal_id = b.rep
    JOIN opportunities o ON o.tenant_id = sp.tenant_id AND o.opportunity_id = sp.opportunity_id AND o.stage_kind = 2
        AND o.delete_time IS NULL AND o.close_time >= b.t0 AND o.close_time < b.t1),
rated AS (
    SELECT c.*, round(c.amount_minor * c.share_bps / 10000.0)::bigint AS credit FROM credited c),
running AS (
    SELECT r.*, sum(r.credit) OVER (ORDER BY r.close_time, r.opportunity_id) - r.credit AS cum0
    FROM rated r, b WHERE r.currency_code = b.cur),
tier AS (
    SELECT (t.ord - 1)::integer AS idx, (t.e->>'from')::bigint AS from_bps, (t.e->>'to')::bigint AS to_bps,
        (t.e->>'rate')::bigint AS rate,
        CASE WHEN jsonb_array_length(b.tiers) = 1 THEN 0 ELSE div((t.e->>'from')::numeric * b.quota, 10000) END AS lo,
        CASE WHEN jsonb_array_length(b.tiers) = 1 OR (t.e->>'to')::bigint = 0 THEN NULL
             ELSE div((t.e->>'to')::numeric * b.quota, 10000) END AS hi
    FROM b, jsonb_array_elements(b.tiers) WITH ORDINALITY AS t (e, ord)),
piece AS (
    SELECT r.*, t.idx, t.rate, t.from_bps, t.to_bps, t.lo, t.hi,
        (least(r.cum0 + r.credit, coalesce(t.hi, r.cum0 + r.credit)) - greatest(r.cum0, t.lo))::bigint AS part
    FROM running r JOIN tier t ON greatest(r.cum0, t.lo) < least(r.cum0 + r.credit, coalesce(t.hi, r.cum0 + r.credit))),
cancelled AS (
    SELECT h.opportunity_id, h.enter_time AS won_time, h.exit_time AS cancel_time, 'moved out of won' AS how
    FROM b JOIN opportunity_stage_history h ON h.tenant_id = b.tenant AND h.stage_kind = 2
        AND h.exit_time >= b.t0 AND h.exit_time < b.t1
    WHERE h.exit_time <= h.enter_time + make_interval(days => b.claw_days)
    UNION ALL
    SELECT o.opportunity_id, o.close_time, o.delete_time, 'deleted while won'
    FROM b JOIN opportunities o ON o.tenant_id = b.tenant AND o.stage_kind = 2
        AND o.delete_time >= b.t0 AND o.delete_time < b.t1
    WHERE o.delete_time <= o.close_time + make_interval(days => b.claw_days)),
paid AS (
    SELECT l.opportunity_id, sum(l.credit_minor)::bigint AS credit, sum(l.amount_minor)::bigint AS amount,
        count(DISTINCT l.statement_id) AS statements
    FROM b JOIN commission_statement_lines l ON l.tenant_id = b.tenant AND l.principal_id = b.rep
        AND l.kind IN (1, 2) AND l.statement_id <> b.stmt
    WHERE l.opportunity_id IN (SELECT opportunity_id FROM cancelled)
    GROUP BY 1),
lines AS (
    SELECT 1 AS kind, p.opportunity_id, p.close_time AS at, p.idx, p.part AS credit, p.rate,
        round(p.part * p.rate / 10000.0)::bigint AS amount,
        format('won %s: %s %s × %s%% share = credit %s; tier %s [%s%%, %s) of quota %s covers credit %s to %s, so %s of it; %s × %s%% = %s',
            to_char(p.close_time AT TIME ZONE b.tz, 'YYYY-MM-DD'), b.cur, p.amount_minor, to_char(p.share_bps / 100.0, 'FM990.00'),
            p.credit, p.idx + 1, to_char(p.from_bps / 100.0, 'FM9999990.00'),
            CASE WHEN p.to_bps = 0 THEN 'no end' ELSE to_char(p.to_bps / 100.0, 'FM9999990.00') || '%' END, b.quota,
            p.lo, coalesce(p.hi::text, 'no end'), p.part, p.part, to_char(p.rate / 100.0, 'FM990.00'),
            round(p.part * p.rate / 10000.0)::bigint) AS explanation
    FROM piece p, b
    UNION ALL
    SELECT 3, r.opportunity_id, r.close_time, 0, r.credit, 0, 0,
        format('won %s: %s %s × %s%% share = credit %s %s; the plan pays in %s and no exchange rates are kept, so it earns nothing',
            to_char(r.close_time AT TIME ZONE b.tz, 'YYYY-MM-DD'), r.currency_code, r.amount_minor,
            to_char(r.share_bps / 100.0, 'FM990.00'), r.currency_code, r.credit, b.cur)
    FROM rated r, b WHERE r.currency_code <> b.cur
    UNION ALL
    SELECT 2, c.opportunity_id, c.cancel_time, 0, -p.credit, 0, -p.amount,
        format('%s %s, %s days after it was won on %s (clawback within %s days): reverses %s %s paid on credit %s in %s other statement(s)',
            c.how, to_char(c.cancel_time AT TIME ZONE b.tz, 'YYYY-MM-DD'),
            extract(day FROM c.cancel_time - c.won_time)::integer, to_char(c.won_time AT TIME ZONE b.tz, 'YYYY-MM-DD'),
            b.claw_days, b.cur, p.amount, p.credit, p.statements)
    FROM cancelled c JOIN paid p USING (opportunity_id), b
    WHERE p.amount > 0)
INSERT INTO commission_statement_lines (tenant_id, statement_id, line_number, principal_id, opportunity_id, kind,
    credit_minor, rate_bps, amount_minor, tier_index, explanation)
SELECT b.tenant, b.stmt, row_number() OVER (ORDER BY l.kind = 2, l.at, l.opportunity_id, l.idx), b.rep, l.opportunity_id, l.kind,
    l.credit, l.rate, l.amount, l.idx, l.explanation
FROM lines l, b`

const totalStatementSQL = `
UPDATE commission_statements s SET total_minor = coalesce((SELECT sum(amount_minor) FROM commission_statement_lines l
    WHERE l.tenant_id = s.tenant_id AND l.statement_id = s.statement_id), 0)
WHERE tenant_id = $1 AND statement_id = $2`

const statementColumns = `statement_id, principal_id, plan_id, to_char(period_start, 'YYYY-MM-DD'), to_char(period_end, 'YYYY-MM-DD'),
currency_code, total_minor, quota_minor, compute_time, revision`

func scanStatement(row pgx.CollectableRow) (commission.Statement, error) {
	var s commission.Statement
	err := row.Scan(&s.ID, &s.PrincipalID, &s.PlanID, &s.PeriodStart, &s.PeriodEnd, &s.CurrencyCode, &s.TotalMinor,
		&s.QuotaMinor, &s.ComputeTime, &s.Revision)
	return s, err
}

const statementByIDSQL = `SELECT ` + statementColumns + ` FROM commission_statements WHERE tenant_id = $1 AND statement_id = $2`

const statementLinesSQL = `
SELECT line_number, opportunity_id, kind, credit_minor, rate_bps, amount_minor, tier_index, explanation
FROM commission_statement_lines WHERE tenant_id = $1 AND statement_id = $2 ORDER BY line_number`

func scanLine(row pgx.CollectableRow) (commission.Line, error) {
	var l commission.Line
	err := row.Scan(&l.Number, &l.OpportunityID, &l.Kind, &l.CreditMinor, &l.RateBps, &l.AmountMinor, &l.TierIndex, &l.Explanation)
	return l, err
}

func statementIn(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (commission.Statement, error) {
	rows, err := tx.Query(ctx, statementByIDSQL, tenant, id)
	if err != nil {
		return commission.Statement{}, err
	}
	st, err := pgx.CollectExactlyOneRow(rows, scanStatement)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, commission.ErrStatementNotFound
	}
	if err != nil {
		return st, err
	}
	if rows, err = tx.Query(ctx, statementLinesSQL, tenant, id); err != nil {
		return st, err
	}
	st.Lines, err = pgx.CollectRows(rows, scanLine)
	return st, err
}

// Compute implements commission.Store: the whole statement is three
// set-based statements in one transaction, whatever the number of
// opportunities.
func (s CommissionStore) Compute(ctx context.Context, caller auth.Caller, rep uuid.UUID, periodStart, periodEnd string) (commission.Statement, error) {
	var st commission.Statement
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, repPlanSQL, caller.TenantID, rep)
		if err != nil {
			return err
		}
		plan, err := pgx.CollectExactlyOneRow(rows, scanPlan)
		if errors.Is(err, pgx.ErrNoRows) {
			return commission.ErrNoPlan
		}
		if err != nil {
			return err
		}
		var quota int64
		err = tx.QueryRow(ctx, repQuotaSQL, caller.TenantID, rep, periodStart, periodEnd, plan.CurrencyCode).Scan(&quota)
		switch {
		case errors.Is(err, pgx.ErrNoRows) && !plan.Flat():
			return commission.ErrNoQuota
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		}
		var id uuid.UUID
		if err := tx.QueryRow(ctx, upsertStatementSQL, caller.TenantID, uuid.Must(uuid.NewV7()), rep, plan.ID, periodStart, periodEnd,
			plan.CurrencyCode, quota).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteStatementLinesSQL, caller.TenantID, id); err != nil {
			return err
		}
		tiers, err := tiersJSON(plan.Tiers)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, computeLinesSQL, caller.TenantID, rep, id, plan.CurrencyCode, quota, tiers, plan.ClawbackDays,
			periodStart, periodEnd, plan.TimeZone); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, totalStatementSQL, caller.TenantID, id); err != nil {
			return err
		}
		if st, err = statementIn(ctx, tx, caller.TenantID, id); err != nil {
			return err
		}
		summary := st
		summary.Lines = nil
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: commission.EventStatementComputed,
			Resource: st.Resource(), After: protoconv.CommissionStatement(summary),
		})
	})
	if err != nil {
		return commission.Statement{}, fmt.Errorf("compute commission statement of %s: %w", rep, err)
	}
	return st, nil
}

// Statement implements commission.Store; statements the caller may not
// see are not found (row-level security hides them).
func (s CommissionStore) Statement(ctx context.Context, caller auth.Caller, id uuid.UUID) (commission.Statement, error) {
	var st commission.Statement
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		st, err = statementIn(ctx, tx, caller.TenantID, id)
		return err
	})
	if errors.Is(err, commission.ErrStatementNotFound) {
		return commission.Statement{}, err
	}
	if err != nil {
		return commission.Statement{}, fmt.Errorf("get commission statement %s: %w", id, err)
	}
	return st, nil
}

var statements = listing[commission.Statement]{
	table: "commission_statements", columns: statementColumns, idColumn: "statement_id", scan: scanStatement,
	id: func(s commission.Statement) uuid.UUID { return s.ID },
	fields: map[string]sqlfilter.Field{
		"principal_id": {Column: "principal_id", Kind: sqlfilter.UUID},
		"period_start": {Column: "period_start", Kind: sqlfilter.Date},
	},
}

var statementOrder = sortKey[commission.Statement]{expr: "period_start", sqlType: "date", desc: true,
	key: func(s commission.Statement) string { return s.PeriodStart }}

// Statements implements commission.Store.
func (s CommissionStore) Statements(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (commission.StatementPage, error) {
	rows, next, err := statements.page(ctx, s.pool, caller.TenantID, statementOrder, listRequest{
		filter: filter, pageToken: pageToken, pageSize: pageSize, query: filter,
	})
	if err != nil {
		return commission.StatementPage{}, err
	}
	return commission.StatementPage{Statements: rows, NextPageToken: next}, nil
}

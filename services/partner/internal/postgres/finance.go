package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Finance implements finance.Store.
type Finance struct{ pool *pgxpool.Pool }

// Finance returns the finance store on the same pool.
func (s *Store) Finance() *Finance { return &Finance{pool: s.pool} }

const ruleColumns = `commission_rule_id, kind, tier, product_id, valid_from, valid_until, rate_bps, display_name, create_time, revision`

func scanRule(row pgx.CollectableRow) (finance.Rule, error) {
	var r finance.Rule
	var until *time.Time
	err := row.Scan(&r.ID, &r.Kind, &r.Tier, &r.ProductID, &r.ValidFrom, &until, &r.RateBPS, &r.DisplayName, &r.CreateTime, &r.Revision)
	if until != nil {
		r.ValidUntil = *until
	}
	return r, err
}

const (
	// lockRuleScopeSQL serialises creates of one (kind, tier, product), so
	// two overlapping rules created at once cannot both pass the check.
	lockRuleScopeSQL = `SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/commission_rule/' || $2::text || '/' || $3::text || '/' || $4::text, 0))`
	overlapSQL       = `
SELECT ` + ruleColumns + ` FROM commission_rules
WHERE tenant_id = $1 AND tier = $2 AND kind = $3 AND product_id = $4
  AND ($6::date IS NULL OR valid_from < $6) AND (valid_until IS NULL OR valid_until > $5)
ORDER BY valid_from LIMIT 1`
	insertRuleSQL = `
INSERT INTO commission_rules (tenant_id, commission_rule_id, kind, tier, product_id, valid_from, valid_until, rate_bps, display_name, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + ruleColumns
	ruleByRequestSQL = `SELECT ` + ruleColumns + ` FROM commission_rules WHERE tenant_id = $1 AND request_id = $2`
)

// CreateRule implements finance.Store.
func (s *Finance) CreateRule(ctx context.Context, caller auth.Caller, r finance.Rule, requestID string) (finance.Rule, error) {
	var saved finance.Rule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if requestID != "" {
			rows, err := tx.Query(ctx, ruleByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			earlier, err := pgx.CollectExactlyOneRow(rows, scanRule)
			if err == nil {
				saved = earlier
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if _, err := tx.Exec(ctx, lockRuleScopeSQL, caller.TenantID, r.Kind, r.Tier, r.ProductID); err != nil {
			return fmt.Errorf("lock rule scope: %w", err)
		}
		rows, err := tx.Query(ctx, overlapSQL, caller.TenantID, r.Tier, r.Kind, r.ProductID, r.ValidFrom, nullTime(r.ValidUntil))
		if err != nil {
			return err
		}
		other, err := pgx.CollectExactlyOneRow(rows, scanRule)
		if err == nil {
			return fmt.Errorf("%w: rule %s (%q) is in force from %s to %s", finance.ErrRuleOverlap, other.ID, other.DisplayName,
				finance.FormatDate(other.ValidFrom), untilWords(other.ValidUntil))
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		created := false
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertRuleSQL,
			[]any{caller.TenantID, r.ID, r.Kind, r.Tier, r.ProductID, r.ValidFrom, nullTime(r.ValidUntil), r.RateBPS, r.DisplayName, requestID},
			ruleByRequestSQL, []any{caller.TenantID, requestID}, scanRule)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: finance.EventRuleCreated,
			Resource: saved.Resource(), After: protoconv.CommissionRule(saved),
		})
	})
	if err != nil {
		return finance.Rule{}, fmt.Errorf("create commission rule: %w", err)
	}
	return saved, nil
}

func untilWords(t time.Time) string {
	if t.IsZero() {
		return "open end"
	}
	return finance.FormatDate(t)
}

// ruleFields are the fields ListCommissionRules filters on, each backed by an index.
var ruleFields = map[string]sqlfilter.Field{
	"kind":       {Column: "kind", Kind: sqlfilter.Enum, Enum: partnerv1.CommissionRuleKind_value},
	"tier":       {Column: "tier", Kind: sqlfilter.String},
	"product_id": {Column: "product_id", Kind: sqlfilter.String},
}

var listRules = keyset.Query[finance.Rule]{
	Table: "commission_rules", Columns: ruleColumns, IDColumn: "commission_rule_id", Fields: ruleFields, Scan: scanRule,
	Key: func(r finance.Rule) (time.Time, uuid.UUID) { return r.CreateTime, r.ID },
}

// ListRules implements finance.Store.
func (s *Finance) ListRules(ctx context.Context, caller auth.Caller, q finance.RuleQuery) (finance.RulePage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listRules, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return finance.RulePage{}, err
	}
	return finance.RulePage{Rules: rows, NextPageToken: next}, nil
}

const rulesForSQL = `
SELECT ` + ruleColumns + ` FROM commission_rules
WHERE tenant_id = $1 AND tier IN ($2, '') AND valid_from < $4 AND (valid_until IS NULL OR valid_until > $3)`

// RulesFor implements finance.Store.
func (s *Finance) RulesFor(ctx context.Context, caller auth.Caller, tier string, from, to time.Time) ([]finance.Rule, error) {
	rules, err := pgdb.Rows(ctx, s.pool, caller.TenantID, rulesForSQL, []any{caller.TenantID, tier, from, to}, scanRule)
	if err != nil {
		return nil, fmt.Errorf("rules of tier %q: %w", tier, err)
	}
	return rules, nil
}

const financePartnerSQL = `SELECT partner_id, tier FROM partners WHERE tenant_id = $1 AND partner_id = $2`

// Partner implements finance.Store.
func (s *Finance) Partner(ctx context.Context, caller auth.Caller, id uuid.UUID) (finance.Partner, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, financePartnerSQL, []any{caller.TenantID, id}, pgx.RowToStructByPos[finance.Partner])
	if errors.Is(err, pgx.ErrNoRows) {
		return finance.Partner{}, finance.ErrPartnerNotFound
	}
	if err != nil {
		return finance.Partner{}, fmt.Errorf("get partner %s: %w", id, err)
	}
	return p, nil
}

const statementColumns = `partner_statement_id, partner_id, period_start, period_end, tier, totals, line_count, revision, compute_time, computed_by, create_time`

func scanStatement(row pgx.CollectableRow) (finance.Statement, error) {
	var s finance.Statement
	err := row.Scan(&s.ID, &s.PartnerID, &s.PeriodStart, &s.PeriodEnd, &s.Tier, &s.Totals, &s.LineCount, &s.Revision, &s.ComputeTime, &s.ComputedBy, &s.CreateTime)
	return s, err
}

const (
	// lockPeriodSQL makes computations of one partner and period take
	// turns, including the first, when there is no row to lock yet.
	lockPeriodSQL = `SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/partner_statement/' || $2::text || '/' || $3::date || '/' || $4::date, 0))`
	// earlierStatementSQL reads the earlier computation of the same partner and period.
	earlierStatementSQL = `SELECT ` + statementColumns + ` FROM partner_statements
WHERE tenant_id = $1 AND partner_id = $2 AND period_start = $3 AND period_end = $4`
	// upsertStatementSQL inserts the statement, or replaces the earlier
	// computation keeping its id.
	upsertStatementSQL = `
INSERT INTO partner_statements (tenant_id, partner_statement_id, partner_id, period_start, period_end, tier, totals, line_count, computed_by, compute_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, partner_id, period_start, period_end) DO UPDATE
SET tier = excluded.tier, totals = excluded.totals, line_count = excluded.line_count, computed_by = excluded.computed_by,
    compute_time = excluded.compute_time, revision = partner_statements.revision + 1
RETURNING ` + statementColumns
	deleteLinesSQL = `DELETE FROM partner_statement_lines WHERE tenant_id = $1 AND partner_statement_id = $2`
	// insertLinesSQL writes a batch of lines from parallel arrays: one
	// statement per batch instead of one per line (COPY is not allowed
	// under row-level security).
	insertLinesSQL = `
INSERT INTO partner_statement_lines (tenant_id, partner_statement_id, partner_id, line_number, order_id, product_id, order_time,
    currency_code, revenue_minor, kind, commission_rule_id, rate_bps, amount_minor, explanation)
SELECT $1, $2, $3, l.n, l.o, l.p, l.t, l.c, l.r, l.k, nullif(l.ru, '00000000-0000-0000-0000-000000000000'::uuid), l.b, l.a, l.e
FROM unnest($4::int[], $5::uuid[], $6::text[], $7::timestamptz[], $8::text[], $9::bigint[], $10::smallint[], $11::uuid[],
    $12::int[], $13::bigint[], $14::text[]) AS l(n, o, p, t, c, r, k, ru, b, a, e)`
)

// lineBatch bounds the lines sent in one INSERT.
const lineBatch = 5000

// totalsJSON keeps the totals column a JSON array, never null.
func totalsJSON(t []finance.Total) []finance.Total {
	if t == nil {
		return []finance.Total{}
	}
	return t
}

// SaveStatement implements finance.Store.
func (s *Finance) SaveStatement(ctx context.Context, caller auth.Caller, st finance.Statement, lines []finance.Line) (finance.Statement, error) {
	var saved finance.Statement
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockPeriodSQL, caller.TenantID, st.PartnerID, st.PeriodStart, st.PeriodEnd); err != nil {
			return fmt.Errorf("lock statement period: %w", err)
		}
		rows, err := tx.Query(ctx, earlierStatementSQL, caller.TenantID, st.PartnerID, st.PeriodStart, st.PeriodEnd)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanStatement)
		existed := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err = tx.Query(ctx, upsertStatementSQL, caller.TenantID, st.ID, st.PartnerID, st.PeriodStart, st.PeriodEnd,
			st.Tier, totalsJSON(st.Totals), st.LineCount, st.ComputedBy, st.ComputeTime)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanStatement); err != nil {
			return err
		}
		if existed {
			if _, err := tx.Exec(ctx, deleteLinesSQL, caller.TenantID, saved.ID); err != nil {
				return fmt.Errorf("drop earlier lines: %w", err)
			}
		}
		for start := 0; start < len(lines); start += lineBatch {
			if err := insertLines(ctx, tx, caller.TenantID, saved, lines[start:min(start+lineBatch, len(lines))]); err != nil {
				return err
			}
		}
		c := outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: finance.EventStatementComputed,
			Resource: saved.Resource(), After: protoconv.Statement(saved),
		}
		if existed {
			c.Type, c.Before = finance.EventStatementRecomputed, protoconv.Statement(before)
		}
		return outbox.Record(ctx, tx, c)
	})
	if err != nil {
		return finance.Statement{}, fmt.Errorf("save statement of partner %s: %w", st.PartnerID, err)
	}
	return saved, nil
}

func insertLines(ctx context.Context, tx pgx.Tx, tenant string, st finance.Statement, lines []finance.Line) error {
	n := len(lines)
	var (
		nums, rates      = make([]int32, n), make([]int32, n)
		orders, ruleIDs  = make([]uuid.UUID, n), make([]uuid.UUID, n)
		products, curs   = make([]string, n), make([]string, n)
		times            = make([]time.Time, n)
		revenues, amount = make([]int64, n), make([]int64, n)
		kinds            = make([]int16, n)
		explanations     = make([]string, n)
	)
	for i, l := range lines {
		nums[i], orders[i], products[i], times[i], curs[i] = int32(l.Number), l.OrderID, l.ProductID, l.OrderTime, l.CurrencyCode
		revenues[i], kinds[i], ruleIDs[i], rates[i], amount[i], explanations[i] = l.RevenueMinor, int16(l.Kind), l.RuleID, l.RateBPS, l.AmountMinor, l.Explanation
	}
	if _, err := tx.Exec(ctx, insertLinesSQL, tenant, st.ID, st.PartnerID, nums, orders, products, times, curs, revenues, kinds,
		ruleIDs, rates, amount, explanations); err != nil {
		return fmt.Errorf("insert statement lines: %w", err)
	}
	return nil
}

const statementByIDSQL = `SELECT ` + statementColumns + ` FROM partner_statements WHERE tenant_id = $1 AND partner_statement_id = $2`

// Statement implements finance.Store.
func (s *Finance) Statement(ctx context.Context, caller auth.Caller, id uuid.UUID) (finance.Statement, error) {
	st, err := pgdb.Row(ctx, s.pool, caller.TenantID, statementByIDSQL, []any{caller.TenantID, id}, scanStatement)
	if errors.Is(err, pgx.ErrNoRows) {
		return finance.Statement{}, finance.ErrStatementNotFound
	}
	if err != nil {
		return finance.Statement{}, fmt.Errorf("get statement %s: %w", id, err)
	}
	return st, nil
}

// statementFields are the fields ListPartnerStatements filters on, each backed by an index.
var statementFields = map[string]sqlfilter.Field{
	"partner_id": {Column: "partner_id", Kind: sqlfilter.UUID},
}

var listStatements = keyset.Query[finance.Statement]{
	Table: "partner_statements", Columns: statementColumns, IDColumn: "partner_statement_id", Fields: statementFields, Scan: scanStatement,
	Key: func(s finance.Statement) (time.Time, uuid.UUID) { return s.CreateTime, s.ID },
}

// ListStatements implements finance.Store.
func (s *Finance) ListStatements(ctx context.Context, caller auth.Caller, q finance.StatementQuery) (finance.StatementPage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listStatements, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return finance.StatementPage{}, err
	}
	return finance.StatementPage{Statements: rows, NextPageToken: next}, nil
}

const linesSQL = `
SELECT line_number, order_id, product_id, order_time, currency_code, revenue_minor, kind,
    coalesce(commission_rule_id, '00000000-0000-0000-0000-000000000000'), rate_bps, amount_minor, explanation
FROM partner_statement_lines WHERE tenant_id = $1 AND partner_statement_id = $2 AND line_number > $3
ORDER BY line_number LIMIT $4`

func scanLine(row pgx.CollectableRow) (finance.Line, error) {
	var l finance.Line
	err := row.Scan(&l.Number, &l.OrderID, &l.ProductID, &l.OrderTime, &l.CurrencyCode, &l.RevenueMinor, &l.Kind,
		&l.RuleID, &l.RateBPS, &l.AmountMinor, &l.Explanation)
	return l, err
}

// Lines implements finance.Store.
func (s *Finance) Lines(ctx context.Context, caller auth.Caller, id uuid.UUID, after, pageSize int) ([]finance.Line, error) {
	lines, err := pgdb.Rows(ctx, s.pool, caller.TenantID, linesSQL, []any{caller.TenantID, id, after, pageSize}, scanLine)
	if err != nil {
		return nil, fmt.Errorf("lines of statement %s: %w", id, err)
	}
	return lines, nil
}

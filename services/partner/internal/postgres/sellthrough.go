package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
	"github.com/rapportcrm/rapport/services/partner/internal/sellthrough"
)

// SellThrough implements sellthrough.Store.
type SellThrough struct{ pool *pgxpool.Pool }

// SellThrough returns the sell-through store on the same pool.
func (s *Store) SellThrough() *SellThrough { return &SellThrough{pool: s.pool} }

// reportSummaryColumns leave out the lines; reportColumns add them last.
const (
	reportSummaryColumns = `sell_through_report_id, partner_id, period_start, period_end, currency_code, line_count, total_units,
total_revenue_minor, satisfaction_sum, satisfaction_count, external_id, submitted_by, create_time`
	reportColumns = reportSummaryColumns + `, lines`
)

func scanReportSummary(row pgx.CollectableRow) (sellthrough.Report, error) {
	var r sellthrough.Report
	err := row.Scan(&r.ID, &r.PartnerID, &r.PeriodStart, &r.PeriodEnd, &r.CurrencyCode, &r.LineCount, &r.TotalUnits,
		&r.TotalRevenueMinor, &r.SatisfactionSum, &r.SatisfactionCount, &r.ExternalID, &r.SubmittedBy, &r.CreateTime)
	return r, err
}

func scanReport(row pgx.CollectableRow) (sellthrough.Report, error) {
	var r sellthrough.Report
	err := row.Scan(&r.ID, &r.PartnerID, &r.PeriodStart, &r.PeriodEnd, &r.CurrencyCode, &r.LineCount, &r.TotalUnits,
		&r.TotalRevenueMinor, &r.SatisfactionSum, &r.SatisfactionCount, &r.ExternalID, &r.SubmittedBy, &r.CreateTime, &r.Lines)
	return r, err
}

const (
	insertReportSQL = `
INSERT INTO sell_through_reports (tenant_id, sell_through_report_id, partner_id, period_start, period_end, currency_code, lines,
    line_count, total_units, total_revenue_minor, satisfaction_sum, satisfaction_count, external_id, submitted_by, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, nullif($15, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + reportColumns
	reportByRequestSQL = `SELECT ` + reportColumns + ` FROM sell_through_reports WHERE tenant_id = $1 AND request_id = $2`
)

// Create implements sellthrough.Store.
func (s *SellThrough) Create(ctx context.Context, caller auth.Caller, r sellthrough.Report, requestID string) (sellthrough.Report, error) {
	var saved sellthrough.Report
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var tier string
		if err := tx.QueryRow(ctx, visiblePartnerSQL, caller.TenantID, r.PartnerID).Scan(&tier); errors.Is(err, pgx.ErrNoRows) {
			return sellthrough.ErrPartnerNotFound
		} else if err != nil {
			return err
		}
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertReportSQL,
			[]any{caller.TenantID, r.ID, r.PartnerID, r.PeriodStart, r.PeriodEnd, r.CurrencyCode, r.Lines, r.LineCount, r.TotalUnits,
				r.TotalRevenueMinor, r.SatisfactionSum, r.SatisfactionCount, r.ExternalID, r.SubmittedBy, requestID},
			reportByRequestSQL, []any{caller.TenantID, requestID}, scanReport)
		if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "sell_through_reports_period" {
			return sellthrough.ErrExists
		}
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: sellthrough.EventCreated,
			Resource: saved.Resource(), After: protoconv.SellThroughReport(saved, false),
		})
	})
	if err != nil {
		return sellthrough.Report{}, fmt.Errorf("create sell-through report: %w", err)
	}
	return saved, nil
}

const reportByIDSQL = `SELECT ` + reportColumns + ` FROM sell_through_reports WHERE tenant_id = $1 AND sell_through_report_id = $2`

// Get implements sellthrough.Store.
func (s *SellThrough) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (sellthrough.Report, error) {
	r, err := pgdb.Row(ctx, s.pool, caller.TenantID, reportByIDSQL, []any{caller.TenantID, id}, scanReport)
	if errors.Is(err, pgx.ErrNoRows) {
		return sellthrough.Report{}, sellthrough.ErrNotFound
	}
	if err != nil {
		return sellthrough.Report{}, fmt.Errorf("get sell-through report %s: %w", id, err)
	}
	return r, nil
}

var listReports = keyset.Query[sellthrough.Report]{
	Table: "sell_through_reports", Columns: reportSummaryColumns, IDColumn: "sell_through_report_id", Scan: scanReportSummary,
	Fields: map[string]sqlfilter.Field{"partner_id": {Column: "partner_id", Kind: sqlfilter.UUID}},
	Key:    func(r sellthrough.Report) (time.Time, uuid.UUID) { return r.CreateTime, r.ID },
}

// List implements sellthrough.Store.
func (s *SellThrough) List(ctx context.Context, caller auth.Caller, q sellthrough.ListQuery) (sellthrough.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listReports, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return sellthrough.Page{}, err
	}
	return sellthrough.Page{Reports: rows, NextPageToken: next}, nil
}

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
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// Scorecards implements scorecard.Store.
type Scorecards struct{ pool *pgxpool.Pool }

// Scorecards returns the scorecard store on the same pool.
func (s *Store) Scorecards() *Scorecards { return &Scorecards{pool: s.pool} }

// PartnerExists implements scorecard.Store.
func (s *Scorecards) PartnerExists(ctx context.Context, caller auth.Caller, partner uuid.UUID) error {
	_, err := pgdb.Row(ctx, s.pool, caller.TenantID, visiblePartnerSQL, []any{caller.TenantID, partner}, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return scorecard.ErrPartnerNotFound
	}
	if err != nil {
		return fmt.Errorf("get partner %s: %w", partner, err)
	}
	return nil
}

// visiblePartnersSQL pages through the partners' primary key; row-level
// security leaves the ones the caller may see.
const visiblePartnersSQL = `SELECT partner_id FROM partners WHERE tenant_id = $1 AND partner_id > $2 ORDER BY partner_id LIMIT $3`

// VisiblePartners implements scorecard.Store.
func (s *Scorecards) VisiblePartners(ctx context.Context, caller auth.Caller, after uuid.UUID, limit int) ([]uuid.UUID, error) {
	ids, err := pgdb.Rows(ctx, s.pool, caller.TenantID, visiblePartnersSQL, []any{caller.TenantID, after, limit}, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list partners: %w", err)
	}
	return ids, nil
}

// registrationStatsSQL reads deal_registrations_partner's range of the period.
const registrationStatsSQL = `
SELECT count(*), count(*) FILTER (WHERE state = $5), count(*) FILTER (WHERE state = $6)
FROM deal_registrations WHERE tenant_id = $1 AND partner_id = $2 AND create_time >= $3 AND create_time < $4`

// Registrations implements scorecard.Store.
func (s *Scorecards) Registrations(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (scorecard.Registrations, error) {
	r, err := pgdb.Row(ctx, s.pool, caller.TenantID, registrationStatsSQL,
		[]any{caller.TenantID, partner, from, to, dealreg.StateApproved, dealreg.StateRejected}, pgx.RowToStructByPos[scorecard.Registrations])
	if err != nil {
		return scorecard.Registrations{}, fmt.Errorf("registration figures of partner %s: %w", partner, err)
	}
	return r, nil
}

// sellThroughStatsSQL reads sell_through_reports_period's range of the period.
const sellThroughStatsSQL = `
SELECT currency_code, sum(total_revenue_minor)::bigint, count(*), sum(satisfaction_sum)::bigint, sum(satisfaction_count)::bigint
FROM sell_through_reports WHERE tenant_id = $1 AND partner_id = $2 AND period_start >= $3 AND period_start < $4
GROUP BY currency_code ORDER BY currency_code`

// SellThrough implements scorecard.Store.
func (s *Scorecards) SellThrough(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (scorecard.SellThrough, error) {
	var out scorecard.SellThrough
	_, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sellThroughStatsSQL, []any{caller.TenantID, partner, from, to},
		func(row pgx.CollectableRow) (struct{}, error) {
			var f scorecard.Figure
			var sum, n int64
			if err := row.Scan(&f.CurrencyCode, &f.AmountMinor, &f.Count, &sum, &n); err != nil {
				return struct{}{}, err
			}
			out.Figures = append(out.Figures, f)
			out.SatisfactionSum += sum
			out.SatisfactionCount += n
			return struct{}{}, nil
		})
	if err != nil {
		return scorecard.SellThrough{}, fmt.Errorf("sell-through figures of partner %s: %w", partner, err)
	}
	return out, nil
}

const validCertificationsSQL = `
SELECT DISTINCT name FROM certifications
WHERE tenant_id = $1 AND partner_id = $2 AND earn_date <= $3 AND (expire_date IS NULL OR expire_date > $3)
ORDER BY name`

// Certifications implements scorecard.Store.
func (s *Scorecards) Certifications(ctx context.Context, caller auth.Caller, partner uuid.UUID, day time.Time) ([]string, error) {
	names, err := pgdb.Rows(ctx, s.pool, caller.TenantID, validCertificationsSQL, []any{caller.TenantID, partner, day}, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("certifications of partner %s: %w", partner, err)
	}
	return names, nil
}

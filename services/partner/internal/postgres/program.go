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
	"github.com/rapportcrm/rapport/services/partner/internal/program"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Program implements program.Store.
type Program struct{ pool *pgxpool.Pool }

// Program returns the programme store on the same pool.
func (s *Store) Program() *Program { return &Program{pool: s.pool} }

const scheduleColumns = `currency_code, tiers, update_time, revision`

func scanSchedule(row pgx.CollectableRow) (program.Schedule, error) {
	var s program.Schedule
	err := row.Scan(&s.CurrencyCode, &s.Tiers, &s.UpdateTime, &s.Revision)
	return s, err
}

const scheduleSQL = `SELECT ` + scheduleColumns + ` FROM tier_schedules WHERE tenant_id = $1`

// Schedule implements program.Store; a tenant that never set one has an
// empty schedule at revision 0.
func (s *Program) Schedule(ctx context.Context, caller auth.Caller) (program.Schedule, error) {
	sched, err := pgdb.Row(ctx, s.pool, caller.TenantID, scheduleSQL, []any{caller.TenantID}, scanSchedule)
	if errors.Is(err, pgx.ErrNoRows) {
		return program.Schedule{}, nil
	}
	if err != nil {
		return program.Schedule{}, fmt.Errorf("get tier schedule: %w", err)
	}
	return sched, nil
}

const (
	// ensureScheduleSQL creates the row on first use, so the lock below
	// always has a row to take.
	ensureScheduleSQL = `INSERT INTO tier_schedules (tenant_id, revision) VALUES ($1, 0) ON CONFLICT (tenant_id) DO NOTHING`
	lockScheduleSQL   = scheduleSQL + ` FOR UPDATE`
	saveScheduleSQL   = `
UPDATE tier_schedules SET currency_code = $2, tiers = $3, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 RETURNING ` + scheduleColumns
)

// UpdateSchedule implements program.Store.
func (s *Program) UpdateSchedule(ctx context.Context, caller auth.Caller, change func(*program.Schedule) error) (program.Schedule, error) {
	var saved program.Schedule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ensureScheduleSQL, caller.TenantID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, lockScheduleSQL, caller.TenantID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanSchedule)
		if err != nil {
			return err
		}
		next := before
		if err := change(&next); err != nil {
			return err
		}
		tiers := next.Tiers
		if tiers == nil {
			tiers = []program.Tier{}
		}
		rows, err = tx.Query(ctx, saveScheduleSQL, caller.TenantID, next.CurrencyCode, tiers)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanSchedule); err != nil {
			return err
		}
		c := outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: program.EventScheduleUpdated,
			Resource: "tierSchedule", After: protoconv.TierSchedule(saved),
		}
		if before.Revision > 0 {
			c.Before = protoconv.TierSchedule(before)
		}
		return outbox.Record(ctx, tx, c)
	})
	if err != nil {
		return program.Schedule{}, fmt.Errorf("update tier schedule: %w", err)
	}
	return saved, nil
}

const certificationColumns = `certification_id, partner_id, name, earn_date, expire_date, recorded_by, create_time`

func scanCertification(row pgx.CollectableRow) (program.Certification, error) {
	var c program.Certification
	var expire *time.Time
	err := row.Scan(&c.ID, &c.PartnerID, &c.Name, &c.EarnDate, &expire, &c.RecordedBy, &c.CreateTime)
	if expire != nil {
		c.ExpireDate = *expire
	}
	return c, err
}

const (
	// visiblePartnerSQL checks the partner exists and the caller may see
	// it before anything is written for it.
	visiblePartnerSQL   = `SELECT tier FROM partners WHERE tenant_id = $1 AND partner_id = $2`
	insertCertification = `
INSERT INTO certifications (tenant_id, certification_id, partner_id, name, earn_date, expire_date, recorded_by, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + certificationColumns
	certificationByRequestSQL = `SELECT ` + certificationColumns + ` FROM certifications WHERE tenant_id = $1 AND request_id = $2`
)

// CreateCertification implements program.Store.
func (s *Program) CreateCertification(ctx context.Context, caller auth.Caller, c program.Certification, requestID string) (program.Certification, error) {
	var saved program.Certification
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var tier string
		if err := tx.QueryRow(ctx, visiblePartnerSQL, caller.TenantID, c.PartnerID).Scan(&tier); errors.Is(err, pgx.ErrNoRows) {
			return program.ErrPartnerNotFound
		} else if err != nil {
			return err
		}
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertCertification,
			[]any{caller.TenantID, c.ID, c.PartnerID, c.Name, c.EarnDate, nullTime(c.ExpireDate), c.RecordedBy, requestID},
			certificationByRequestSQL, []any{caller.TenantID, requestID}, scanCertification)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: program.EventCertificationRecorded,
			Resource: saved.Resource(), After: protoconv.Certification(saved),
		})
	})
	if err != nil {
		return program.Certification{}, fmt.Errorf("create certification: %w", err)
	}
	return saved, nil
}

// certificationFields are the fields ListCertifications filters on, each backed by an index.
var certificationFields = map[string]sqlfilter.Field{
	"partner_id": {Column: "partner_id", Kind: sqlfilter.UUID},
	"name":       {Column: "name", Kind: sqlfilter.String},
}

var listCertifications = keyset.Query[program.Certification]{
	Table: "certifications", Columns: certificationColumns, IDColumn: "certification_id", Fields: certificationFields, Scan: scanCertification,
	Key: func(c program.Certification) (time.Time, uuid.UUID) { return c.CreateTime, c.ID },
}

// ListCertifications implements program.Store.
func (s *Program) ListCertifications(ctx context.Context, caller auth.Caller, q program.CertificationQuery) (program.CertificationPage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listCertifications, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return program.CertificationPage{}, err
	}
	return program.CertificationPage{Certifications: rows, NextPageToken: next}, nil
}

// PartnerTier implements program.Store.
func (s *Program) PartnerTier(ctx context.Context, caller auth.Caller, partner uuid.UUID) (string, error) {
	tier, err := pgdb.Row(ctx, s.pool, caller.TenantID, visiblePartnerSQL, []any{caller.TenantID, partner}, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return "", program.ErrPartnerNotFound
	}
	if err != nil {
		return "", fmt.Errorf("get partner %s: %w", partner, err)
	}
	return tier, nil
}

const partnerCertificationsSQL = `SELECT ` + certificationColumns + ` FROM certifications WHERE tenant_id = $1 AND partner_id = $2`

// Certifications implements program.Store.
func (s *Program) Certifications(ctx context.Context, caller auth.Caller, partner uuid.UUID) ([]program.Certification, error) {
	certs, err := pgdb.Rows(ctx, s.pool, caller.TenantID, partnerCertificationsSQL, []any{caller.TenantID, partner}, scanCertification)
	if err != nil {
		return nil, fmt.Errorf("certifications of partner %s: %w", partner, err)
	}
	return certs, nil
}

const setTierSQL = `
UPDATE partners SET tier = $3, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND partner_id = $2
RETURNING ` + partnerColumns

// SetTier implements program.Store: the partner's tier changes with a
// "partner.tier_evaluated" event whose audit row keeps the tier before and after.
func (s *Program) SetTier(ctx context.Context, caller auth.Caller, e program.Evaluation) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockPartnerSQL, caller.TenantID, e.PartnerID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanPartner)
		if errors.Is(err, pgx.ErrNoRows) {
			return program.ErrPartnerNotFound
		}
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, setTierSQL, caller.TenantID, e.PartnerID, e.Tier)
		if err != nil {
			return err
		}
		after, err := pgx.CollectExactlyOneRow(rows, scanPartner)
		if err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: program.EventTierEvaluated,
			Resource: after.Resource(), Before: protoconv.Partner(before), After: protoconv.Partner(after),
		})
	})
	if err != nil {
		return fmt.Errorf("set tier of partner %s: %w", e.PartnerID, err)
	}
	return nil
}

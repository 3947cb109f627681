// Package postgres stores the partner service's data in PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the service's goose migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Role is the database role the service connects as.
const Role = "rapport_partner"

// Store implements partner.Store.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const partnerColumns = `partner_id, display_name, type, status, tier, region, city, external_id,
create_time, update_time, revision`

func scanPartner(row pgx.CollectableRow) (partner.Partner, error) {
	var p partner.Partner
	err := row.Scan(&p.ID, &p.DisplayName, &p.Type, &p.Status, &p.Tier, &p.Region, &p.City, &p.ExternalID,
		&p.CreateTime, &p.UpdateTime, &p.Revision)
	return p, err
}

const insertPartnerSQL = `
INSERT INTO partners (tenant_id, partner_id, display_name, type, status, tier, region, city, external_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + partnerColumns

const partnerByRequestSQL = `SELECT ` + partnerColumns + ` FROM partners WHERE tenant_id = $1 AND request_id = $2`

// Create implements partner.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, p partner.Partner, requestID string) (partner.Partner, bool, error) {
	var saved partner.Partner
	created := false
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		created = false
		rows, err := tx.Query(ctx, insertPartnerSQL, caller.TenantID, p.ID, p.DisplayName, p.Type, p.Status,
			p.Tier, p.Region, p.City, p.ExternalID, requestID)
		if err != nil {
			return err
		}
		saved, err = pgx.CollectExactlyOneRow(rows, scanPartner)
		if errors.Is(err, pgx.ErrNoRows) {
			// An earlier request with this request_id won; return its result.
			rows, err := tx.Query(ctx, partnerByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			saved, err = pgx.CollectExactlyOneRow(rows, scanPartner)
			return err
		}
		if err != nil {
			return err
		}
		created = true
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: partner.EventCreated,
			Resource: saved.Resource(), After: protoconv.Partner(saved),
		})
	})
	if err != nil {
		return partner.Partner{}, false, fmt.Errorf("create partner: %w", err)
	}
	return saved, created, nil
}

const partnerByIDSQL = `SELECT ` + partnerColumns + ` FROM partners WHERE tenant_id = $1 AND partner_id = $2`

// Get implements partner.Store.
func (s *Store) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (partner.Partner, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, partnerByIDSQL, []any{caller.TenantID, id}, scanPartner)
	if errors.Is(err, pgx.ErrNoRows) {
		return partner.Partner{}, partner.ErrNotFound
	}
	if err != nil {
		return partner.Partner{}, fmt.Errorf("get partner %s: %w", id, err)
	}
	return p, nil
}

// filterFields are the fields ListPartners filters on, each backed by an index.
var filterFields = map[string]sqlfilter.Field{
	"type":   {Column: "type", Kind: sqlfilter.Enum, Enum: partnerv1.PartnerType_value},
	"status": {Column: "status", Kind: sqlfilter.Enum, Enum: partnerv1.PartnerStatus_value},
	"tier":   {Column: "tier", Kind: sqlfilter.String},
	"region": {Column: "region", Kind: sqlfilter.String},
}

// cursor is the keyset position after the last row of a page.
type cursor struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// List implements partner.Store, newest first, with keyset pagination on
// (create_time, partner_id).
func (s *Store) List(ctx context.Context, caller auth.Caller, q partner.ListQuery) (partner.Page, error) {
	cond, err := sqlfilter.Translate(q.Filter, filterFields, 1)
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return partner.Page{}, validation.Field("filter", "%s", fe.Reason)
		}
		return partner.Page{}, err
	}
	args := append([]any{caller.TenantID}, cond.Args...)
	where := "tenant_id = $1 AND " + cond.SQL
	if q.PageToken != "" {
		var cur cursor
		if err := pagetoken.Decode(q.PageToken, q.Filter, &cur); err != nil {
			return partner.Page{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		where += fmt.Sprintf(" AND (create_time, partner_id) < ($%d, $%d)", len(args)-1, len(args))
	}
	args = append(args, q.PageSize+1)
	sql := fmt.Sprintf("SELECT %s FROM partners WHERE %s ORDER BY create_time DESC, partner_id DESC LIMIT $%d",
		partnerColumns, where, len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scanPartner)
	if err != nil {
		return partner.Page{}, fmt.Errorf("list partners: %w", err)
	}
	page := partner.Page{Partners: rows}
	if len(rows) > q.PageSize {
		page.Partners = rows[:q.PageSize]
		last := page.Partners[q.PageSize-1]
		if page.NextPageToken, err = pagetoken.Encode(q.Filter, cursor{Time: last.CreateTime, ID: last.ID}); err != nil {
			return partner.Page{}, err
		}
	}
	return page, nil
}

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
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
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
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx,
			insertPartnerSQL, []any{caller.TenantID, p.ID, p.DisplayName, p.Type, p.Status,
				p.Tier, p.Region, p.City, p.ExternalID, requestID},
			partnerByRequestSQL, []any{caller.TenantID, requestID},
			scanPartner)
		if err != nil || !created {
			// A repeated request_id gets the earlier partner, whose event is already recorded.
			return err
		}
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

// listPartners lists partners newest first, with keyset pagination on
// (create_time, partner_id).
var listPartners = keyset.Query[partner.Partner]{
	Table: "partners", Columns: partnerColumns, IDColumn: "partner_id", Fields: filterFields, Scan: scanPartner,
	Key: func(p partner.Partner) (time.Time, uuid.UUID) { return p.CreateTime, p.ID },
}

// List implements partner.Store.
func (s *Store) List(ctx context.Context, caller auth.Caller, q partner.ListQuery) (partner.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listPartners, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return partner.Page{}, err
	}
	return partner.Page{Partners: rows, NextPageToken: next}, nil
}

// Package postgres stores the partner service's data in PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
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
create_time, update_time, revision, coalesce(parent_partner_id, '00000000-0000-0000-0000-000000000000'), territories, postal_prefix`

func scanPartner(row pgx.CollectableRow) (partner.Partner, error) {
	var p partner.Partner
	err := row.Scan(&p.ID, &p.DisplayName, &p.Type, &p.Status, &p.Tier, &p.Region, &p.City, &p.ExternalID,
		&p.CreateTime, &p.UpdateTime, &p.Revision, &p.ParentID, &p.Territories, &p.PostalPrefix)
	return p, err
}

// nullID stores uuid.Nil as NULL.
func nullID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// territories keeps the territories column a JSON array, never null.
func territories(t []partner.Territory) []partner.Territory {
	if t == nil {
		return []partner.Territory{}
	}
	return t
}

const insertPartnerSQL = `
INSERT INTO partners (tenant_id, partner_id, display_name, type, status, tier, region, city, external_id, request_id,
    parent_partner_id, territories, postal_prefix)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''), $11, $12, $13)
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + partnerColumns

// insertTreeSQL adds the new partner ($2) to the closure table: itself at
// depth 0 and under every ancestor of its parent ($3, NULL for none).
const insertTreeSQL = `
INSERT INTO partner_tree (tenant_id, ancestor_id, descendant_id, depth)
SELECT $1::uuid, $2::uuid, $2::uuid, 0
UNION ALL
SELECT $1::uuid, ancestor_id, $2::uuid, depth + 1 FROM partner_tree WHERE tenant_id = $1::uuid AND descendant_id = $3::uuid`

const partnerByRequestSQL = `SELECT ` + partnerColumns + ` FROM partners WHERE tenant_id = $1 AND request_id = $2`

// Create implements partner.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, p partner.Partner, requestID string) (partner.Partner, bool, error) {
	var saved partner.Partner
	created := false
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx,
			insertPartnerSQL, []any{caller.TenantID, p.ID, p.DisplayName, p.Type, p.Status,
				p.Tier, p.Region, p.City, p.ExternalID, requestID, nullID(p.ParentID), territories(p.Territories), p.PostalPrefix},
			partnerByRequestSQL, []any{caller.TenantID, requestID},
			scanPartner)
		if code, _, ok := pgdb.Constraint(err); ok && code == "23503" {
			return partner.ErrParentNotFound
		}
		if err != nil || !created {
			// A repeated request_id gets the earlier partner, whose event is already recorded.
			return err
		}
		if _, err := tx.Exec(ctx, insertTreeSQL, caller.TenantID, saved.ID, nullID(saved.ParentID)); err != nil {
			return fmt.Errorf("insert hierarchy: %w", err)
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
	"type":              {Column: "type", Kind: sqlfilter.Enum, Enum: partnerv1.PartnerType_value},
	"status":            {Column: "status", Kind: sqlfilter.Enum, Enum: partnerv1.PartnerStatus_value},
	"tier":              {Column: "tier", Kind: sqlfilter.String},
	"region":            {Column: "region", Kind: sqlfilter.String},
	"parent_partner_id": {Column: "parent_partner_id", Kind: sqlfilter.UUID},
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

const (
	lockPartnerSQL   = `SELECT ` + partnerColumns + ` FROM partners WHERE tenant_id = $1 AND partner_id = $2 FOR UPDATE`
	updatePartnerSQL = `
UPDATE partners SET display_name = $3, type = $4, status = $5, tier = $6, region = $7, city = $8, external_id = $9,
    territories = $10, postal_prefix = $11, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND partner_id = $2
RETURNING ` + partnerColumns
	insertStatusChangeSQL = `
INSERT INTO partner_status_changes (tenant_id, change_id, partner_id, from_status, to_status, reason, principal_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
)

// Mutate implements partner.Store.
func (s *Store) Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m partner.Mutation) (partner.Partner, error) {
	var saved partner.Partner
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockPartnerSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanPartner)
		if errors.Is(err, pgx.ErrNoRows) {
			return partner.ErrNotFound
		}
		if err != nil {
			return err
		}
		p := before
		p.Territories = slices.Clone(before.Territories)
		event, change, err := m(&p)
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, updatePartnerSQL, caller.TenantID, id, p.DisplayName, p.Type, p.Status, p.Tier,
			p.Region, p.City, p.ExternalID, territories(p.Territories), p.PostalPrefix)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanPartner); err != nil {
			return err
		}
		if change != nil {
			if _, err := tx.Exec(ctx, insertStatusChangeSQL, caller.TenantID, change.ID, id, change.From, change.To,
				change.Reason, change.PrincipalID); err != nil {
				return fmt.Errorf("log status change: %w", err)
			}
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event,
			Resource: saved.Resource(), Before: protoconv.Partner(before), After: protoconv.Partner(saved),
		})
	})
	if err != nil {
		return partner.Partner{}, fmt.Errorf("change partner %s: %w", id, err)
	}
	return saved, nil
}

const statusChangeColumns = `change_id, partner_id, from_status, to_status, reason, principal_id, change_time`

func scanStatusChange(row pgx.CollectableRow) (partner.StatusChange, error) {
	var c partner.StatusChange
	err := row.Scan(&c.ID, &c.PartnerID, &c.From, &c.To, &c.Reason, &c.PrincipalID, &c.ChangeTime)
	return c, err
}

// statusCursor is the keyset position after a page of status changes.
type statusCursor struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// StatusChanges implements partner.Store. The partner is read first, so a
// partner the caller may not see is not found rather than an empty log.
func (s *Store) StatusChanges(ctx context.Context, caller auth.Caller, id uuid.UUID, pageToken string, pageSize int) (partner.StatusChangePage, error) {
	if _, err := s.Get(ctx, caller, id); err != nil {
		return partner.StatusChangePage{}, err
	}
	args := []any{caller.TenantID, id}
	sql := `SELECT ` + statusChangeColumns + ` FROM partner_status_changes WHERE tenant_id = $1 AND partner_id = $2`
	if pageToken != "" {
		var cur statusCursor
		if err := pagetoken.Decode(pageToken, id.String(), &cur); err != nil {
			return partner.StatusChangePage{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		sql += ` AND (change_time, change_id) < ($3, $4)`
	}
	args = append(args, pageSize+1)
	sql += fmt.Sprintf(` ORDER BY change_time DESC, change_id DESC LIMIT $%d`, len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scanStatusChange)
	if err != nil {
		return partner.StatusChangePage{}, fmt.Errorf("list status changes of partner %s: %w", id, err)
	}
	page := partner.StatusChangePage{Changes: rows}
	if len(rows) > pageSize {
		page.Changes = rows[:pageSize]
		last := page.Changes[pageSize-1]
		if page.NextPageToken, err = pagetoken.Encode(id.String(), statusCursor{Time: last.ChangeTime, ID: last.ID}); err != nil {
			return partner.StatusChangePage{}, err
		}
	}
	return page, nil
}

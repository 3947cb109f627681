// Package postgres stores the pipeline service's data in PostgreSQL.
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

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the service's goose migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Role is the database role the service connects as.
const Role = "rapport_pipeline"

// Store implements pipeline.Store.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const opportunityColumns = `opportunity_id, customer_id, display_name, currency_code, amount_minor, stage,
expected_close_date, owner_id, source_partner_id, external_id, create_time, update_time, revision`

func scanOpportunity(row pgx.CollectableRow) (pipeline.Opportunity, error) {
	var o pipeline.Opportunity
	var closeDate *time.Time
	err := row.Scan(&o.ID, &o.CustomerID, &o.DisplayName, &o.Amount.CurrencyCode, &o.Amount.AmountMinor, &o.Stage,
		&closeDate, &o.OwnerID, &o.SourcePartnerID, &o.ExternalID, &o.CreateTime, &o.UpdateTime, &o.Revision)
	if closeDate != nil {
		o.ExpectedCloseDate = closeDate.Format(time.DateOnly)
	}
	return o, err
}

// The date travels as ISO text, which PostgreSQL reads the same under any DateStyle.
const insertOpportunitySQL = `
INSERT INTO opportunities (tenant_id, opportunity_id, customer_id, display_name, currency_code, amount_minor,
    stage, expected_close_date, owner_id, source_partner_id, external_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, '')::date, $9, $10, $11, nullif($12, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + opportunityColumns

const opportunityByRequestSQL = `SELECT ` + opportunityColumns + ` FROM opportunities WHERE tenant_id = $1 AND request_id = $2`

// Create implements pipeline.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, o pipeline.Opportunity, requestID string) (pipeline.Opportunity, error) {
	var saved pipeline.Opportunity
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx,
			insertOpportunitySQL, []any{caller.TenantID, o.ID, o.CustomerID, o.DisplayName, o.Amount.CurrencyCode,
				o.Amount.AmountMinor, o.Stage, o.ExpectedCloseDate, o.OwnerID, o.SourcePartnerID, o.ExternalID, requestID},
			opportunityByRequestSQL, []any{caller.TenantID, requestID},
			scanOpportunity)
		if err != nil || !inserted {
			// A repeated request_id gets the earlier opportunity, whose event is already recorded.
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: pipeline.EventCreated,
			Resource: saved.Resource(), After: protoconv.Opportunity(saved),
		})
	})
	if err != nil {
		return pipeline.Opportunity{}, fmt.Errorf("create opportunity: %w", err)
	}
	return saved, nil
}

// ByRequestID implements pipeline.Store.
func (s *Store) ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (pipeline.Opportunity, error) {
	o, err := pgdb.Row(ctx, s.pool, caller.TenantID, opportunityByRequestSQL, []any{caller.TenantID, requestID}, scanOpportunity)
	if errors.Is(err, pgx.ErrNoRows) {
		return pipeline.Opportunity{}, pipeline.ErrNotFound
	}
	if err != nil {
		return pipeline.Opportunity{}, fmt.Errorf("find opportunity by request id: %w", err)
	}
	return o, nil
}

const opportunityByIDSQL = `SELECT ` + opportunityColumns + ` FROM opportunities WHERE tenant_id = $1 AND opportunity_id = $2`

// Get implements pipeline.Store.
func (s *Store) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (pipeline.Opportunity, error) {
	o, err := pgdb.Row(ctx, s.pool, caller.TenantID, opportunityByIDSQL, []any{caller.TenantID, id}, scanOpportunity)
	if errors.Is(err, pgx.ErrNoRows) {
		return pipeline.Opportunity{}, pipeline.ErrNotFound
	}
	if err != nil {
		return pipeline.Opportunity{}, fmt.Errorf("get opportunity %s: %w", id, err)
	}
	return o, nil
}

// filterFields are the fields ListOpportunities filters on, each backed by an index.
var filterFields = map[string]sqlfilter.Field{
	"customer_id":       {Column: "customer_id", Kind: sqlfilter.UUID},
	"stage":             {Column: "stage", Kind: sqlfilter.Enum, Enum: pipelinev1.Stage_value},
	"owner_id":          {Column: "owner_id", Kind: sqlfilter.UUID},
	"source_partner_id": {Column: "source_partner_id", Kind: sqlfilter.UUID},
}

// listOpportunities lists opportunities newest first, with keyset pagination on
// (create_time, opportunity_id).
var listOpportunities = keyset.Query[pipeline.Opportunity]{
	Table: "opportunities", Columns: opportunityColumns, IDColumn: "opportunity_id", Fields: filterFields, Scan: scanOpportunity,
	Key: func(o pipeline.Opportunity) (time.Time, uuid.UUID) { return o.CreateTime, o.ID },
}

// List implements pipeline.Store.
func (s *Store) List(ctx context.Context, caller auth.Caller, q pipeline.ListQuery) (pipeline.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listOpportunities, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return pipeline.Page{}, err
	}
	return pipeline.Page{Opportunities: rows, NextPageToken: next}, nil
}

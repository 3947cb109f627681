// Package postgres stores the pipeline service's data in PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
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

// The line items come along as one JSON array, so a read of an opportunity
// and its lines is one statement over one snapshot.
const opportunityColumns = `opportunity_id, customer_id, display_name, currency_code, amount_minor, stage,
expected_close_date, owner_id, source_partner_id, external_id, create_time, update_time, revision,
pipeline_id, stage_id, stage_kind, engage_date, close_reason, close_time, stage_enter_time, price_list_id, delete_time,
forecast_category, campaign_id, owner_team_ids,
coalesce((SELECT jsonb_agg(jsonb_build_object('id', l.line_id, 'product', l.product_id, 'qty', l.quantity,
    'unit', l.unit_price_minor, 'override', l.price_overridden, 'bps', l.discount_bps, 'total', l.total_minor)
    ORDER BY l.position)
  FROM opportunity_line_items l
  WHERE l.tenant_id = opportunities.tenant_id AND l.opportunity_id = opportunities.opportunity_id), '[]'),
coalesce((SELECT s.reporting_currency FROM reporting_settings s WHERE s.tenant_id = opportunities.tenant_id), ''),
` + reportingRateSQL

// reportingRateSQL is the rate from an opportunity's currency into the
// tenant's reporting currency on its expected close date (today while none
// is expected): the latest rate of the pair on or before it, quoted either
// way round, as orders read theirs.
const reportingRateSQL = `(SELECT x.rate::text FROM (
    (SELECT r.rate, r.rate_date FROM exchange_rates r JOIN reporting_settings s USING (tenant_id)
     WHERE r.tenant_id = opportunities.tenant_id AND r.base_currency = opportunities.currency_code
       AND r.quote_currency = s.reporting_currency
       AND r.rate_date <= coalesce(opportunities.expected_close_date, (now() AT TIME ZONE 'UTC')::date)
     ORDER BY r.rate_date DESC LIMIT 1)
    UNION ALL
    (SELECT 1 / r.rate, r.rate_date FROM exchange_rates r JOIN reporting_settings s USING (tenant_id)
     WHERE r.tenant_id = opportunities.tenant_id AND r.base_currency = s.reporting_currency
       AND r.quote_currency = opportunities.currency_code
       AND r.rate_date <= coalesce(opportunities.expected_close_date, (now() AT TIME ZONE 'UTC')::date)
     ORDER BY r.rate_date DESC LIMIT 1)
  ) x ORDER BY x.rate_date DESC LIMIT 1)`

type lineJSON struct {
	ID       uuid.UUID `json:"id"`
	Product  uuid.UUID `json:"product"`
	Qty      int64     `json:"qty"`
	Unit     int64     `json:"unit"`
	Override bool      `json:"override"`
	Bps      int32     `json:"bps"`
	Total    int64     `json:"total"`
}

func scanOpportunity(row pgx.CollectableRow) (pipeline.Opportunity, error) {
	var o pipeline.Opportunity
	var closeDate *time.Time
	var engage time.Time
	var lines []byte
	var rate *string
	err := row.Scan(&o.ID, &o.CustomerID, &o.DisplayName, &o.Amount.CurrencyCode, &o.Amount.AmountMinor, &o.Stage,
		&closeDate, &o.OwnerID, &o.SourcePartnerID, &o.ExternalID, &o.CreateTime, &o.UpdateTime, &o.Revision,
		&o.PipelineID, &o.StageID, &o.StageKind, &engage, &o.CloseReason, &o.CloseTime, &o.StageEnterTime, &o.PriceListID, &o.DeleteTime,
		&o.ForecastCategory, &o.CampaignID, &o.OwnerTeamIDs, &lines, &o.ReportingCurrency, &rate)
	if err != nil {
		return o, err
	}
	if rate != nil {
		r, ok := new(big.Rat).SetString(*rate)
		if !ok {
			return o, fmt.Errorf("read exchange rate %q", *rate)
		}
		o.Rate = r
	}
	if closeDate != nil {
		o.ExpectedCloseDate = closeDate.Format(time.DateOnly)
	}
	if len(o.OwnerTeamIDs) == 0 {
		o.OwnerTeamIDs = nil // no teams reads as none, whatever the driver gives
	}
	o.EngageDate = engage.Format(time.DateOnly)
	var ls []lineJSON
	if err := json.Unmarshal(lines, &ls); err != nil {
		return o, fmt.Errorf("read line items: %w", err)
	}
	for _, l := range ls {
		o.LineItems = append(o.LineItems, pipeline.LineItem{ID: l.ID, ProductID: l.Product, Quantity: l.Qty,
			UnitPriceMinor: l.Unit, PriceOverridden: l.Override, DiscountBps: l.Bps, TotalMinor: l.Total})
	}
	return o, nil
}

// Dates travel as ISO text, which PostgreSQL reads the same under any DateStyle.
const insertOpportunitySQL = `
INSERT INTO opportunities (tenant_id, opportunity_id, customer_id, display_name, currency_code, amount_minor,
    stage, expected_close_date, owner_id, source_partner_id, external_id, request_id,
    pipeline_id, stage_id, stage_kind, engage_date, close_reason, close_time, stage_enter_time, price_list_id,
    forecast_category, campaign_id, owner_team_ids)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, '')::date, $9, $10, $11, nullif($12, ''),
    $13, $14, $15, $16::text::date, $17, $18, $19, $20, $21, $22, $23)
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + opportunityColumns

const opportunityByRequestSQL = `SELECT ` + opportunityColumns + ` FROM opportunities WHERE tenant_id = $1 AND request_id = $2`

const insertLinesSQL = `
INSERT INTO opportunity_line_items (tenant_id, opportunity_id, line_id, position, product_id, quantity,
    unit_price_minor, price_overridden, discount_bps, total_minor)
SELECT $1, $2, l.id, l.pos - 1, l.product, l.qty, l.unit, l.override, l.bps, l.total
FROM unnest($3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[], $7::boolean[], $8::integer[], $9::bigint[])
    WITH ORDINALITY AS l (id, product, qty, unit, override, bps, total, pos)`

const deleteLinesSQL = `DELETE FROM opportunity_line_items WHERE tenant_id = $1 AND opportunity_id = $2`

const insertHistorySQL = `
INSERT INTO opportunity_stage_history (tenant_id, opportunity_id, entry_id, pipeline_id, stage_id, stage_name,
    stage_kind, principal_id, enter_time)
SELECT $1, $2, $3, $4, $5, display_name, kind, $6, $7
FROM pipeline_stages WHERE tenant_id = $1 AND pipeline_id = $4 AND stage_id = $5`

const exitHistorySQL = `
UPDATE opportunity_stage_history SET exit_time = greatest(enter_time, $3)
WHERE tenant_id = $1 AND opportunity_id = $2 AND exit_time IS NULL`

func insertLines(ctx context.Context, tx pgx.Tx, tenant string, o pipeline.Opportunity) error {
	if len(o.LineItems) == 0 {
		return nil
	}
	n := len(o.LineItems)
	ids, products := make([]uuid.UUID, n), make([]uuid.UUID, n)
	qty, unit, total := make([]int64, n), make([]int64, n), make([]int64, n)
	override, bps := make([]bool, n), make([]int32, n)
	for i, l := range o.LineItems {
		ids[i], products[i], qty[i], unit[i], override[i], bps[i], total[i] = l.ID, l.ProductID, l.Quantity, l.UnitPriceMinor, l.PriceOverridden, l.DiscountBps, l.TotalMinor
	}
	_, err := tx.Exec(ctx, insertLinesSQL, tenant, o.ID, ids, products, qty, unit, override, bps, total)
	return err
}

func enterHistory(ctx context.Context, tx pgx.Tx, caller auth.Caller, o pipeline.Opportunity) error {
	_, err := tx.Exec(ctx, insertHistorySQL, caller.TenantID, o.ID, uuid.Must(uuid.NewV7()), o.PipelineID, o.StageID, caller.PrincipalID, o.StageEnterTime)
	return err
}

// Create implements pipeline.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, requestID string, build func(context.Context, pipeline.Catalog) (pipeline.Opportunity, error)) (pipeline.Opportunity, error) {
	var saved pipeline.Opportunity
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		o, err := build(ctx, catalog{tx: tx, caller: caller})
		if err != nil {
			return err
		}
		var inserted bool
		saved, inserted, err = pgdb.InsertOnce(ctx, tx,
			insertOpportunitySQL, []any{caller.TenantID, o.ID, o.CustomerID, o.DisplayName, o.Amount.CurrencyCode,
				o.Amount.AmountMinor, o.Stage, o.ExpectedCloseDate, o.OwnerID, o.SourcePartnerID, o.ExternalID, requestID,
				o.PipelineID, o.StageID, o.StageKind, o.EngageDate, o.CloseReason, o.CloseTime, o.StageEnterTime, o.PriceListID,
				o.ForecastCategory, o.CampaignID, teamIDs(o.OwnerTeamIDs)},
			opportunityByRequestSQL, []any{caller.TenantID, requestID},
			scanOpportunity)
		if err != nil || !inserted {
			// A repeated request_id gets the earlier opportunity, whose event is already recorded.
			return err
		}
		if err := insertLines(ctx, tx, caller.TenantID, o); err != nil {
			return err
		}
		saved.LineItems = o.LineItems
		if err := enterHistory(ctx, tx, caller, saved); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: pipeline.EventCreated,
			Resource: saved.Resource(), After: protoconv.Opportunity(saved),
		})
	})
	if err != nil {
		return pipeline.Opportunity{}, fmt.Errorf("create opportunity: %w", mapOpportunityErr(err))
	}
	return saved, nil
}

// teamIDs is never nil: the column is NOT NULL, and pgx sends nil as NULL.
func teamIDs(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}

// mapOpportunityErr turns the constraint violations a racing change can
// still hit into domain errors.
func mapOpportunityErr(err error) error {
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23503" {
		switch constraint {
		case "opportunities_stage":
			return fmt.Errorf("%w: %w", pipeline.ErrStageInUse, err)
		case "opportunity_line_items_tenant_id_product_id_fkey":
			return fmt.Errorf("%w: %w", pipeline.ErrProductNotFound, err)
		case "opportunities_price_list":
			return fmt.Errorf("%w: %w", pipeline.ErrPriceListNotFound, err)
		case "opportunities_campaign":
			return validation.Field("opportunity.campaign_id", "no such campaign")
		}
	}
	return err
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
	"customer_id":         {Column: "customer_id", Kind: sqlfilter.UUID},
	"stage":               {Column: "stage", Kind: sqlfilter.Enum, Enum: pipelinev1.Stage_value},
	"owner_id":            {Column: "owner_id", Kind: sqlfilter.UUID},
	"source_partner_id":   {Column: "source_partner_id", Kind: sqlfilter.UUID},
	"pipeline_id":         {Column: "pipeline_id", Kind: sqlfilter.UUID},
	"stage_id":            {Column: "stage_id", Kind: sqlfilter.UUID},
	"stage_kind":          {Column: "stage_kind", Kind: sqlfilter.Enum, Enum: pipelinev1.StageKind_value},
	"currency_code":       {Column: "currency_code", Kind: sqlfilter.String},
	"amount_minor":        {Column: "amount_minor", Kind: sqlfilter.Int},
	"expected_close_date": {Column: "expected_close_date", Kind: sqlfilter.Date},
	"create_time":         {Column: "create_time", Kind: sqlfilter.Timestamp},
	"campaign_id":         {Column: "campaign_id", Kind: sqlfilter.UUID},
}

var opportunities = listing[pipeline.Opportunity]{
	table: "opportunities", columns: opportunityColumns, idColumn: "opportunity_id", fields: filterFields,
	scan: scanOpportunity, id: func(o pipeline.Opportunity) uuid.UUID { return o.ID },
}

func createTimeKey(o pipeline.Opportunity) string { return o.CreateTime.Format(time.RFC3339Nano) }

// closeDateKey sorts undated opportunities after every date.
func closeDateKey(o pipeline.Opportunity) string {
	if o.ExpectedCloseDate == "" {
		return "infinity"
	}
	return o.ExpectedCloseDate
}

func amountKey(o pipeline.Opportunity) string { return strconv.FormatInt(o.Amount.AmountMinor, 10) }

// opportunityOrders maps each of pipeline.OpportunityOrders to its sort key.
var opportunityOrders = map[string]sortKey[pipeline.Opportunity]{
	"":                         {expr: "create_time", sqlType: "timestamptz", desc: true, key: createTimeKey},
	"create_time desc":         {expr: "create_time", sqlType: "timestamptz", desc: true, key: createTimeKey},
	"create_time":              {expr: "create_time", sqlType: "timestamptz", key: createTimeKey},
	"expected_close_date":      {expr: "coalesce(expected_close_date, 'infinity'::date)", sqlType: "date", key: closeDateKey},
	"expected_close_date desc": {expr: "coalesce(expected_close_date, 'infinity'::date)", sqlType: "date", desc: true, key: closeDateKey},
	"amount_minor":             {expr: "amount_minor", sqlType: "bigint", key: amountKey},
	"amount_minor desc":        {expr: "amount_minor", sqlType: "bigint", desc: true, key: amountKey},
}

// List implements pipeline.Store.
func (s *Store) List(ctx context.Context, caller auth.Caller, q pipeline.ListQuery) (pipeline.Page, error) {
	r := listRequest{filter: q.Filter, pageToken: q.PageToken, pageSize: q.PageSize,
		query: fmt.Sprintf("%s|%s|%t", q.Filter, q.OrderBy, q.ShowDeleted)}
	if !q.ShowDeleted {
		r.where = []string{"delete_time IS NULL"}
	}
	rows, next, err := opportunities.page(ctx, s.pool, caller.TenantID, opportunityOrders[q.OrderBy], r)
	if err != nil {
		return pipeline.Page{}, err
	}
	return pipeline.Page{Opportunities: rows, NextPageToken: next}, nil
}

const lockOpportunitySQL = `SELECT ` + opportunityColumns + ` FROM opportunities WHERE tenant_id = $1 AND opportunity_id = $2 FOR UPDATE`

const saveOpportunitySQL = `
UPDATE opportunities SET display_name = $3, currency_code = $4, amount_minor = $5, stage = $6,
    expected_close_date = nullif($7, '')::date, owner_id = $8, source_partner_id = $9, external_id = $10,
    stage_id = $11, stage_kind = $12, engage_date = $13::text::date, close_reason = $14, close_time = $15,
    stage_enter_time = $16, price_list_id = $17, delete_time = $18,
    forecast_category = $19, campaign_id = $20, owner_team_ids = $21,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND opportunity_id = $2
RETURNING ` + opportunityColumns

// Mutate implements pipeline.Store. The row lock comes first, which keeps
// the opportunity's events in order (see pkg/outbox) and makes concurrent
// changes queue: the second sees the first's revision.
func (s *Store) Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m pipeline.Mutation) (pipeline.Opportunity, error) {
	var saved pipeline.Opportunity
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockOpportunitySQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanOpportunity)
		if errors.Is(err, pgx.ErrNoRows) {
			return pipeline.ErrNotFound
		}
		if err != nil {
			return err
		}
		o := before
		o.LineItems = append([]pipeline.LineItem(nil), before.LineItems...)
		effect, err := m(ctx, catalog{tx: tx, caller: caller}, &o)
		if err != nil {
			return err
		}
		if effect.LinesChanged {
			if _, err := tx.Exec(ctx, deleteLinesSQL, caller.TenantID, id); err != nil {
				return err
			}
			if err := insertLines(ctx, tx, caller.TenantID, o); err != nil {
				return err
			}
		}
		if effect.StageMoved {
			if _, err := tx.Exec(ctx, exitHistorySQL, caller.TenantID, id, o.StageEnterTime); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, saveOpportunitySQL, caller.TenantID, id, o.DisplayName, o.Amount.CurrencyCode, o.Amount.AmountMinor,
			o.Stage, o.ExpectedCloseDate, o.OwnerID, o.SourcePartnerID, o.ExternalID, o.StageID, o.StageKind, o.EngageDate,
			o.CloseReason, o.CloseTime, o.StageEnterTime, o.PriceListID, o.DeleteTime,
			o.ForecastCategory, o.CampaignID, teamIDs(o.OwnerTeamIDs))
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanOpportunity); err != nil {
			return err
		}
		if effect.StageMoved {
			if err := enterHistory(ctx, tx, caller, saved); err != nil {
				return err
			}
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: effect.Event,
			Resource: saved.Resource(), Before: protoconv.Opportunity(before), After: protoconv.Opportunity(saved),
		})
	})
	if err != nil {
		return pipeline.Opportunity{}, fmt.Errorf("change opportunity %s: %w", id, mapOpportunityErr(err))
	}
	return saved, nil
}

const historyColumns = `entry_id, pipeline_id, stage_id, stage_name, stage_kind, principal_id, enter_time, exit_time`

func scanHistory(row pgx.CollectableRow) (pipeline.StageHistoryEntry, error) {
	var e pipeline.StageHistoryEntry
	err := row.Scan(&e.ID, &e.PipelineID, &e.StageID, &e.StageName, &e.StageKind, &e.PrincipalID, &e.EnterTime, &e.ExitTime)
	return e, err
}

var history = listing[pipeline.StageHistoryEntry]{
	table: "opportunity_stage_history", columns: historyColumns, idColumn: "entry_id", scan: scanHistory,
	id: func(e pipeline.StageHistoryEntry) uuid.UUID { return e.ID },
}

var historyOrder = sortKey[pipeline.StageHistoryEntry]{expr: "enter_time", sqlType: "timestamptz",
	key: func(e pipeline.StageHistoryEntry) string { return e.EnterTime.Format(time.RFC3339Nano) }}

const opportunityExistsSQL = `SELECT count(*) FROM opportunities WHERE tenant_id = $1 AND opportunity_id = $2`

// StageHistory implements pipeline.Store.
func (s *Store) StageHistory(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (pipeline.HistoryPage, error) {
	n, err := pgdb.Row(ctx, s.pool, caller.TenantID, opportunityExistsSQL, []any{caller.TenantID, id}, pgx.RowTo[int64])
	if err != nil {
		return pipeline.HistoryPage{}, fmt.Errorf("find opportunity %s: %w", id, err)
	}
	if n == 0 {
		return pipeline.HistoryPage{}, pipeline.ErrNotFound
	}
	rows, next, err := history.page(ctx, s.pool, caller.TenantID, historyOrder, listRequest{
		pageToken: pageToken, pageSize: pageSize, where: []string{"opportunity_id = $2"}, args: []any{id}, query: id.String(),
	})
	if err != nil {
		return pipeline.HistoryPage{}, err
	}
	return pipeline.HistoryPage{Entries: rows, NextPageToken: next}, nil
}

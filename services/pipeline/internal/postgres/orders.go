package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// OrderStore implements order.Store.
type OrderStore struct{ pool *pgxpool.Pool }

// NewOrderStore returns an OrderStore on pool.
func NewOrderStore(pool *pgxpool.Pool) *OrderStore { return &OrderStore{pool: pool} }

// An order is read with its lines (one JSON array), the tenant's reporting
// currency and the rate into it on the order's (UTC) date: the latest rate
// of the pair on or before that date, quoted either way round.
const orderColumns = `order_id, coalesce(order_number, ''), kind, status, customer_id, currency_code, adjustment_minor,
total_minor, order_time, country, original_order_id, cancel_time, cancel_reason, external_id, create_time, update_time, revision,
opportunity_id, source_partner_id, quote_id,
coalesce((SELECT jsonb_agg(jsonb_build_object('product', l.product_id, 'qty', l.quantity, 'unit', l.unit_price_minor,
    'discount', l.discount_minor, 'total', l.total_minor, 'text', l.description) ORDER BY l.position)
  FROM order_lines l WHERE l.tenant_id = orders.tenant_id AND l.order_id = orders.order_id), '[]'),
coalesce((SELECT s.reporting_currency FROM reporting_settings s WHERE s.tenant_id = orders.tenant_id), ''),
(SELECT x.rate::text FROM (
    (SELECT r.rate, r.rate_date FROM exchange_rates r JOIN reporting_settings s USING (tenant_id)
     WHERE r.tenant_id = orders.tenant_id AND r.base_currency = orders.currency_code AND r.quote_currency = s.reporting_currency
       AND r.rate_date <= (orders.order_time AT TIME ZONE 'UTC')::date
     ORDER BY r.rate_date DESC LIMIT 1)
    UNION ALL
    (SELECT 1 / r.rate, r.rate_date FROM exchange_rates r JOIN reporting_settings s USING (tenant_id)
     WHERE r.tenant_id = orders.tenant_id AND r.base_currency = s.reporting_currency AND r.quote_currency = orders.currency_code
       AND r.rate_date <= (orders.order_time AT TIME ZONE 'UTC')::date
     ORDER BY r.rate_date DESC LIMIT 1)
  ) x ORDER BY x.rate_date DESC LIMIT 1)`

type orderLineJSON struct {
	Product  uuid.UUID `json:"product"`
	Qty      int64     `json:"qty"`
	Unit     int64     `json:"unit"`
	Discount int64     `json:"discount"`
	Total    int64     `json:"total"`
	Text     string    `json:"text"`
}

func scanOrder(row pgx.CollectableRow) (order.Order, error) {
	var o order.Order
	var lines []byte
	var rate *string
	err := row.Scan(&o.ID, &o.Number, &o.Kind, &o.Status, &o.CustomerID, &o.CurrencyCode, &o.AdjustmentMinor,
		&o.TotalMinor, &o.OrderTime, &o.Country, &o.OriginalOrderID, &o.CancelTime, &o.CancelReason, &o.ExternalID,
		&o.CreateTime, &o.UpdateTime, &o.Revision, &o.OpportunityID, &o.SourcePartnerID, &o.QuoteID, &lines, &o.ReportingCurrency, &rate)
	if err != nil {
		return o, err
	}
	var ls []orderLineJSON
	if err := json.Unmarshal(lines, &ls); err != nil {
		return o, fmt.Errorf("read order lines: %w", err)
	}
	for _, l := range ls {
		o.Lines = append(o.Lines, order.Line{ProductID: l.Product, Quantity: l.Qty, UnitPriceMinor: l.Unit, DiscountMinor: l.Discount,
			TotalMinor: l.Total, Description: l.Text})
	}
	if rate != nil {
		r, ok := new(big.Rat).SetString(*rate)
		if !ok {
			return o, fmt.Errorf("read exchange rate %q", *rate)
		}
		o.Rate = r
	}
	return o, nil
}

const insertOrderSQL = `
INSERT INTO orders (tenant_id, order_id, order_number, kind, status, customer_id, currency_code, adjustment_minor,
    total_minor, order_time, country, original_order_id, external_id, request_id, opportunity_id, source_partner_id, quote_id)
VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, nullif($14, ''), $15, $16, $17)
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING order_id`

const insertOrderLinesSQL = `
INSERT INTO order_lines (tenant_id, order_id, position, product_id, quantity, unit_price_minor, discount_minor, total_minor, description)
SELECT $1, $2, l.pos - 1, l.product, l.qty, l.unit, l.discount, l.total, l.text
FROM unnest($3::uuid[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[])
    WITH ORDINALITY AS l (product, qty, unit, discount, total, text, pos)`

const orderByIDSQL = `SELECT ` + orderColumns + ` FROM orders WHERE tenant_id = $1 AND order_id = $2`

const orderByRequestSQL = `SELECT ` + orderColumns + ` FROM orders WHERE tenant_id = $1 AND request_id = $2`

const missingProductsSQL = `SELECT id FROM unnest($2::uuid[]) AS id
WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.tenant_id = $1 AND p.product_id = id)`

// orderLookup reads inside a create's transaction.
type orderLookup struct {
	tx     pgx.Tx
	tenant string
}

func (l orderLookup) MissingProducts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	rows, err := l.tx.Query(ctx, missingProductsSQL, l.tenant, ids)
	if err != nil {
		return nil, err
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]bool, len(missing))
	for _, id := range missing {
		out[id] = true
	}
	return out, nil
}

func (l orderLookup) Order(ctx context.Context, id uuid.UUID) (order.Order, error) {
	rows, err := l.tx.Query(ctx, orderByIDSQL, l.tenant, id)
	if err != nil {
		return order.Order{}, err
	}
	o, err := pgx.CollectExactlyOneRow(rows, scanOrder)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, order.ErrNotFound
	}
	return o, err
}

// The opportunity is read under the caller's record-level access: an order
// names only an opportunity its author may see.
const orderOpportunitySQL = `SELECT customer_id, source_partner_id FROM opportunities
WHERE tenant_id = $1 AND opportunity_id = $2 AND delete_time IS NULL`

// Opportunity implements order.Lookup.
func (l orderLookup) Opportunity(ctx context.Context, id uuid.UUID) (order.OpportunityRef, error) {
	var ref order.OpportunityRef
	err := l.tx.QueryRow(ctx, orderOpportunitySQL, l.tenant, id).Scan(&ref.CustomerID, &ref.SourcePartnerID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ref, order.ErrOpportunityNotFound
	}
	return ref, err
}

// insertOrder inserts o with its lines; inserted is false when an earlier
// order holds requestID.
func insertOrder(ctx context.Context, tx pgx.Tx, tenant, requestID string, o order.Order) (inserted bool, err error) {
	rows, err := tx.Query(ctx, insertOrderSQL, tenant, o.ID, o.Number, o.Kind, o.Status, o.CustomerID, o.CurrencyCode,
		o.AdjustmentMinor, o.TotalMinor, o.OrderTime, o.Country, o.OriginalOrderID, o.ExternalID, requestID,
		o.OpportunityID, o.SourcePartnerID, o.QuoteID)
	if err != nil {
		return false, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(ids) == 0 {
		return false, err
	}
	if len(o.Lines) == 0 {
		return true, nil
	}
	n := len(o.Lines)
	products, qty, unit, discount, total, text := make([]uuid.UUID, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]string, n)
	for i, l := range o.Lines {
		products[i], qty[i], unit[i], discount[i], total[i], text[i] = l.ProductID, l.Quantity, l.UnitPriceMinor, l.DiscountMinor, l.TotalMinor, l.Description
	}
	_, err = tx.Exec(ctx, insertOrderLinesSQL, tenant, o.ID, products, qty, unit, discount, total, text)
	return err == nil, err
}

func orderErr(err error) error {
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "orders_number" {
		return fmt.Errorf("%w: %w", order.ErrNumberTaken, err)
	}
	return err
}

// CreateOrder implements order.Store.
func (s *OrderStore) CreateOrder(ctx context.Context, caller auth.Caller, requestID string, o order.Order, check func(context.Context, order.Lookup, *order.Order) error) (order.Order, error) {
	var saved order.Order
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		o := o // a retried transaction checks afresh
		look := orderLookup{tx: tx, tenant: caller.TenantID}
		if err := check(ctx, look, &o); err != nil {
			return err
		}
		inserted, err := insertOrder(ctx, tx, caller.TenantID, requestID, o)
		if err != nil {
			return err
		}
		if !inserted {
			// A repeated request_id: the earlier order, whose event is recorded.
			rows, err := tx.Query(ctx, orderByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			saved, err = pgx.CollectExactlyOneRow(rows, scanOrder)
			return err
		}
		if saved, err = look.Order(ctx, o.ID); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: order.EventCreated, Resource: saved.Resource(), After: protoconv.Order(saved)})
	})
	if err != nil {
		return order.Order{}, fmt.Errorf("create order: %w", orderErr(err))
	}
	return saved, nil
}

// OrderByRequestID implements order.Store.
func (s *OrderStore) OrderByRequestID(ctx context.Context, caller auth.Caller, requestID string) (order.Order, error) {
	o, err := pgdb.Row(ctx, s.pool, caller.TenantID, orderByRequestSQL, []any{caller.TenantID, requestID}, scanOrder)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, order.ErrNotFound
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("find order by request id: %w", err)
	}
	return o, nil
}

// Order implements order.Store.
func (s *OrderStore) Order(ctx context.Context, caller auth.Caller, id uuid.UUID) (order.Order, error) {
	o, err := pgdb.Row(ctx, s.pool, caller.TenantID, orderByIDSQL, []any{caller.TenantID, id}, scanOrder)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, order.ErrNotFound
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

// orderFilterFields are the fields ListOrders filters on, each backed by an index.
var orderFilterFields = map[string]sqlfilter.Field{
	"customer_id":  {Column: "customer_id", Kind: sqlfilter.UUID},
	"kind":         {Column: "kind", Kind: sqlfilter.Enum, Enum: pipelinev1.OrderKind_value},
	"status":       {Column: "status", Kind: sqlfilter.Enum, Enum: pipelinev1.OrderStatus_value},
	"order_number": {Column: "order_number", Kind: sqlfilter.String},
	"order_time":   {Column: "order_time", Kind: sqlfilter.Timestamp},
	// orders_opportunity, orders_source_partner and orders_quote.
	"opportunity_id":    {Column: "opportunity_id", Kind: sqlfilter.UUID},
	"source_partner_id": {Column: "source_partner_id", Kind: sqlfilter.UUID},
	"quote_id":          {Column: "quote_id", Kind: sqlfilter.UUID},
}

var orders = listing[order.Order]{
	table: "orders", columns: orderColumns, idColumn: "order_id", fields: orderFilterFields,
	scan: scanOrder, id: func(o order.Order) uuid.UUID { return o.ID },
}

var orderTimeOrder = sortKey[order.Order]{expr: "order_time", sqlType: "timestamptz", desc: true,
	key: func(o order.Order) string { return o.OrderTime.Format(time.RFC3339Nano) }}

// ListOrders implements order.Store.
func (s *OrderStore) ListOrders(ctx context.Context, caller auth.Caller, q order.ListQuery) (order.Page, error) {
	rows, next, err := orders.page(ctx, s.pool, caller.TenantID, orderTimeOrder,
		listRequest{filter: q.Filter, pageToken: q.PageToken, pageSize: q.PageSize, query: "orders|" + q.Filter})
	if err != nil {
		return order.Page{}, err
	}
	return order.Page{Orders: rows, NextPageToken: next}, nil
}

const lockOrderSQL = `SELECT order_id FROM orders WHERE tenant_id = $1 AND order_id = $2 FOR UPDATE`

const saveOrderSQL = `
UPDATE orders SET status = $3, cancel_time = $4, cancel_reason = $5, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND order_id = $2`

// MutateOrder implements order.Store. Only the status and cancellation
// change: an order's lines and amounts are history.
func (s *OrderStore) MutateOrder(ctx context.Context, caller auth.Caller, id uuid.UUID, event string, m func(*order.Order) error) (order.Order, error) {
	var saved order.Order
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockOrderSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		if _, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[uuid.UUID]); errors.Is(err, pgx.ErrNoRows) {
			return order.ErrNotFound
		} else if err != nil {
			return err
		}
		look := orderLookup{tx: tx, tenant: caller.TenantID}
		before, err := look.Order(ctx, id)
		if err != nil {
			return err
		}
		o := before
		if err := m(&o); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, saveOrderSQL, caller.TenantID, id, o.Status, o.CancelTime, o.CancelReason); err != nil {
			return err
		}
		if saved, err = look.Order(ctx, id); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: event, Resource: saved.Resource(), Before: protoconv.Order(before), After: protoconv.Order(saved)})
	})
	if err != nil {
		return order.Order{}, fmt.Errorf("change order %s: %w", id, err)
	}
	return saved, nil
}

const upsertRatesSQL = `
INSERT INTO exchange_rates (tenant_id, base_currency, quote_currency, rate_date, rate)
SELECT $1, r.base, r.quote, r.day::date, r.rate::numeric
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS r (base, quote, day, rate)
ON CONFLICT (tenant_id, base_currency, quote_currency, rate_date) DO UPDATE SET rate = excluded.rate, update_time = now()`

// LoadRates implements order.Store.
func (s *OrderStore) LoadRates(ctx context.Context, caller auth.Caller, rates []order.Rate) error {
	n := len(rates)
	base, quote, day, rate := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rates {
		base[i], quote[i], day[i], rate[i] = r.Base, r.Quote, r.Date, r.Rate
	}
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, upsertRatesSQL, caller.TenantID, base, quote, day, rate); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: order.EventRatesLoaded, Resource: "exchangeRates", After: protoconv.ExchangeRates(rates)})
	})
	if err != nil {
		return fmt.Errorf("load exchange rates: %w", err)
	}
	return nil
}

// rateCursor is the keyset position after a page of rates; its JSON names
// are in the tokens handed out.
type rateCursor struct {
	Base  string `json:"b"`
	Quote string `json:"q"`
	Date  string `json:"d"`
}

const listRatesSQL = `
SELECT base_currency, quote_currency, rate_date::text, rate::text FROM exchange_rates
WHERE tenant_id = $1 AND (base_currency, quote_currency, rate_date) > ($2, $3, $4::date)
ORDER BY base_currency, quote_currency, rate_date LIMIT $5`

// ListRates implements order.Store, in primary-key order.
func (s *OrderStore) ListRates(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (order.RatePage, error) {
	cur := rateCursor{Date: "0001-01-01"}
	if pageToken != "" {
		if err := pagetoken.Decode(pageToken, "exchangeRates", &cur); err != nil {
			return order.RatePage{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	rates, err := pgdb.Rows(ctx, s.pool, caller.TenantID, listRatesSQL, []any{caller.TenantID, cur.Base, cur.Quote, cur.Date, pageSize + 1},
		func(row pgx.CollectableRow) (order.Rate, error) {
			var r order.Rate
			err := row.Scan(&r.Base, &r.Quote, &r.Date, &r.Rate)
			return r, err
		})
	if err != nil {
		return order.RatePage{}, fmt.Errorf("list exchange rates: %w", err)
	}
	if len(rates) <= pageSize {
		return order.RatePage{Rates: rates}, nil
	}
	rates = rates[:pageSize]
	last := rates[pageSize-1]
	next, err := pagetoken.Encode("exchangeRates", rateCursor{Base: last.Base, Quote: last.Quote, Date: last.Date})
	if err != nil {
		return order.RatePage{}, err
	}
	return order.RatePage{Rates: rates, NextPageToken: next}, nil
}

const settingsSQL = `SELECT reporting_currency, update_time, revision FROM reporting_settings WHERE tenant_id = $1`

func scanSettings(row pgx.CollectableRow) (order.Settings, error) {
	var st order.Settings
	err := row.Scan(&st.ReportingCurrency, &st.UpdateTime, &st.Revision)
	return st, err
}

// Settings implements order.Store.
func (s *OrderStore) Settings(ctx context.Context, caller auth.Caller) (order.Settings, error) {
	st, err := pgdb.Row(ctx, s.pool, caller.TenantID, settingsSQL, []any{caller.TenantID}, scanSettings)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Settings{}, nil
	}
	if err != nil {
		return order.Settings{}, fmt.Errorf("get reporting settings: %w", err)
	}
	return st, nil
}

// The first save inserts (revision 0 expected); later ones update the
// revision read. Either way a concurrent save makes this one affect no row.
const saveSettingsSQL = `
INSERT INTO reporting_settings AS s (tenant_id, reporting_currency) VALUES ($1, $2)
ON CONFLICT (tenant_id) DO UPDATE SET reporting_currency = excluded.reporting_currency,
    revision = s.revision + 1, update_time = now()
WHERE s.revision = $3
RETURNING reporting_currency, update_time, revision`

// SaveSettings implements order.Store.
func (s *OrderStore) SaveSettings(ctx context.Context, caller auth.Caller, st order.Settings, revision int64) (order.Settings, error) {
	var saved order.Settings
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, settingsSQL+` FOR UPDATE`, caller.TenantID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectRows(rows, scanSettings)
		if err != nil {
			return err
		}
		if (len(before) == 0 && revision != 0) || (len(before) == 1 && before[0].Revision != revision) {
			return fmt.Errorf("%w: the settings changed meanwhile", order.ErrEtagMismatch)
		}
		rows, err = tx.Query(ctx, saveSettingsSQL, caller.TenantID, st.ReportingCurrency, revision)
		if err != nil {
			return err
		}
		saved, err = pgx.CollectExactlyOneRow(rows, scanSettings)
		if errors.Is(err, pgx.ErrNoRows) {
			// A concurrent first save inserted the row meanwhile.
			return fmt.Errorf("%w: the settings changed meanwhile", order.ErrEtagMismatch)
		}
		if err != nil {
			return err
		}
		change := outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: order.EventSettingsUpdated,
			Resource: "reportingSettings", After: protoconv.ReportingSettings(saved)}
		if len(before) == 1 {
			change.Before = protoconv.ReportingSettings(before[0])
		}
		return outbox.Record(ctx, tx, change)
	})
	if err != nil {
		return order.Settings{}, fmt.Errorf("save reporting settings: %w", err)
	}
	return saved, nil
}

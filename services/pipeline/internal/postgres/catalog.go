package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

const productColumns = `product_id, sku, display_name, active, create_time, update_time, revision`

func scanProduct(row pgx.CollectableRow) (pipeline.Product, error) {
	var p pipeline.Product
	err := row.Scan(&p.ID, &p.SKU, &p.DisplayName, &p.Active, &p.CreateTime, &p.UpdateTime, &p.Revision)
	return p, err
}

const insertProductSQL = `
INSERT INTO products (tenant_id, product_id, sku, display_name, active, request_id)
VALUES ($1, $2, $3, $4, $5, nullif($6, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + productColumns

const productByRequestSQL = `SELECT ` + productColumns + ` FROM products WHERE tenant_id = $1 AND request_id = $2`

const productByIDSQL = `SELECT ` + productColumns + ` FROM products WHERE tenant_id = $1 AND product_id = $2`

// skuErr maps a taken SKU to its domain error.
func skuErr(err error) error {
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "products_sku" {
		return fmt.Errorf("%w: %w", pipeline.ErrSKUTaken, err)
	}
	return err
}

// CreateProduct implements pipeline.Store.
func (s *Store) CreateProduct(ctx context.Context, caller auth.Caller, p pipeline.Product, requestID string) (pipeline.Product, error) {
	var saved pipeline.Product
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx,
			insertProductSQL, []any{caller.TenantID, p.ID, p.SKU, p.DisplayName, p.Active, requestID},
			productByRequestSQL, []any{caller.TenantID, requestID}, scanProduct)
		if err != nil || !inserted {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: pipeline.EventProductCreated, Resource: saved.Resource(), After: protoconv.Product(saved)})
	})
	if err != nil {
		return pipeline.Product{}, fmt.Errorf("create product: %w", skuErr(err))
	}
	return saved, nil
}

// GetProduct implements pipeline.Store.
func (s *Store) GetProduct(ctx context.Context, caller auth.Caller, id uuid.UUID) (pipeline.Product, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, productByIDSQL, []any{caller.TenantID, id}, scanProduct)
	if errors.Is(err, pgx.ErrNoRows) {
		return pipeline.Product{}, pipeline.ErrProductNotFound
	}
	if err != nil {
		return pipeline.Product{}, fmt.Errorf("get product %s: %w", id, err)
	}
	return p, nil
}

var products = listing[pipeline.Product]{
	table: "products", columns: productColumns, idColumn: "product_id", scan: scanProduct,
	fields: map[string]sqlfilter.Field{
		"sku":    {Column: "sku", Kind: sqlfilter.String},
		"active": {Column: "active", Kind: sqlfilter.Bool},
	},
	id: func(p pipeline.Product) uuid.UUID { return p.ID },
}

var productOrder = sortKey[pipeline.Product]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(p pipeline.Product) string { return p.CreateTime.Format(time.RFC3339Nano) }}

// ListProducts implements pipeline.Store.
func (s *Store) ListProducts(ctx context.Context, caller auth.Caller, pageSize int, pageToken, filter string) (pipeline.ProductPage, error) {
	rows, next, err := products.page(ctx, s.pool, caller.TenantID, productOrder,
		listRequest{filter: filter, pageToken: pageToken, pageSize: pageSize, query: "products|" + filter})
	if err != nil {
		return pipeline.ProductPage{}, err
	}
	return pipeline.ProductPage{Products: rows, NextPageToken: next}, nil
}

const lockProductSQL = `SELECT ` + productColumns + ` FROM products WHERE tenant_id = $1 AND product_id = $2 FOR UPDATE`

const saveProductSQL = `
UPDATE products SET sku = $3, display_name = $4, active = $5, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND product_id = $2
RETURNING ` + productColumns

// MutateProduct implements pipeline.Store.
func (s *Store) MutateProduct(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(p *pipeline.Product) error) (pipeline.Product, error) {
	var saved pipeline.Product
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockProductSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanProduct)
		if errors.Is(err, pgx.ErrNoRows) {
			return pipeline.ErrProductNotFound
		}
		if err != nil {
			return err
		}
		p := before
		if err := m(&p); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, saveProductSQL, caller.TenantID, id, p.SKU, p.DisplayName, p.Active)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanProduct); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: pipeline.EventProductUpdated, Resource: saved.Resource(), Before: protoconv.Product(before), After: protoconv.Product(saved)})
	})
	if err != nil {
		return pipeline.Product{}, fmt.Errorf("change product %s: %w", id, skuErr(err))
	}
	return saved, nil
}

const priceListColumns = `price_list_id, display_name, currency_code, create_time, update_time, revision`

// The prices come along as one JSON array, product by product, by date.
const priceListWithPricesColumns = priceListColumns + `,
coalesce((SELECT jsonb_agg(jsonb_build_object('product', p.product_id, 'from', p.valid_from, 'unit', p.unit_price_minor)
    ORDER BY p.product_id, p.valid_from)
  FROM prices p WHERE p.tenant_id = price_lists.tenant_id AND p.price_list_id = price_lists.price_list_id), '[]')`

func scanPriceList(row pgx.CollectableRow) (pipeline.PriceList, error) {
	var l pipeline.PriceList
	err := row.Scan(&l.ID, &l.DisplayName, &l.CurrencyCode, &l.CreateTime, &l.UpdateTime, &l.Revision)
	return l, err
}

type priceJSON struct {
	Product uuid.UUID `json:"product"`
	From    string    `json:"from"`
	Unit    int64     `json:"unit"`
}

func scanPriceListWithPrices(row pgx.CollectableRow) (pipeline.PriceList, error) {
	var l pipeline.PriceList
	var prices []byte
	if err := row.Scan(&l.ID, &l.DisplayName, &l.CurrencyCode, &l.CreateTime, &l.UpdateTime, &l.Revision, &prices); err != nil {
		return l, err
	}
	var ps []priceJSON
	if err := json.Unmarshal(prices, &ps); err != nil {
		return l, fmt.Errorf("read prices: %w", err)
	}
	for _, p := range ps {
		l.Prices = append(l.Prices, pipeline.Price{ProductID: p.Product, ValidFrom: p.From, UnitPriceMinor: p.Unit})
	}
	return l, nil
}

const insertPriceListSQL = `
INSERT INTO price_lists (tenant_id, price_list_id, display_name, currency_code, request_id)
VALUES ($1, $2, $3, $4, nullif($5, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + priceListWithPricesColumns

const priceListByRequestSQL = `SELECT ` + priceListWithPricesColumns + ` FROM price_lists WHERE tenant_id = $1 AND request_id = $2`

const priceListByIDSQL = `SELECT ` + priceListWithPricesColumns + ` FROM price_lists WHERE tenant_id = $1 AND price_list_id = $2`

const deletePricesSQL = `DELETE FROM prices WHERE tenant_id = $1 AND price_list_id = $2`

const insertPricesSQL = `
INSERT INTO prices (tenant_id, price_list_id, product_id, valid_from, unit_price_minor)
SELECT $1, $2, p.product, p.valid_from::date, p.unit
FROM unnest($3::uuid[], $4::text[], $5::bigint[]) AS p (product, valid_from, unit)`

// savePrices replaces the list's prices with l's.
func savePrices(ctx context.Context, tx pgx.Tx, tenant string, l pipeline.PriceList) error {
	if _, err := tx.Exec(ctx, deletePricesSQL, tenant, l.ID); err != nil {
		return err
	}
	n := len(l.Prices)
	products, dates, units := make([]uuid.UUID, n), make([]string, n), make([]int64, n)
	for i, p := range l.Prices {
		products[i], dates[i], units[i] = p.ProductID, p.ValidFrom, p.UnitPriceMinor
	}
	_, err := tx.Exec(ctx, insertPricesSQL, tenant, l.ID, products, dates, units)
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23503" && constraint == "prices_tenant_id_product_id_fkey" {
		return fmt.Errorf("%w: %w", pipeline.ErrPriceProduct, err)
	}
	return err
}

// CreatePriceList implements pipeline.Store.
func (s *Store) CreatePriceList(ctx context.Context, caller auth.Caller, l pipeline.PriceList, requestID string) (pipeline.PriceList, error) {
	var saved pipeline.PriceList
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx,
			insertPriceListSQL, []any{caller.TenantID, l.ID, l.DisplayName, l.CurrencyCode, requestID},
			priceListByRequestSQL, []any{caller.TenantID, requestID}, scanPriceListWithPrices)
		if err != nil || !inserted {
			return err
		}
		if err := savePrices(ctx, tx, caller.TenantID, l); err != nil {
			return err
		}
		saved.Prices = l.Prices
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: pipeline.EventPriceListCreated, Resource: saved.Resource(), After: protoconv.PriceList(saved)})
	})
	if err != nil {
		return pipeline.PriceList{}, fmt.Errorf("create price list: %w", err)
	}
	return saved, nil
}

// GetPriceList implements pipeline.Store.
func (s *Store) GetPriceList(ctx context.Context, caller auth.Caller, id uuid.UUID) (pipeline.PriceList, error) {
	l, err := pgdb.Row(ctx, s.pool, caller.TenantID, priceListByIDSQL, []any{caller.TenantID, id}, scanPriceListWithPrices)
	if errors.Is(err, pgx.ErrNoRows) {
		return pipeline.PriceList{}, pipeline.ErrPriceListNotFound
	}
	if err != nil {
		return pipeline.PriceList{}, fmt.Errorf("get price list %s: %w", id, err)
	}
	return l, nil
}

var priceLists = listing[pipeline.PriceList]{
	table: "price_lists", columns: priceListColumns, idColumn: "price_list_id", scan: scanPriceList,
	fields: map[string]sqlfilter.Field{"currency_code": {Column: "currency_code", Kind: sqlfilter.String}},
	id:     func(l pipeline.PriceList) uuid.UUID { return l.ID },
}

var priceListOrder = sortKey[pipeline.PriceList]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(l pipeline.PriceList) string { return l.CreateTime.Format(time.RFC3339Nano) }}

// ListPriceLists implements pipeline.Store.
func (s *Store) ListPriceLists(ctx context.Context, caller auth.Caller, pageSize int, pageToken, filter string) (pipeline.PriceListPage, error) {
	rows, next, err := priceLists.page(ctx, s.pool, caller.TenantID, priceListOrder,
		listRequest{filter: filter, pageToken: pageToken, pageSize: pageSize, query: "priceLists|" + filter})
	if err != nil {
		return pipeline.PriceListPage{}, err
	}
	return pipeline.PriceListPage{PriceLists: rows, NextPageToken: next}, nil
}

const lockPriceListSQL = `SELECT ` + priceListWithPricesColumns + ` FROM price_lists WHERE tenant_id = $1 AND price_list_id = $2 FOR UPDATE`

const savePriceListSQL = `
UPDATE price_lists SET display_name = $3, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND price_list_id = $2
RETURNING ` + priceListWithPricesColumns

// MutatePriceList implements pipeline.Store.
func (s *Store) MutatePriceList(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(l *pipeline.PriceList) (bool, error)) (pipeline.PriceList, error) {
	var saved pipeline.PriceList
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockPriceListSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanPriceListWithPrices)
		if errors.Is(err, pgx.ErrNoRows) {
			return pipeline.ErrPriceListNotFound
		}
		if err != nil {
			return err
		}
		l := before
		l.Prices = append([]pipeline.Price(nil), before.Prices...)
		changed, err := m(&l)
		if err != nil {
			return err
		}
		if changed {
			if err := savePrices(ctx, tx, caller.TenantID, l); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, savePriceListSQL, caller.TenantID, id, l.DisplayName)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanPriceListWithPrices); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: pipeline.EventPriceListUpdated, Resource: saved.Resource(), Before: protoconv.PriceList(before), After: protoconv.PriceList(saved)})
	})
	if err != nil {
		return pipeline.PriceList{}, fmt.Errorf("change price list %s: %w", id, err)
	}
	return saved, nil
}

// Product implements pipeline.Catalog.
func (c catalog) Product(ctx context.Context, id uuid.UUID) (pipeline.Product, error) {
	rows, err := c.tx.Query(ctx, productByIDSQL, c.caller.TenantID, id)
	if err != nil {
		return pipeline.Product{}, err
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanProduct)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, pipeline.ErrProductNotFound
	}
	return p, err
}

const priceListHeadSQL = `SELECT ` + priceListColumns + ` FROM price_lists WHERE tenant_id = $1 AND price_list_id = $2`

// PriceList implements pipeline.Catalog.
func (c catalog) PriceList(ctx context.Context, id uuid.UUID) (pipeline.PriceList, error) {
	rows, err := c.tx.Query(ctx, priceListHeadSQL, c.caller.TenantID, id)
	if err != nil {
		return pipeline.PriceList{}, err
	}
	l, err := pgx.CollectExactlyOneRow(rows, scanPriceList)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, pipeline.ErrPriceListNotFound
	}
	return l, err
}

const priceOnSQL = `
SELECT unit_price_minor FROM prices
WHERE tenant_id = $1 AND price_list_id = $2 AND product_id = $3 AND valid_from <= $4::text::date
ORDER BY valid_from DESC LIMIT 1`

// Price implements pipeline.Catalog.
func (c catalog) Price(ctx context.Context, list, product uuid.UUID, date string) (int64, bool, error) {
	var unit int64
	err := c.tx.QueryRow(ctx, priceOnSQL, c.caller.TenantID, list, product, date).Scan(&unit)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return unit, err == nil, err
}

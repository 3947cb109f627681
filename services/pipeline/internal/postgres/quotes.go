package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
	"github.com/rapportcrm/rapport/services/pipeline/internal/quote"
)

// QuoteStore implements quote.Store.
type QuoteStore struct{ pool *pgxpool.Pool }

// NewQuoteStore returns a QuoteStore on pool.
func NewQuoteStore(pool *pgxpool.Pool) *QuoteStore { return &QuoteStore{pool: pool} }

// A quote is read with its lines as one JSON array.
const quoteColumns = `quote_id, root_quote_id, version, customer_id, opportunity_id, price_list_id, currency_code, total_minor,
valid_until::text, status, notes, send_time, decision_time, reject_reason, order_id, create_time, update_time, delete_time, revision,
coalesce((SELECT jsonb_agg(jsonb_build_object('product', l.product_id, 'qty', l.quantity, 'unit', l.unit_price_minor,
    'override', l.price_overridden, 'bps', l.discount_bps, 'total', l.total_minor, 'text', l.description) ORDER BY l.position)
  FROM quote_lines l WHERE l.tenant_id = quotes.tenant_id AND l.quote_id = quotes.quote_id), '[]')`

type quoteLineJSON struct {
	Product  uuid.UUID `json:"product"`
	Qty      int64     `json:"qty"`
	Unit     int64     `json:"unit"`
	Override bool      `json:"override"`
	Bps      int32     `json:"bps"`
	Total    int64     `json:"total"`
	Text     string    `json:"text"`
}

func scanQuote(row pgx.CollectableRow) (quote.Quote, error) {
	var q quote.Quote
	var lines []byte
	err := row.Scan(&q.ID, &q.RootID, &q.Version, &q.CustomerID, &q.OpportunityID, &q.PriceListID, &q.CurrencyCode, &q.TotalMinor,
		&q.ValidUntil, &q.Status, &q.Notes, &q.SendTime, &q.DecisionTime, &q.RejectReason, &q.OrderID, &q.CreateTime, &q.UpdateTime,
		&q.DeleteTime, &q.Revision, &lines)
	if err != nil {
		return q, err
	}
	var ls []quoteLineJSON
	if err := json.Unmarshal(lines, &ls); err != nil {
		return q, fmt.Errorf("read quote lines: %w", err)
	}
	for _, l := range ls {
		q.Lines = append(q.Lines, quote.Line{ProductID: l.Product, Quantity: l.Qty, UnitPriceMinor: l.Unit,
			PriceOverridden: l.Override, DiscountBps: l.Bps, TotalMinor: l.Total, Description: l.Text})
	}
	return q, nil
}

// Dates travel as ISO text, which PostgreSQL reads the same under any DateStyle.
const insertQuoteSQL = `
INSERT INTO quotes (tenant_id, quote_id, root_quote_id, version, customer_id, opportunity_id, price_list_id, currency_code,
    total_minor, valid_until, status, notes, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::date, $11, $12, nullif($13, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING quote_id`

const insertQuoteLinesSQL = `
INSERT INTO quote_lines (tenant_id, quote_id, position, product_id, quantity, unit_price_minor, price_overridden,
    discount_bps, total_minor, description)
SELECT $1, $2, l.pos - 1, l.product, l.qty, l.unit, l.override, l.bps, l.total, l.text
FROM unnest($3::uuid[], $4::bigint[], $5::bigint[], $6::boolean[], $7::integer[], $8::bigint[], $9::text[])
    WITH ORDINALITY AS l (product, qty, unit, override, bps, total, text, pos)`

const deleteQuoteLinesSQL = `DELETE FROM quote_lines WHERE tenant_id = $1 AND quote_id = $2`

const quoteByIDSQL = `SELECT ` + quoteColumns + ` FROM quotes WHERE tenant_id = $1 AND quote_id = $2`

const quoteByRequestSQL = `SELECT ` + quoteColumns + ` FROM quotes WHERE tenant_id = $1 AND request_id = $2`

func insertQuoteLines(ctx context.Context, tx pgx.Tx, tenant string, q quote.Quote) error {
	n := len(q.Lines)
	products, qty, unit, total := make([]uuid.UUID, n), make([]int64, n), make([]int64, n), make([]int64, n)
	override, bps, text := make([]bool, n), make([]int32, n), make([]string, n)
	for i, l := range q.Lines {
		products[i], qty[i], unit[i], override[i], bps[i], total[i], text[i] = l.ProductID, l.Quantity, l.UnitPriceMinor, l.PriceOverridden, l.DiscountBps, l.TotalMinor, l.Description
	}
	_, err := tx.Exec(ctx, insertQuoteLinesSQL, tenant, q.ID, products, qty, unit, override, bps, total, text)
	return err
}

// insertQuote inserts q with its lines; inserted is false when an earlier
// quote holds requestID.
func insertQuote(ctx context.Context, tx pgx.Tx, tenant, requestID string, q quote.Quote) (inserted bool, err error) {
	rows, err := tx.Query(ctx, insertQuoteSQL, tenant, q.ID, q.RootID, q.Version, q.CustomerID, q.OpportunityID, q.PriceListID,
		q.CurrencyCode, q.TotalMinor, q.ValidUntil, q.Status, q.Notes, requestID)
	if err != nil {
		return false, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(ids) == 0 {
		return false, err
	}
	return true, insertQuoteLines(ctx, tx, tenant, q)
}

// quoteLookup reads inside a change's transaction, under the caller's
// record-level access.
type quoteLookup struct {
	tx     pgx.Tx
	tenant string
}

const quotePriceListSQL = `SELECT currency_code FROM price_lists WHERE tenant_id = $1 AND price_list_id = $2`

// PriceList implements quote.Lookup.
func (l quoteLookup) PriceList(ctx context.Context, id uuid.UUID) (string, bool, error) {
	var currency string
	err := l.tx.QueryRow(ctx, quotePriceListSQL, l.tenant, id).Scan(&currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return currency, err == nil, err
}

const quoteProductSQL = `SELECT active FROM products WHERE tenant_id = $1 AND product_id = $2`

// Product implements quote.Lookup.
func (l quoteLookup) Product(ctx context.Context, id uuid.UUID) (bool, bool, error) {
	var active bool
	err := l.tx.QueryRow(ctx, quoteProductSQL, l.tenant, id).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	return err == nil, active, err
}

// Price implements quote.Lookup.
func (l quoteLookup) Price(ctx context.Context, list, product uuid.UUID, date string) (int64, bool, error) {
	var unit int64
	err := l.tx.QueryRow(ctx, priceOnSQL, l.tenant, list, product, date).Scan(&unit)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return unit, err == nil, err
}

// Opportunity implements quote.Lookup.
func (l quoteLookup) Opportunity(ctx context.Context, id uuid.UUID) (order.OpportunityRef, error) {
	return orderLookup(l).Opportunity(ctx, id)
}

func (l quoteLookup) quote(ctx context.Context, sql string, args ...any) (quote.Quote, error) {
	rows, err := l.tx.Query(ctx, sql, args...)
	if err != nil {
		return quote.Quote{}, err
	}
	q, err := pgx.CollectExactlyOneRow(rows, scanQuote)
	if errors.Is(err, pgx.ErrNoRows) {
		return q, quote.ErrNotFound
	}
	return q, err
}

// Create implements quote.Store.
func (s *QuoteStore) Create(ctx context.Context, caller auth.Caller, requestID string, in quote.Quote, prepare func(context.Context, quote.Lookup, *quote.Quote) error) (quote.Quote, error) {
	var saved quote.Quote
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		q := in // a retried transaction prepares afresh
		q.Lines = append([]quote.Line(nil), in.Lines...)
		look := quoteLookup{tx: tx, tenant: caller.TenantID}
		if err := prepare(ctx, look, &q); err != nil {
			return err
		}
		inserted, err := insertQuote(ctx, tx, caller.TenantID, requestID, q)
		if err != nil {
			return err
		}
		if !inserted {
			// A repeated request_id: the earlier quote, whose event is recorded.
			saved, err = look.quote(ctx, quoteByRequestSQL, caller.TenantID, requestID)
			return err
		}
		if saved, err = look.quote(ctx, quoteByIDSQL, caller.TenantID, q.ID); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: quote.EventCreated, Resource: saved.Resource(), After: protoconv.Quote(saved)})
	})
	if err != nil {
		return quote.Quote{}, fmt.Errorf("create quote: %w", err)
	}
	return saved, nil
}

// ByRequestID implements quote.Store.
func (s *QuoteStore) ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (quote.Quote, error) {
	q, err := pgdb.Row(ctx, s.pool, caller.TenantID, quoteByRequestSQL, []any{caller.TenantID, requestID}, scanQuote)
	if errors.Is(err, pgx.ErrNoRows) {
		return quote.Quote{}, quote.ErrNotFound
	}
	if err != nil {
		return quote.Quote{}, fmt.Errorf("find quote by request id: %w", err)
	}
	return q, nil
}

// Get implements quote.Store.
func (s *QuoteStore) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (quote.Quote, error) {
	q, err := pgdb.Row(ctx, s.pool, caller.TenantID, quoteByIDSQL, []any{caller.TenantID, id}, scanQuote)
	if errors.Is(err, pgx.ErrNoRows) {
		return quote.Quote{}, quote.ErrNotFound
	}
	if err != nil {
		return quote.Quote{}, fmt.Errorf("get quote %s: %w", id, err)
	}
	return q, nil
}

// quoteFilterFields are the fields ListQuotes filters on, each backed by an index.
var quoteFilterFields = map[string]sqlfilter.Field{
	"customer_id":    {Column: "customer_id", Kind: sqlfilter.UUID},
	"opportunity_id": {Column: "opportunity_id", Kind: sqlfilter.UUID},
	"root_quote_id":  {Column: "root_quote_id", Kind: sqlfilter.UUID},
	"status":         {Column: "status", Kind: sqlfilter.Enum, Enum: pipelinev1.QuoteStatus_value},
}

var quotes = listing[quote.Quote]{
	table: "quotes", columns: quoteColumns, idColumn: "quote_id", fields: quoteFilterFields,
	scan: scanQuote, id: func(q quote.Quote) uuid.UUID { return q.ID },
}

var quoteCreateOrder = sortKey[quote.Quote]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(q quote.Quote) string { return q.CreateTime.Format(time.RFC3339Nano) }}

// List implements quote.Store.
func (s *QuoteStore) List(ctx context.Context, caller auth.Caller, q quote.ListQuery) (quote.Page, error) {
	r := listRequest{filter: q.Filter, pageToken: q.PageToken, pageSize: q.PageSize,
		query: fmt.Sprintf("quotes|%s|%t", q.Filter, q.ShowDeleted)}
	if !q.ShowDeleted {
		r.where = []string{"delete_time IS NULL"}
	}
	rows, next, err := quotes.page(ctx, s.pool, caller.TenantID, quoteCreateOrder, r)
	if err != nil {
		return quote.Page{}, err
	}
	return quote.Page{Quotes: rows, NextPageToken: next}, nil
}

// lockVersionsSQL locks every version of the quote id names, so versions
// are numbered, sent, accepted and revised one at a time.
const lockVersionsSQL = `
SELECT quote_id FROM quotes
WHERE tenant_id = $1 AND root_quote_id = (SELECT root_quote_id FROM quotes WHERE tenant_id = $1 AND quote_id = $2)
ORDER BY version FOR UPDATE`

// versionsSQL reads the versions once they are locked: a statement of its
// own, so that its snapshot holds a version the change it waited for added.
const versionsSQL = `
SELECT quote_id, version, delete_time IS NULL FROM quotes
WHERE tenant_id = $1 AND root_quote_id = (SELECT root_quote_id FROM quotes WHERE tenant_id = $1 AND quote_id = $2)
ORDER BY version`

const saveQuoteSQL = `
UPDATE quotes SET currency_code = $3, total_minor = $4, valid_until = $5::text::date, status = $6, notes = $7,
    send_time = $8, decision_time = $9, reject_reason = $10, order_id = $11, delete_time = $12,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND quote_id = $2`

// Mutate implements quote.Store.
func (s *QuoteStore) Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, requestID string, m quote.Mutation) (quote.Quote, *order.Order, error) {
	var saved quote.Quote
	var made *order.Order
	var then error
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		saved, made, then = quote.Quote{}, nil, nil
		look := quoteLookup{tx: tx, tenant: caller.TenantID}
		if _, err := tx.Exec(ctx, lockVersionsSQL, caller.TenantID, id); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, versionsSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		type version struct {
			id   uuid.UUID
			n    int32
			live bool
		}
		versions, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (version, error) {
			var v version
			return v, row.Scan(&v.id, &v.n, &v.live)
		})
		if err != nil {
			return err
		}
		if len(versions) == 0 {
			return quote.ErrNotFound
		}
		if requestID != "" {
			// A concurrent repeat waited on the lock: it returns the first result.
			earlier, err := look.quote(ctx, quoteByRequestSQL, caller.TenantID, requestID)
			if err == nil {
				saved = earlier
				return nil
			}
			if !errors.Is(err, quote.ErrNotFound) {
				return err
			}
		}
		var latest uuid.UUID
		for _, v := range versions {
			if v.live {
				latest = v.id
			}
		}
		before, err := look.quote(ctx, quoteByIDSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		q := before
		q.Lines = append([]quote.Line(nil), before.Lines...)
		eff, err := m(ctx, look, &q, latest == id)
		if err != nil {
			return err
		}
		then = eff.Then
		switch {
		case eff.Event == "":
			saved = before
		case eff.NewVersion != nil:
			saved, err = s.insertVersion(ctx, tx, caller, requestID, *eff.NewVersion, versions[len(versions)-1].n+1, before)
			if err != nil {
				return err
			}
		default:
			if eff.Order != nil {
				if made, err = s.insertOrder(ctx, tx, caller, *eff.Order); err != nil {
					return err
				}
			}
			if saved, err = s.save(ctx, tx, caller, q, before, eff); err != nil {
				return err
			}
		}
		if made == nil && saved.OrderID != nil {
			o, err := orderLookup(look).Order(ctx, *saved.OrderID)
			if err != nil {
				return err
			}
			made = &o
		}
		return nil
	})
	if err != nil {
		return quote.Quote{}, nil, fmt.Errorf("change quote %s: %w", id, err)
	}
	return saved, made, then
}

func (s *QuoteStore) insertVersion(ctx context.Context, tx pgx.Tx, caller auth.Caller, requestID string, nv quote.Quote, n int32, from quote.Quote) (quote.Quote, error) {
	nv.Version = n
	if _, err := insertQuote(ctx, tx, caller.TenantID, requestID, nv); err != nil {
		return quote.Quote{}, err
	}
	saved, err := quoteLookup{tx: tx, tenant: caller.TenantID}.quote(ctx, quoteByIDSQL, caller.TenantID, nv.ID)
	if err != nil {
		return quote.Quote{}, err
	}
	return saved, outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
		Type: quote.EventRevised, Resource: saved.Resource(), Before: protoconv.Quote(from), After: protoconv.Quote(saved)})
}

func (s *QuoteStore) insertOrder(ctx context.Context, tx pgx.Tx, caller auth.Caller, o order.Order) (*order.Order, error) {
	if _, err := insertOrder(ctx, tx, caller.TenantID, "", o); err != nil {
		return nil, err
	}
	saved, err := orderLookup{tx: tx, tenant: caller.TenantID}.Order(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	return &saved, outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
		Type: order.EventCreated, Resource: saved.Resource(), After: protoconv.Order(saved)})
}

func (s *QuoteStore) save(ctx context.Context, tx pgx.Tx, caller auth.Caller, q, before quote.Quote, eff quote.Effect) (quote.Quote, error) {
	if _, err := tx.Exec(ctx, saveQuoteSQL, caller.TenantID, q.ID, q.CurrencyCode, q.TotalMinor, q.ValidUntil, q.Status, q.Notes,
		q.SendTime, q.DecisionTime, q.RejectReason, q.OrderID, q.DeleteTime); err != nil {
		return quote.Quote{}, err
	}
	if eff.LinesChanged {
		if _, err := tx.Exec(ctx, deleteQuoteLinesSQL, caller.TenantID, q.ID); err != nil {
			return quote.Quote{}, err
		}
		if err := insertQuoteLines(ctx, tx, caller.TenantID, q); err != nil {
			return quote.Quote{}, err
		}
	}
	saved, err := quoteLookup{tx: tx, tenant: caller.TenantID}.quote(ctx, quoteByIDSQL, caller.TenantID, q.ID)
	if err != nil {
		return quote.Quote{}, err
	}
	return saved, outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
		Type: eff.Event, Resource: saved.Resource(), Before: protoconv.Quote(before), After: protoconv.Quote(saved)})
}
